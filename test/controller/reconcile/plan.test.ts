import t from 'tap'
import {
  type CloudInstance,
  FLEET_TAG,
  launchClientToken,
  ROLE_TAG,
} from '../../../controller/cloud/provider.js'
import {
  type Action,
  DRAIN_TAG,
  type EngineRecord,
  emptyState,
  type FleetPolicy,
  type Observation,
  type ShardRecord,
} from '../../../controller/reconcile/model.js'
import { formatPlan, isEmptyPlan, planReconcile } from '../../../controller/reconcile/plan.js'
import { matchList } from '../../helpers/match.js'

const NOW = Date.UTC(2026, 0, 1, 12)
const S = 1000
const M = 60 * S

const policy = (overrides: Partial<FleetPolicy> = {}): FleetPolicy => ({
  fleet: 'blue',
  regions: ['us-east-1', 'eu-west-1'],
  limits: { 'us-east-1': { min: 0, max: 10 }, 'eu-west-1': { min: 0, max: 10 } },
  capacity: 1000,
  cooldownMs: 5 * M,
  bootGraceMs: 10 * M,
  heartbeatStaleMs: 90 * S,
  gcGraceMs: 5 * M,
  shardLeaseGraceMs: 30 * S,
  drainSettleMs: 20 * S,
  ...overrides,
})

const instance = (id: string, overrides: Partial<CloudInstance> = {}): CloudInstance => ({
  id,
  region: 'us-east-1',
  az: 'us-east-1a',
  type: 'c7i.large',
  state: 'running',
  launchTime: NOW - 30 * M,
  tags: { [FLEET_TAG]: 'blue', [ROLE_TAG]: 'engine' },
  ...overrides,
})

const engine = (instanceId: string, overrides: Partial<EngineRecord> = {}): EngineRecord => ({
  instanceId,
  region: 'us-east-1',
  state: 'idle',
  capacity: 1000,
  inUse: 0,
  heartbeatAt: NOW - 5 * S,
  startedAt: NOW - 29 * M,
  ...overrides,
})

const shard = (id: string, overrides: Partial<ShardRecord> = {}): ShardRecord => ({
  id,
  region: 'us-east-1',
  state: 'queued',
  connections: 100,
  endsAt: NOW + 10 * M,
  ...overrides,
})

const observe = (overrides: Partial<Observation> = {}): Observation => ({
  now: NOW,
  instances: [],
  engines: [],
  shards: [],
  state: emptyState(),
  ...overrides,
})

const kinds = (actions: Action[]) => actions.map((a) => a.kind)
const only = <K extends Action['kind']>(actions: Action[], kind: K) =>
  actions.filter((a): a is Extract<Action, { kind: K }> => a.kind === kind)

