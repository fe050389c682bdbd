/**
 * AWS SDK set-up for tests against the emulators: static dummy credentials, an explicit endpoint
 * for every client, and an environment that makes a stray default (the real IMDS at
 * 169.254.169.254, a profile in ~/.aws, a real endpoint) fail fast instead of reaching out.
 */
import { EC2Client } from '@aws-sdk/client-ec2'
import { type ImdsEmulator, type ImdsInstance, startImds } from '../../emulators/imds.js'
import { ManualClock } from '../../lib/clock.js'

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true'
process.env.AWS_EC2_METADATA_DISABLED = 'true'
process.env.AWS_EC2_METADATA_SERVICE_ENDPOINT = 'http://127.0.0.1:9'
process.env.AWS_CONFIG_FILE = '/dev/null'
process.env.AWS_SHARED_CREDENTIALS_FILE = '/dev/null'
delete process.env.AWS_PROFILE

export const dummyCredentials = {
  accessKeyId: 'AKIAEMULATORTESTKEY',
  secretAccessKey: 'emulator-test-secret',
}

/** A real EC2 client pointed at an emulator, without retries unless asked. */
export function ec2Client(endpoint: string, region = 'us-east-1', maxAttempts = 1): EC2Client {
  return new EC2Client({ region, endpoint, credentials: dummyCredentials, maxAttempts })
}

/** An IMDS emulator for `instance` on a manual clock (by default), closed after the test. */
export async function testImds(
  t: { teardown: (fn: () => unknown) => void },
  instance: ImdsInstance,
  clock = new ManualClock(),
): Promise<ImdsEmulator> {
  const server = await startImds(instance, { clock })
  t.teardown(() => server.close())
  return server
}
