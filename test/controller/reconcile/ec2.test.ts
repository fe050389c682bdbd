/**
 * The reconcile against the EC2 emulator through the real SDK (AwsCloudProvider) and a
 * PouchDB Server, time on a manual clock. Every EC2 call recorded here is checked against
 * packaging/iam/controller-policy.json at the end.
 */
import { readFileSync } from 'node:fs'
import t from 'tap'
import { AwsCloudProvider } from '../../../controller/cloud/aws.js'
import { checkCall, renderPolicy } from '../../../controller/cloud/iam-check.js'
import { reconcileOnce } from '../../../controller/reconcile/reconcile.js'
import { type Ec2Call, type Ec2Emulator, startEc2 } from '../../../emulators/ec2.js'
import { ManualClock } from '../../../lib/clock.js'
import { getDoc } from '../../../lib/couch/client.js'
import { rushStatus } from '../../../lib/couch/rushes.js'
import type { EngineDoc } from '../../../lib/documents.js'
import { dummyCredentials } from '../../harness/aws.js'
import { startCouch, type TestCouch, uniquePrefix } from '../../harness/couch.js'
import { M, queueRush, reconcileDeps, S, testPolicy, writeEngine } from '../../harness/fleet.js'
import { migrateRegions } from '../../harness/plane.js'
import { matchList } from '../../helpers/match.js'

const REGIONS = ['us-east-1', 'eu-west-1']
const recorded: Ec2Call[] = []

let server: TestCouch
t.before(async () => {
  server = await startCouch()
})
t.teardown(() => server.stop())

async function setup(t: { teardown: (fn: () => unknown) => void }) {
  const prefix = uniquePrefix()
  await migrateRegions(Object.fromEntries(REGIONS.map((r) => [r, { ...server, prefix }])), prefix)
  const couch = server.connect(prefix)
  const clock = new ManualClock()
  const ec2 = await startEc2({ clock, pendingMs: 5 * S, shuttingDownMs: 5 * S })
  const cloud = new AwsCloudProvider({ endpoint: ec2.url, credentials: dummyCredentials, backoffMs: () => 5 })
  t.teardown(async () => {
    recorded.push(...ec2.calls)
    cloud.close()
    await ec2.close()
  })
  const policy = testPolicy(REGIONS)
  const deps = (holder = 'test') => reconcileDeps({ cloud, couch, policy, clock, holder })
  return { couch, clock, ec2, cloud, deps }
}

const live = (ec2: Ec2Emulator) =>
  ec2.instances().filter((i) => ['pending', 'running'].includes(ec2.stateOf(i.id)))

t.test('throttling is survived: a reconcile under RequestLimitExceeded still launches, once', async (t) => {
  const { couch, clock, ec2, deps } = await setup(t)
  await queueRush(couch, { regions: REGIONS, users: 1200, seconds: 60, startAt: clock.now() + M })
  ec2.throttleNext(3)
  const report = await reconcileOnce(deps())
  t.equal(report.outcome, 'converged', report.reason)
  t.ok(
    ec2.calls.some((c) => c.error === 'RequestLimitExceeded'),
    'the emulator did throttle',
  )
  t.same(
    REGIONS.map((r) => live(ec2).filter((i) => i.region === r).length),
    [1, 1],
  )
  const [instance] = ec2.instances('us-east-1')
  t.match(instance, {
    metadataOptions: { httpTokens: 'required', httpPutResponseHopLimit: 1 },
    iamInstanceProfile: { name: 'stampede-engine' },
    tags: { 'stampede:fleet': 'test-fleet', 'stampede:role': 'engine' },
    userData: /#cloud-config/,
  })
})

t.test('an instance that never registers is terminated after the boot grace, not before', async (t) => {
  const { couch, clock, ec2, deps } = await setup(t)
  await queueRush(couch, { regions: ['us-east-1'], users: 10, seconds: 3600, startAt: clock.now() + M })
  await reconcileOnce(deps())
  const [instance] = ec2.instances()
  clock.advance(9 * M)
  const before = await reconcileOnce(deps())
  t.equal(ec2.stateOf(instance!.id), 'running')
  matchList(t, before.plan?.waits, [{ subject: instance!.id, reason: /booting: launched 9m ago/ }])
  clock.advance(2 * M)
  const after = await reconcileOnce(deps())
  matchList(t, after.plan?.actions, [
    {
      kind: 'terminate',
      instance: { id: instance!.id },
      reason: /no engine registered within the boot grace/,
    },
    { kind: 'launch', region: 'us-east-1', count: 1, generation: 2 },
  ])
  t.equal(ec2.stateOf(instance!.id), 'shutting-down')
})