t.test('scale out', async (t) => {
  t.test('queued demand with no engines launches enough engines per region', async (t) => {
    const plan = planReconcile(
      observe({
        shards: [
          shard('shard:r:0', { connections: 700 }),
          shard('shard:r:2', { connections: 700 }),
          shard('shard:r:1', { region: 'eu-west-1', connections: 300 }),
        ],
      }),
      policy(),
    )
    const launches = only(plan.actions, 'launch')
    t.same(
      launches.map((l) => [l.region, l.count, l.generation]),
      [
        ['us-east-1', 2, 1],
        ['eu-west-1', 1, 1],
      ],
    )
    t.match(launches[0]!.reason, /2 queued shards \(1400 connections\) need 2 more engines/)
    t.equal(
      launches[0]!.clientToken,
      launchClientToken({ fleet: 'blue', region: 'us-east-1', generation: 1, slot: 'engines' }),
    )
    t.same(plan.state.generations, { 'us-east-1': 1, 'eu-west-1': 1 })
    matchList(t, plan.state.launches, [
      { region: 'us-east-1', status: 'requested', count: 2 },
      { region: 'eu-west-1', status: 'requested', count: 1 },
    ])
  })

  t.test('shards pack first-fit decreasing into the free capacity before new engines', async (t) => {
    const plan = planReconcile(
      observe({
        instances: [instance('i-a')],
        engines: [engine('i-a', { state: 'busy', inUse: 400 })],
        shards: [
          shard('s1', { connections: 600 }),
          shard('s2', { connections: 500 }),
          shard('s3', { connections: 500 }),
        ],
      }),
      policy(),
    )
    // 600 fits in i-a's 600 free; 500 + 500 fill one new engine.
    t.same(
      only(plan.actions, 'launch').map((l) => l.count),
      [1],
    )
  })

  t.test('booting instances and launches Describe does not show yet count as supply', async (t) => {
    const state = emptyState()
    state.generations['us-east-1'] = 4
    state.launches.push({
      region: 'us-east-1',
      generation: 4,
      clientToken: 'tok-4',
      count: 1,
      requestedAt: NOW - 20 * S,
      status: 'launched',
      instanceIds: ['i-invisible'],
      reason: 'demand',
    })
    const plan = planReconcile(
      observe({
        instances: [instance('i-booting', { state: 'pending', launchTime: NOW - 30 * S })],
        shards: [shard('s1', { connections: 900 }), shard('s2', { connections: 900 })],
        state,
      }),
      policy(),
    )
    t.same(kinds(plan.actions), [], 'two shards, two engines coming: nothing to launch')
    t.equal(plan.regions['us-east-1']!.booting, 2)
    t.ok(plan.waits.some((w) => w.subject === 'i-booting' && /booting/.test(w.reason)))
  })

  t.test(
    'a launch whose outcome is unknown is repeated with the same token and counts as supply',
    async (t) => {
      const state = emptyState()
      state.generations['us-east-1'] = 7
      state.launches.push({
        region: 'us-east-1',
        generation: 7,
        clientToken: 'tok-7',
        count: 2,
        requestedAt: NOW - 40 * S,
        status: 'requested',
        reason: 'demand',
      })
      const plan = planReconcile(
        observe({ shards: [shard('s1'), shard('s2', { connections: 950 })], state }),
        policy(),
      )
      matchList(t, only(plan.actions, 'launch'), [
        { clientToken: 'tok-7', count: 2, generation: 7, replay: true },
      ])
      t.equal(only(plan.actions, 'launch').length, 1, 'no second launch on top')
      t.same(plan.state.generations, { 'us-east-1': 7 })
    },
  )

  t.test('a requested launch that Describe shows in full becomes launched, not repeated', async (t) => {
    const state = emptyState()
    state.launches.push({
      region: 'us-east-1',
      generation: 1,
      clientToken: 'tok-1',
      count: 1,
      requestedAt: NOW - 40 * S,
      status: 'requested',
      reason: 'demand',
    })
    const plan = planReconcile(
      observe({
        instances: [instance('i-x', { clientToken: 'tok-1', launchTime: NOW - 39 * S })],
        shards: [shard('s1')],
        state,
      }),
      policy(),
    )
    t.same(kinds(plan.actions), [])
    matchList(t, plan.state.launches, [{ status: 'launched', instanceIds: ['i-x'] }])
  })

  t.test('the same observation always plans the same tokens (overlapping runs)', async (t) => {
    const observation = observe({ shards: [shard('s1')] })
    const a = planReconcile(observation, policy())
    const b = planReconcile(structuredClone(observation), policy())
    t.same(a.actions, b.actions)
  })

  t.test('tokens never repeat: the next launch takes the next generation', async (t) => {
    const state = emptyState()
    state.generations['us-east-1'] = 3
    const plan = planReconcile(observe({ shards: [shard('s1')], state }), policy())
    const [launch] = only(plan.actions, 'launch')
    t.equal(launch!.generation, 4)
    t.not(
      launch!.clientToken,
      launchClientToken({ fleet: 'blue', region: 'us-east-1', generation: 3, slot: 'engines' }),
    )
  })

  t.test('the minimum is kept without demand; the maximum caps and blocks', async (t) => {
    const limits = { 'us-east-1': { min: 2, max: 3 }, 'eu-west-1': { min: 0, max: 0 } }
    const idle = planReconcile(observe(), policy({ limits }))
    matchList(t, only(idle.actions, 'launch'), [
      { region: 'us-east-1', count: 2, reason: /below the minimum of 2/ },
    ])
    const busy = planReconcile(
      observe({ shards: [1, 2, 3, 4, 5].map((n) => shard(`s${n}`, { connections: 900 })) }),
      policy({ limits }),
    )
    matchList(t, only(busy.actions, 'launch'), [{ count: 3 }])
    matchList(t, busy.blockers, [{ region: 'us-east-1', reason: /needs 5 engines; the maximum is 3/ }])
    t.notOk(isEmptyPlan(busy))
  })

  t.test('a shard larger than an engine blocks instead of launching forever', async (t) => {
    const plan = planReconcile(observe({ shards: [shard('huge', { connections: 5000 })] }), policy())
    t.same(kinds(plan.actions), [])
    matchList(t, plan.blockers, [{ reason: /huge needs 5000 connections; an engine takes 1000/ }])
  })

  t.test('queued shards past their end are not demand', async (t) => {
    const plan = planReconcile(observe({ shards: [shard('old', { endsAt: NOW - 1 * S })] }), policy())
    t.same(kinds(plan.actions), [])
  })
})

