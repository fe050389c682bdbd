import t from 'tap'
import { FakeCloudProvider } from '../../../controller/cloud/fake.js'
import { CloudError, type CloudProvider, FLEET_TAG } from '../../../controller/cloud/provider.js'
import {
  acquireLease,
  LEASE_ID,
  LeaseHeldError,
  LeaseLostError,
  readLeaseState,
} from '../../../controller/reconcile/lease.js'
import { DRAIN_TAG, emptyState } from '../../../controller/reconcile/model.js'
import { reconcileOnce } from '../../../controller/reconcile/reconcile.js'
import { ManualClock } from '../../../lib/clock.js'
import { getDoc } from '../../../lib/couch/client.js'
import { rushStatus } from '../../../lib/couch/rushes.js'
import type { EngineDoc, LeaseDoc } from '../../../lib/documents.js'
import { startCouch, type TestCouch, uniquePrefix } from '../../harness/couch.js'
import { M, queueRush, reconcileDeps, S, testPolicy, writeEngine } from '../../harness/fleet.js'
import { migrateRegions } from '../../harness/plane.js'
import { matchList } from '../../helpers/match.js'

const REGION = 'us-east-1'

let server: TestCouch
t.before(async () => {
  server = await startCouch()
})
t.teardown(() => server.stop())

async function setup(options: { visibilityDelayMs?: number } = {}) {
  const prefix = uniquePrefix()
  await migrateRegions({ [REGION]: { ...server, prefix } }, prefix)
  const couch = server.connect(prefix)
  const clock = new ManualClock()
  const cloud = new FakeCloudProvider({ clock, ...options })
  const policy = testPolicy([REGION])
  const deps = (holder = 'test-holder', over: { cloud?: CloudProvider } = {}) =>
    reconcileDeps({ cloud: over.cloud ?? cloud, couch, policy, clock, holder })
  return { couch, clock, cloud, policy, deps, fleet: couch.db(couch.names.fleet) }
}

t.test(
  'a queued rush launches engines, and the ledger keeps a lagging Describe from launching again',
  async (t) => {
    const { couch, clock, cloud, deps, fleet } = await setup({ visibilityDelayMs: 60 * S })
    await queueRush(couch, {
      regions: [REGION],
      users: 1500,
      seconds: 60,
      startAt: clock.now() + 60 * S,
      shardsPerRegion: 2,
    })
    const first = await reconcileOnce(deps())
    t.equal(first.outcome, 'converged')
    t.equal(cloud.launchCalls.length, 1)
    t.match(cloud.launchCalls[0], { region: REGION, count: 2, fleet: 'test-fleet' }, 'two shards of 750')
    const { state } = await readLeaseState(fleet)
    matchList(t, state.launches, [{ status: 'launched', generation: 1, instanceIds: [/^i-/, /^i-/] }])
    t.same(state.generations, { [REGION]: 1 })

    clock.advance(10 * S) // Describe still does not show the instance
    t.equal((await cloud.list({ name: 'test-fleet', regions: [REGION] })).length, 0)
    const second = await reconcileOnce(deps())
    t.equal(cloud.launchCalls.length, 1, 'nothing launched twice')
    t.match(second.plan?.regions[REGION], { booting: 2, fleet: 2 })
    const lease = (await getDoc<LeaseDoc>(fleet, LEASE_ID))!
    t.ok(lease.expiresAt <= clock.now(), 'a --once run releases the lease when done')
  },
)

t.test('a launch whose answer was lost is repeated with the same token and launches once', async (t) => {
  // Describe lags too, so the next run cannot tell whether the launch happened.
  const { couch, clock, cloud, deps, fleet } = await setup({ visibilityDelayMs: 60 * S })
  await queueRush(couch, { regions: [REGION], users: 500, seconds: 60, startAt: clock.now() + 60 * S })
  // The call reaches the cloud, then the connection drops: the outcome is unknown to the controller.
  let drop = true
  const flaky: CloudProvider = {
    list: (f) => cloud.list(f),
    terminate: (i) => cloud.terminate(i),
    tag: (i, tags) => cloud.tag(i, tags),
    launch: async (request) => {
      const instances = await cloud.launch(request)
      if (drop) {
        drop = false
        throw new CloudError({
          cloudCode: 'TimeoutError',
          region: REGION,
          operation: 'RunInstances',
          message: 'socket hang up',
          retryable: true,
        })
      }
      return instances
    },
  }
  const first = await reconcileOnce(deps('a', { cloud: flaky }))
  t.equal(first.outcome, 'not-converged')
  t.match(first.reason, /1 of 1 action\(s\) failed; first: launch: .*socket hang up/)
  matchList(t, (await readLeaseState(fleet)).state.launches, [{ status: 'requested', generation: 1 }])

  const second = await reconcileOnce(deps('b', { cloud: flaky }))
  t.equal(second.outcome, 'converged')
  t.equal(cloud.launchCalls.length, 2)
  t.equal(cloud.launchCalls[1]!.clientToken, cloud.launchCalls[0]!.clientToken, 'same token')
  t.equal(cloud.all().length, 1, 'one instance in all')
})

