/**
 * Runs the emulated cloud standalone: an EC2 Query-API emulator and, when asked, one IMDSv2
 * emulator per launched instance. Prints one line per endpoint and a JSON line for tools.
 *
 *   node dist/emulators/main.js [--port N] [--regions us-east-1,eu-west-1] [--pending-ms N]
 *                               [--visibility-delay-ms N] [--imds-per-instance]
 *
 * Point the SDK (or the controller) at the printed endpoint with any region, or at
 * `<endpoint>/<region>`. Stop with SIGINT/SIGTERM.
 */
import { parseArgs } from 'node:util'
import { startEc2, startInstanceImds } from './ec2.js'

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    regions: { type: 'string' },
    'pending-ms': { type: 'string', default: '1000' },
    'visibility-delay-ms': { type: 'string', default: '0' },
    'imds-per-instance': { type: 'boolean', default: false },
  },
})

const regions = values.regions?.split(',').filter(Boolean)
const ec2 = await startEc2({
  port: Number(values.port),
  pendingMs: Number(values['pending-ms']),
  visibilityDelayMs: Number(values['visibility-delay-ms']),
  ...(regions && { regions }),
})
if (values['imds-per-instance']) {
  ec2.onLaunch = async (instance) => {
    const imds = await startInstanceImds(instance)
    process.stdout.write(
      `${JSON.stringify({ event: 'launched', instanceId: instance.id, region: instance.region, imds: imds.url })}\n`,
    )
    return { stop: () => imds.close() }
  }
}
process.stdout.write(`EC2 emulator: ${ec2.url} (region from the request signature, or ${ec2.url}/<region>)\n`)
for (const region of regions ?? []) process.stdout.write(`  ${region}: ${ec2.endpointFor(region)}\n`)
process.stdout.write(`${JSON.stringify({ ec2: ec2.url, regions: regions ?? 'any' })}\n`)

const stop = async () => {
  await ec2.close()
  process.exit(0)
}
process.once('SIGINT', stop)
process.once('SIGTERM', stop)