t.test('scale in', async (t) => {
  const idleFleet = (idleSince: number) => {
    const state = emptyState()
    state.idleSince = { 'i-a': idleSince, 'i-b': idleSince + 1 }
    return observe({
      instances: [instance('i-a'), instance('i-b')],
      engines: [engine('i-a'), engine('i-b')],
      state,
    })
  }

  t.test('engines idle past the cooldown are drained down to the minimum, oldest first', async (t) => {
    const plan = planReconcile(
      idleFleet(NOW - 6 * M),
      policy({ limits: { 'us-east-1': { min: 1, max: 5 }, 'eu-west-1': { min: 0, max: 0 } } }),
    )
    matchList(t, only(plan.actions, 'drain'), [
      { instance: { id: 'i-a' }, reason: /idle for 6m \(cooldown 5m\), above the minimum of 1/ },
    ])
    t.equal(only(plan.actions, 'drain').length, 1)
  })

  t.test('not before the cooldown', async (t) => {
    const plan = planReconcile(idleFleet(NOW - 4 * M), policy())
    t.same(kinds(plan.actions), [])
  })

  t.test('the controller remembers when it first saw an engine idle', async (t) => {
    const plan = planReconcile(observe({ instances: [instance('i-a')], engines: [engine('i-a')] }), policy())
    t.same(plan.state.idleSince, { 'i-a': NOW })
    const busy = planReconcile(
      observe({
        instances: [instance('i-a')],
        engines: [engine('i-a', { state: 'busy', inUse: 10 })],
        state: { ...emptyState(), idleSince: { 'i-a': NOW - 10 * M } },
      }),
      policy(),
    )
    t.same(busy.state.idleSince, {}, 'busy again: the idle clock restarts')
  })

  t.test('an idle engine that queued demand would use is not drained', async (t) => {
    const o = idleFleet(NOW - 6 * M)
    o.shards.push(shard('s1'))
    const plan = planReconcile(o, policy())
    t.same(
      only(plan.actions, 'drain').map((d) => d.instance.id),
      ['i-b'],
    )
  })

  t.test('an engine still holding a shard is not idle, whatever its doc says', async (t) => {
    const o = idleFleet(NOW - 6 * M)
    o.shards.push(shard('s1', { state: 'running', engine: 'i-a', leaseUntil: NOW + 20 * S }))
    const plan = planReconcile(o, policy())
    t.same(
      only(plan.actions, 'drain').map((d) => d.instance.id),
      ['i-b'],
    )
  })

  t.test('drained instances are terminated once settled and holding nothing', async (t) => {
    const tagged = (at: number) => ({ [FLEET_TAG]: 'blue', [ROLE_TAG]: 'engine', [DRAIN_TAG]: String(at) })
    const plan = planReconcile(
      observe({
        instances: [
          instance('i-settled', { tags: tagged(NOW - 30 * S) }),
          instance('i-young', { tags: tagged(NOW - 5 * S) }),
          instance('i-busy', { tags: tagged(NOW - 60 * S) }),
        ],
        engines: [engine('i-settled'), engine('i-young'), engine('i-busy', { state: 'busy', inUse: 5 })],
        shards: [shard('s1', { state: 'running', engine: 'i-busy', leaseUntil: NOW + 20 * S })],
      }),
      policy(),
    )
    matchList(t, only(plan.actions, 'terminate'), [
      { instance: { id: 'i-settled' }, reason: /drained 30s ago/ },
    ])
    t.equal(only(plan.actions, 'terminate').length, 1)
    matchList(t, plan.waits, [
      { subject: 'i-young', reason: /giving the engine 20s to notice/ },
      { subject: 'i-busy', reason: /still holds 1 shard/ },
    ])
    t.equal(plan.regions['us-east-1']!.draining, 3)
  })

  t.test('above the maximum, idle engines are drained without waiting for the cooldown', async (t) => {
    const plan = planReconcile(
      idleFleet(NOW),
      policy({ limits: { 'us-east-1': { min: 0, max: 1 }, 'eu-west-1': { min: 0, max: 0 } } }),
    )
    matchList(t, only(plan.actions, 'drain'), [{ instance: { id: 'i-a' }, reason: /above the maximum of 1/ }])
  })
})