t.test('a refused launch is forgotten and asked again with a new token', async (t) => {
  const { couch, clock, cloud, deps, fleet } = await setup()
  await queueRush(couch, { regions: [REGION], users: 500, seconds: 60, startAt: clock.now() + 60 * S })
  cloud.failNext(
    'launch',
    new CloudError({
      cloudCode: 'InsufficientInstanceCapacity',
      region: REGION,
      operation: 'RunInstances',
      message: 'none left',
    }),
  )
  const first = await reconcileOnce(deps())
  t.equal(first.outcome, 'not-converged')
  t.same((await readLeaseState(fleet)).state.launches, [])
  await reconcileOnce(deps())
  t.equal(cloud.launchCalls.length, 2)
  t.not(cloud.launchCalls[1]!.clientToken, cloud.launchCalls[0]!.clientToken)
  t.equal(cloud.all().length, 1)
})

t.test('a killed instance: its doc is retired and its shards released, and the rush shows it', async (t) => {
  const { couch, clock, cloud, deps } = await setup()
  const rush = await queueRush(couch, {
    regions: [REGION],
    users: 200,
    seconds: 600,
    startAt: clock.now(),
    shardsPerRegion: 2,
  })
  const victim = cloud.add({ region: REGION, fleet: 'test-fleet', launchTime: clock.now() - 20 * M })
  await writeEngine(couch, victim.id, { heartbeatAt: clock.now(), state: 'busy', inUse: 200 })
  const dispatch = couch.db(couch.names.dispatch(REGION))
  const hold = async (n: number, state: 'claimed' | 'running') => {
    const doc = (await dispatch.get(`shard:${rush}:${n}`)) as unknown as Record<string, unknown>
    await dispatch.insert({ ...doc, state, engine: victim.id, leaseUntil: clock.now() + 30 * S } as never)
  }
  await hold(0, 'claimed')
  await hold(1, 'running')
  cloud.setState(victim.id, 'terminated')

  const report = await reconcileOnce(deps())
  t.equal(report.outcome, 'converged')
  const doc = (await getDoc<EngineDoc & { retiredReason?: string }>(
    couch.db(couch.names.fleet),
    `engine:${victim.id}`,
  ))!
  t.equal(doc.state, 'gone')
  t.match(doc.retiredReason, /instance terminated/)
  const status = await rushStatus(couch, rush)
  matchList(t, status.shards, [
    { state: 'queued', reason: /never started; engine i-\w+ retired: instance terminated/ },
    { state: 'lost', engine: victim.id, reason: /engine i-\w+ retired: instance terminated/ },
  ])
  t.equal(cloud.launchCalls.length, 1, 'the requeued shard gets a new engine')

  const again = await reconcileOnce(deps())
  t.same(
    again.plan?.actions.map((a) => a.kind),
    [],
    'the next run has nothing left to finish',
  )
})

t.test('an idle engine past the cooldown is drained, then terminated once settled', async (t) => {
  const { couch, clock, cloud, deps, fleet } = await setup()
  const instance = cloud.add({ region: REGION, fleet: 'test-fleet', launchTime: clock.now() - 30 * M })
  const heartbeat = () => writeEngineHeartbeat(couch.db(couch.names.fleet), instance.id, clock.now())
  await writeEngine(couch, instance.id, { heartbeatAt: clock.now() })

  await reconcileOnce(deps())
  t.match((await readLeaseState(fleet)).state.idleSince, { [instance.id]: clock.now() })
  clock.advance(6 * M)
  await heartbeat()
  const drain = await reconcileOnce(deps())
  matchList(t, drain.plan?.actions, [{ kind: 'drain', reason: /idle for 6m/ }])
  t.equal((await getDoc<EngineDoc>(fleet, `engine:${instance.id}`))?.state, 'draining')
  t.equal(cloud.get(instance.id)?.tags[DRAIN_TAG], String(clock.now()))

  clock.advance(5 * S)
  const settling = await reconcileOnce(deps())
  t.same(settling.plan?.actions, [])
  matchList(t, settling.plan?.waits, [{ reason: /giving the engine 20s to notice/ }])
  clock.advance(20 * S)
  const done = await reconcileOnce(deps())
  matchList(t, done.plan?.actions, [{ kind: 'terminate', reason: /drained 25s ago and holds nothing/ }])
  t.equal(cloud.get(instance.id)?.state, 'terminated')
})

