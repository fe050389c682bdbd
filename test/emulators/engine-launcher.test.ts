import { RunInstancesCommand, TerminateInstancesCommand } from '@aws-sdk/client-ec2'
import t from 'tap'
import { startEc2 } from '../../emulators/ec2.js'
import { type EngineLogLine, engineLauncher } from '../../emulators/engine-launcher.js'
import { getDoc } from '../../lib/couch/client.js'
import type { EngineDoc } from '../../lib/documents.js'
import { ec2Client } from '../harness/aws.js'
import { cleanups, couchEnv, startCouch, type TestCouch, uniquePrefix, waitFor } from '../harness/couch.js'
import { migrateRegions } from '../harness/plane.js'

const regions = ['us-east-1', 'eu-west-1'] as const

const engineDoc = (server: TestCouch, id: string) =>
  getDoc<EngineDoc>(server.couch.db(server.couch.names.fleet), `engine:${id}`)

t.test('RunInstances starts a real engine per instance, known by its IMDS, in its region', async (t) => {
  const later = cleanups(t)
  const prefix = uniquePrefix()
  const servers: Record<string, TestCouch> = {}
  for (const region of regions) {
    servers[region] = await startCouch({ prefix })
    later(() => servers[region]!.stop())
  }
  await migrateRegions(servers, prefix)

  const lines: EngineLogLine[] = []
  const launcher = engineLauncher({
    couchUrlFor: (region) => servers[region]!.url,
    prefix,
    allowLoopback: true,
    env: { ...couchEnv(), STAMPEDE_WORKERS: '0', STAMPEDE_DRAIN_TIMEOUT: '5s', STAMPEDE_SPOT_POLL: '200ms' },
    log: (line) => lines.push(line),
  })
  const ec2 = await startEc2({ pendingMs: 100, onLaunch: launcher })
  later(() => ec2.close())

  const launched: Record<string, string> = {}
  for (const region of regions) {
    const client = ec2Client(ec2.url, region)
    later(() => client.destroy())
    const out = await client.send(
      new RunInstancesCommand({
        ImageId: 'ami-0123456789abcdef0',
        InstanceType: 'c7g.large',
        MinCount: 1,
        MaxCount: 1,
        MetadataOptions: { HttpTokens: 'required', HttpPutResponseHopLimit: 1 },
      }),
    )
    launched[region] = out.Instances![0]!.InstanceId!
  }

  for (const region of regions) {
    const id = launched[region]!
    const doc = await waitFor(`the engine of ${id} registered in ${region}`, () =>
      engineDoc(servers[region]!, id),
    )
    const instance = ec2.instance(id)!
    t.match(
      doc,
      { instanceId: id, region, az: instance.az, instanceType: 'c7g.large', state: 'idle' },
      `${region}: engine:${id} with the region and zone of its instance`,
    )
    t.ok(instance.az.startsWith(region), `${region}: zone ${instance.az}`)
    t.ok(
      launcher.engines.get(id)!.imds.requests.some((r) => r.path === '/latest/meta-data/instance-id'),
      `${region}: it asked its own IMDS`,
    )
  }

  // Terminating the instance is a SIGTERM to its engine: it drains and says gone.
  const east = launched['us-east-1']!
  const client = ec2Client(ec2.url, 'us-east-1')
  later(() => client.destroy())
  await client.send(new TerminateInstancesCommand({ InstanceIds: [east] }))
  const exit = await launcher.engines.get(east)!.exited
  t.same(exit, { code: 0, signal: null }, 'the terminated instance’s engine drained and exited 0')
  t.equal((await engineDoc(servers['us-east-1']!, east))?.state, 'gone')
  t.ok(
    lines.some(
      (l) => l.instanceId === east && l.stream === 'stdout' && l.line.includes('"msg":"engine gone"'),
    ),
    'its log lines reached the launcher',
  )

  // The host dying: SIGKILL, no drain; the doc stays as it was for the controller to retire.
  const west = launched['eu-west-1']!
  const killed = await launcher.engines.get(west)!.kill()
  t.same(killed, { code: null, signal: 'SIGKILL' })
  t.equal((await engineDoc(servers['eu-west-1']!, west))?.state, 'idle', 'not gone: it never said so')
})