t.test('garbage collection', async (t) => {
  t.test('an instance that never registers is terminated after the boot grace, not before', async (t) => {
    const young = planReconcile(
      observe({ instances: [instance('i-n', { launchTime: NOW - 9 * M })] }),
      policy(),
    )
    t.same(kinds(young.actions), [])
    matchList(t, young.waits, [{ subject: 'i-n', reason: /booting: launched 9m ago, boot grace 10m/ }])
    const old = planReconcile(
      observe({ instances: [instance('i-n', { launchTime: NOW - 11 * M })] }),
      policy(),
    )
    matchList(t, only(old.actions, 'terminate'), [
      { instance: { id: 'i-n', region: 'us-east-1' }, reason: /no engine registered within the boot grace/ },
    ])
  })

  t.test('a doc whose instance Describe does not show yet is left alone', async (t) => {
    const plan = planReconcile(
      observe({ engines: [engine('i-new', { startedAt: NOW - 10 * S, heartbeatAt: NOW - 2 * S })] }),
      policy(),
    )
    t.same(kinds(plan.actions), [])
    t.equal(plan.regions['us-east-1']!.live, 1, 'and it counts as capacity')
  })

  t.test(
    'a doc unknown to Describe is retired once silent past the grace, with its shards released',
    async (t) => {
      const shards = [
        shard('claimed', { state: 'claimed', engine: 'i-lost', leaseUntil: NOW + 10 * S }),
        shard('running', { state: 'running', engine: 'i-lost', leaseUntil: NOW + 10 * S }),
      ]
      const waiting = planReconcile(
        observe({ engines: [engine('i-lost', { heartbeatAt: NOW - 4 * M })], shards }),
        policy(),
      )
      t.same(kinds(waiting.actions), [])
      matchList(t, waiting.waits, [{ subject: 'i-lost', reason: /retired after 5m/ }])
      const plan = planReconcile(
        observe({ engines: [engine('i-lost', { heartbeatAt: NOW - 6 * M })], shards }),
        policy(),
      )
      matchList(t, only(plan.actions, 'retire-engine'), [
        { instanceId: 'i-lost', reason: /unknown to DescribeInstances and heartbeat silent for 6m/ },
      ])
      matchList(t, only(plan.actions, 'release-shard'), [
        { shard: 'claimed', from: 'claimed', to: 'queued', reason: /never started; engine i-lost retired/ },
        { shard: 'running', from: 'running', to: 'lost', reason: /engine i-lost retired/ },
      ])
      t.ok(
        only(plan.actions, 'launch').length === 1,
        'the requeued shard is demand again: a replacement is launched in the same plan',
      )
    },
  )

  t.test(
    'a terminated instance retires its doc at once; a shutting-down one waits for the drain',
    async (t) => {
      const plan = planReconcile(
        observe({
          instances: [
            instance('i-dead', { state: 'terminated', stateReason: 'Server.InternalError' }),
            instance('i-stopping', { state: 'shutting-down' }),
          ],
          engines: [engine('i-dead', { state: 'busy' }), engine('i-stopping', { state: 'draining' })],
          shards: [shard('s', { state: 'running', engine: 'i-dead', leaseUntil: NOW + 20 * S })],
        }),
        policy(),
      )
      matchList(t, only(plan.actions, 'retire-engine'), [
        { instanceId: 'i-dead', reason: 'instance terminated (Server.InternalError)' },
      ])
      matchList(t, only(plan.actions, 'release-shard'), [{ shard: 's', to: 'lost' }])
      matchList(t, plan.waits, [{ subject: 'i-stopping', reason: /may still be draining/ }])
    },
  )

  t.test('a stale heartbeat replaces the instance', async (t) => {
    const plan = planReconcile(
      observe({
        instances: [instance('i-hung')],
        engines: [engine('i-hung', { heartbeatAt: NOW - 2 * M })],
        shards: [
          shard('s', { state: 'running', engine: 'i-hung', leaseUntil: NOW + 5 * S, connections: 300 }),
        ],
      }),
      policy(),
    )
    t.same(kinds(plan.actions), ['terminate', 'retire-engine', 'release-shard'])
    t.match(plan.actions[0], { reason: /replacing: heartbeat silent for 2m \(stale after 1m 30s\)/ })
  })

  t.test('expired shard leases are released even when the engine doc lives on', async (t) => {
    const plan = planReconcile(
      observe({
        instances: [instance('i-a')],
        engines: [engine('i-a', { state: 'busy', inUse: 100 })],
        shards: [
          shard('fresh', { state: 'running', engine: 'i-a', leaseUntil: NOW - 10 * S }),
          shard('expired', { state: 'claimed', engine: 'i-a', leaseUntil: NOW - 40 * S }),
        ],
      }),
      policy(),
    )
    matchList(t, only(plan.actions, 'release-shard'), [
      { shard: 'expired', to: 'queued', reason: /lease of engine i-a expired 40s ago/ },
    ])
    t.equal(only(plan.actions, 'release-shard').length, 1)
  })

  t.test('a claimed shard whose pattern is over is lost, not requeued', async (t) => {
    const plan = planReconcile(
      observe({
        shards: [shard('s', { state: 'claimed', engine: 'i-gone', leaseUntil: NOW - M, endsAt: NOW - 1 })],
      }),
      policy(),
    )
    matchList(t, only(plan.actions, 'release-shard'), [{ to: 'lost', reason: /pattern is over/ }])
  })

  t.test('a queued shard nobody claimed before its end is marked lost', async (t) => {
    const plan = planReconcile(observe({ shards: [shard('s', { endsAt: NOW - M })] }), policy())
    matchList(t, only(plan.actions, 'release-shard'), [
      { from: 'queued', to: 'lost', reason: /no engine claimed it/ },
    ])
  })

  t.test('one terminate per instance however many rules ask', async (t) => {
    const plan = planReconcile(
      observe({
        instances: [
          instance('i-s', {
            tags: { [FLEET_TAG]: 'blue', [ROLE_TAG]: 'engine', [DRAIN_TAG]: String(NOW - M) },
          }),
        ],
        engines: [engine('i-s', { heartbeatAt: NOW - 10 * M })],
      }),
      policy(),
    )
    t.equal(only(plan.actions, 'terminate').length, 1)
  })
})

t.test('formatPlan says what and why, one line each', async (t) => {
  const plan = planReconcile(
    observe({ shards: [shard('s1')], instances: [instance('i-n', { launchTime: NOW - 11 * M })] }),
    policy({ regions: ['us-east-1'] }),
  )
  const text = formatPlan(plan).join('\n')
  t.match(text, /us-east-1: 0 live, 0 booting, 0 draining; 1 queued shard \(100 connections\); fleet 0 → 1/)
  t.match(text, /terminate i-n \(us-east-1\): no engine registered/)
  t.match(text, /launch 1 in us-east-1 \(generation 1\): 1 queued shard/)
  t.notOk(isEmptyPlan(plan))
  t.ok(isEmptyPlan(planReconcile(observe(), policy())))
})