t.test('terminating an instance that is already gone counts as done', async (t) => {
  const { couch, clock, cloud, deps } = await setup()
  const instance = cloud.add({ region: REGION, fleet: 'test-fleet', launchTime: clock.now() - 20 * M })
  void couch
  // Never registered past the boot grace; the cloud forgets it between the listing and the call.
  const forgetful: CloudProvider = {
    list: (f) => cloud.list(f),
    launch: (r) => cloud.launch(r),
    tag: (i, tags) => cloud.tag(i, tags),
    terminate: async (instances) => {
      cloud.reset()
      return cloud.terminate(instances)
    },
  }
  const report = await reconcileOnce(deps('x', { cloud: forgetful }))
  t.equal(report.outcome, 'converged')
  matchList(t, report.results, [
    { action: { kind: 'terminate', instance: { id: instance.id } }, outcome: 'done', detail: 'gone' },
  ])
})

t.test('a doc that heartbeats between plan and retirement is not retired', async (t) => {
  const { couch, clock, cloud, policy } = await setup()
  const { couchStore } = await import('../../../controller/reconcile/store.js')
  const store = couchStore(couch, () => couch)
  await writeEngine(couch, 'i-0123456789abcdef0', { heartbeatAt: clock.now() - 10 * M })
  await writeEngineHeartbeat(couch.db(couch.names.fleet), 'i-0123456789abcdef0', clock.now())
  t.notOk(await store.retireEngine(REGION, 'i-0123456789abcdef0', clock.now() - 10 * M, 'silent'))
  t.ok(await store.retireEngine(REGION, 'i-0123456789abcdef0', clock.now(), 'silent'))
  void cloud
  void policy
})

t.test('the lease: its _rev is the lock', async (t) => {
  const { clock, fleet } = await setup()
  const a = await acquireLease(fleet, { holder: 'run-a', ttlMs: 60 * S, clock })
  await t.rejects(acquireLease(fleet, { holder: 'run-b', ttlMs: 60 * S, clock }), {
    name: 'LeaseHeldError',
    code: 'STAMPEDE_LEASE_HELD',
    message: /lease held by run-a until/,
  })
  clock.advance(61 * S)
  const b = await acquireLease(fleet, { holder: 'run-b', ttlMs: 60 * S, clock })
  await t.rejects(
    a.save(emptyState()),
    LeaseLostError,
    'the run that outlived its lease finds out before acting',
  )
  await b.release()
  const c = await acquireLease(fleet, { holder: 'run-c', ttlMs: 60 * S, clock })
  t.equal(c.holder, 'run-c', 'a released lease is free at once')
  t.ok(new LeaseHeldError('x', 0) instanceof Error)
})

t.test('two reconciles at once launch nothing twice', async (t) => {
  const { couch, clock, cloud, deps } = await setup()
  await queueRush(couch, {
    regions: [REGION],
    users: 3000,
    seconds: 60,
    startAt: clock.now() + 60 * S,
    shardsPerRegion: 3,
  })
  const reports = await Promise.all([reconcileOnce(deps('run-a')), reconcileOnce(deps('run-b'))])
  const outcomes = reports.map((r) => r.outcome).sort()
  t.ok(
    outcomes.includes('lease-held') || reports.every((r) => r.outcome === 'converged'),
    `one run acts, the other stands down or finds nothing to do (${outcomes})`,
  )
  const held = reports.find((r) => r.outcome === 'lease-held')
  if (held) t.match(held.reason, /^lease held by run-[ab] until /)
  t.equal(cloud.all().length, 3, 'three shards of 1000 connections: three engines, once')
  // And after it, a third run plans nothing new.
  await reconcileOnce(deps('run-c'))
  t.equal(cloud.all().length, 3)
})

t.test('a dry run plans from the stored state and writes nothing', async (t) => {
  const { couch, clock, cloud, deps, fleet } = await setup()
  await queueRush(couch, { regions: [REGION], users: 500, seconds: 60, startAt: clock.now() + 60 * S })
  const report = await reconcileOnce({ ...deps(), dryRun: true })
  t.equal(report.outcome, 'dry-run')
  matchList(t, report.plan?.actions, [{ kind: 'launch', count: 1 }])
  t.equal(cloud.launchCalls.length, 0)
  t.equal(await getDoc(fleet, LEASE_ID), undefined)
  t.equal(cloud.all().filter((i) => i.tags[FLEET_TAG]).length, 0)
})

async function writeEngineHeartbeat(
  db: ReturnType<TestCouch['couch']['db']>,
  instanceId: string,
  at: number,
) {
  const doc = (await db.get(`engine:${instanceId}`)) as unknown as EngineDoc
  await db.insert({ ...doc, heartbeatAt: at } as never)
}