t.test('a doc of a just-launched instance that Describe does not show yet is left alone', async (t) => {
  const { couch, clock, ec2, deps } = await setup(t)
  ec2.setVisibilityDelay(2 * M)
  await queueRush(couch, { regions: ['us-east-1'], users: 10, seconds: 3600, startAt: clock.now() + M })
  await reconcileOnce(deps())
  const [instance] = ec2.instances()
  clock.advance(20 * S)
  await writeEngine(couch, instance!.id, { heartbeatAt: clock.now() })
  clock.advance(10 * S)
  const report = await reconcileOnce(deps())
  t.same(report.plan?.actions, [], 'no retirement, no second launch')
  t.equal(ec2.callsOf('RunInstances').length, 1)
  const doc = await getDoc<EngineDoc>(couch.db(couch.names.fleet), `engine:${instance!.id}`)
  t.equal(doc?.state, 'idle')
})

t.test('a killed instance: the next reconcile retires its doc and releases its shard', async (t) => {
  const { couch, clock, ec2, deps } = await setup(t)
  const rush = await queueRush(couch, {
    regions: ['us-east-1'],
    users: 10,
    seconds: 3600,
    startAt: clock.now(),
  })
  await reconcileOnce(deps())
  const [instance] = ec2.instances()
  clock.advance(M)
  await writeEngine(couch, instance!.id, { heartbeatAt: clock.now(), state: 'busy', inUse: 10 })
  const dispatch = couch.db(couch.names.dispatch('us-east-1'))
  const shard = (await dispatch.get(`shard:${rush}:0`)) as unknown as Record<string, unknown>
  await dispatch.insert({
    ...shard,
    state: 'running',
    engine: instance!.id,
    leaseUntil: clock.now() + 30 * S,
    startedAt: clock.now(),
  } as never)
  await ec2.kill(instance!.id)
  const report = await reconcileOnce(deps())
  t.equal(report.outcome, 'converged', report.reason)
  matchList(t, report.plan?.actions, [
    { kind: 'retire-engine', instanceId: instance!.id, reason: 'instance terminated (Server.InternalError)' },
    { kind: 'release-shard', to: 'lost', reason: /engine i-\w+ retired: instance terminated/ },
  ])
  const status = await rushStatus(couch, rush)
  t.equal(status.state, 'failed', 'the rush reports the lost shard')
  matchList(t, status.shards, [{ state: 'lost', reason: /retired: instance terminated/ }])
  t.equal((await getDoc<EngineDoc>(couch.db(couch.names.fleet), `engine:${instance!.id}`))?.state, 'gone')
})

t.test('two reconciles at once launch nothing twice', async (t) => {
  const { couch, clock, ec2, deps } = await setup(t)
  await queueRush(couch, {
    regions: REGIONS,
    users: 4000,
    seconds: 60,
    startAt: clock.now() + M,
    shardsPerRegion: 2,
  })
  const reports = await Promise.all([
    reconcileOnce(deps('a')),
    reconcileOnce(deps('b')),
    reconcileOnce(deps('c')),
  ])
  t.ok(
    reports.some((r) => r.outcome === 'lease-held'),
    reports.map((r) => r.reason).join(' | '),
  )
  t.equal(ec2.instances().length, 4, 'two shards per region, one engine each, launched once')
  await reconcileOnce(deps('d'))
  t.equal(ec2.instances().length, 4)
})

t.test('every EC2 call the reconciles made is allowed by the controller policy', async (t) => {
  const template = readFileSync(
    new URL('../../../packaging/iam/controller-policy.json', import.meta.url),
    'utf8',
  )
  const policy = renderPolicy(template, {
    account: '000000000000',
    fleet: 'test-fleet',
    engineRole: 'stampede-engine',
  })
  const actions = new Set(recorded.map((c) => c.action))
  t.ok(
    actions.has('RunInstances') && actions.has('DescribeInstances') && actions.has('TerminateInstances'),
    [...actions].join(','),
  )
  for (const call of recorded) {
    if (call.error === 'RequestLimitExceeded') continue
    const check = checkCall(policy, call, { account: '000000000000' })
    t.ok(check.allowed, `${call.action} in ${call.region}`, { denied: check.denied })
  }
})
