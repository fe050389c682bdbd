/**
 * The appliance's cloud: the EC2 emulator whose RunInstances starts real engines (each with its
 * own IMDS, pointed at its region's CouchDB), and the controller's own cloud provider to launch
 * through it. Engine output goes to one log file per instance.
 */
import { createWriteStream, type WriteStream } from 'node:fs'
import { join } from 'node:path'
import { AwsCloudProvider } from '../controller/cloud/aws.js'
import { type CloudInstance, launchClientToken } from '../controller/cloud/provider.js'
import { type Ec2Emulator, startEc2 } from '../emulators/ec2.js'
import { type EngineLauncher, engineLauncher } from '../emulators/engine-launcher.js'
import { connectCouch, getDoc } from '../lib/couch/client.js'
import type { EngineDoc } from '../lib/documents.js'
import { StampedeError } from '../lib/errors.js'

export const FLEET = 'appliance'
/** Any `/aws/service/` name resolves to a stable fake AMI in the emulator; the name is what a real fleet would use. */
const IMAGE = 'resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64'
const USER_DATA = '#cloud-config\n# The local appliance: the EC2 emulator starts the engine itself.\n'
/** Dummy keys: the emulator does not check signatures, and the SDK must not look for real ones. */
const CREDENTIALS = { accessKeyId: 'AKIALOCALAPPLIANCE', secretAccessKey: 'local-appliance' }

export interface LocalFleetOptions {
  regions: string[]
  couchUrlFor(region: string): string
  prefix: string
  /** One `<instance-id>.log` per engine. */
  logDir: string
  /** Extra engine settings (STAMPEDE_WORKERS, …). */
  engineEnv?: NodeJS.ProcessEnv
}

export interface LocalFleet {
  ec2: Ec2Emulator
  launcher: EngineLauncher
  /** One instance per region through the cloud provider, as a reconcile with a minimum of one would. */
  launchOnePerRegion(): Promise<CloudInstance[]>
  /** Resolves once the engine says `idle` in its region; fails early if its process ends. */
  registered(instance: CloudInstance, timeoutMs?: number): Promise<EngineDoc>
  logFile(instanceId: string): string
  /** Engines drain (SIGTERM) and exit; then the emulator closes. */
  close(): Promise<void>
}

export async function startLocalFleet(options: LocalFleetOptions): Promise<LocalFleet> {
  const logs = new Map<string, WriteStream>()
  const logFile = (id: string) => join(options.logDir, `${id}.log`)
  const launcher = engineLauncher({
    couchUrlFor: options.couchUrlFor,
    prefix: options.prefix,
    allowLoopback: true,
    detached: true,
    stopTimeoutMs: 15_000,
    env: { STAMPEDE_DRAIN_TIMEOUT: '5s', ...options.engineEnv },
    log: ({ instanceId, line }) => {
      let stream = logs.get(instanceId)
      if (!stream) {
        stream = createWriteStream(logFile(instanceId), { flags: 'a' })
        logs.set(instanceId, stream)
      }
      stream.write(`${line}\n`)
    },
  })
  const ec2 = await startEc2({ regions: options.regions, pendingMs: 200, onLaunch: launcher })
  const cloud = new AwsCloudProvider({ endpoint: ec2.url, credentials: CREDENTIALS, maxAttempts: 3 })
  const boot = Date.now().toString(36)

  return {
    ec2,
    launcher,
    logFile,
    async launchOnePerRegion() {
      const launched: CloudInstance[] = []
      for (const region of options.regions) {
        const [instance] = await cloud.launch({
          fleet: FLEET,
          region,
          clientToken: launchClientToken({ fleet: FLEET, region, generation: boot, slot: 0 }),
          imageId: IMAGE,
          instanceType: 'c7g.large',
          count: 1,
          userData: USER_DATA,
        })
        if (instance) launched.push(instance)
      }
      return launched
    },
    async registered(instance, timeoutMs = 60_000) {
      const couch = connectCouch(options.couchUrlFor(instance.region), { prefix: options.prefix })
      const fleetDb = couch.db(couch.names.fleet)
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const doc = await getDoc<EngineDoc>(fleetDb, `engine:${instance.id}`)
        if (doc?.state === 'idle' || doc?.state === 'busy') return doc
        const engine = launcher.engines.get(instance.id)
        const ended = await Promise.race([engine?.exited ?? new Promise<never>(() => {}), delay(100)])
        if (ended || Date.now() > deadline) {
          throw new StampedeError(
            'STAMPEDE_APPLIANCE_ENGINE',
            `the engine of ${instance.id} (${instance.region}) ${ended ? `exited (${ended.code ?? ended.signal})` : `did not register within ${timeoutMs / 1000} s`}: see ${logFile(instance.id)}`,
          )
        }
      }
    },
    async close() {
      await ec2.close()
      cloud.close()
      await Promise.all([...logs.values()].map((stream) => new Promise((resolve) => stream.end(resolve))))
    },
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
