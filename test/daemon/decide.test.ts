import t from 'tap'
import {
  claimOrder,
  claimState,
  decideShard,
  type EngineView,
  headStartMs,
  LATE_CLAIM_MS,
  SPREAD,
  spreadUntil,
} from '../../daemon/decide.js'
import type { ShardDoc } from '../../lib/documents.js'

const shard = (overrides: Partial<ShardDoc> = {}): ShardDoc =>
  ({
    _id: 'shard:r:0',
    rush: 'r',
    region: 'a',
    state: 'queued',
    connections: 10,
    startAt: 1000,
    pattern: [{ start: 1, end: 1, duration: 10 }],
    ...overrides,
  }) as ShardDoc
const view = (overrides: Partial<EngineView> = {}): EngineView => ({
  instanceId: 'e1',
  region: 'a',
  running: new Set(),
  held: new Map(),
  free: 100,
  aborted: new Set(),
  draining: false,
  now: 0,
  ...overrides,
})

t.test('a queued shard of its region with room is claimed', async (t) => {
  t.same(decideShard(shard(), view()), { kind: 'claim' })
})

t.test('reasons not to claim', async (t) => {
  t.match(decideShard(shard({ state: 'claimed', engine: 'e2' }), view()), {
    kind: 'ignore',
    reason: /claimed/,
  })
  t.match(decideShard(shard({ region: 'b' }), view()), { kind: 'ignore', reason: /for b/ })
  t.match(decideShard(shard(), view({ free: 9 })), { kind: 'ignore', reason: /needs 10/ })
  t.match(decideShard(shard(), view({ aborted: new Set(['r']) })), { kind: 'ignore', reason: /aborted/ })
  t.match(decideShard(shard(), view({ draining: true })), { kind: 'ignore', reason: /draining/ })
  t.same(
    decideShard(shard(), view({ now: 11_000 })),
    { kind: 'claim' },
    'ended, but within LATE_CLAIM_MS: run late, from a later second',
  )
  t.match(decideShard(shard(), view({ now: 11_000 + LATE_CLAIM_MS })), {
    kind: 'ignore',
    reason: /past its end/,
  })
})

t.test('a running shard stops when aborted or held by another engine', async (t) => {
  const running = view({ running: new Set(['shard:r:0']) })
  t.same(decideShard(shard({ state: 'aborted' }), running), { kind: 'stop', reason: 'aborted' })
  t.match(decideShard(shard({ state: 'running', engine: 'e2' }), running), { kind: 'stop', reason: /e2/ })
  t.match(decideShard(shard({ state: 'running', engine: 'e1' }), running), { kind: 'ignore' })
})

t.test('an engine holding a shard of a rush leaves the others to other engines for a while', async (t) => {
  // Claimed its first shard at 0; the rush starts at 1000: it waits the longest, 300 ms.
  const holding = (now: number) => view({ held: new Map([['r', 0]]), now })
  t.same(decideShard(shard(), holding(0)), {
    kind: 'defer',
    until: 300,
    reason: 'holds a shard of this rush: leaving the others to other engines',
  })
  t.match(decideShard(shard(), holding(299)), { kind: 'defer', until: 300 })
  t.same(decideShard(shard(), holding(300)), { kind: 'claim' }, 'nobody took it: it takes it itself')
  t.same(decideShard(shard({ rush: 'other' }), holding(0)), { kind: 'claim' }, 'another rush is not deferred')
  // Other reasons come first: a deferred shard that no longer fits is ignored.
  t.match(decideShard(shard(), view({ held: new Map([['r', 0]]), free: 5 })), { kind: 'ignore' })
})

t.test('the wait shrinks near the start, but never below the shortest', async (t) => {
  t.equal(spreadUntil(0, 10_000), SPREAD.longestMs, 'far from the start: the longest wait')
  t.equal(spreadUntil(0, 400), 150, 'until 250 ms before the start')
  t.equal(spreadUntil(0, 300), SPREAD.shortestMs, 'close to the start: the shortest wait')
  t.equal(spreadUntil(5000, 1000), 5000 + SPREAD.shortestMs, 'a late rush: the shortest wait')
  // A rush starting at 400, first shard claimed at 0: the rest are taken at 150, before the start.
  const holding = view({ held: new Map([['r', 0]]), now: 150 })
  t.same(decideShard(shard({ startAt: 400 }), holding), { kind: 'claim' })
})

t.test('engines try a batch of shards in different orders', async (t) => {
  const shards = [0, 1, 2, 3].map((n) => ({ _id: `shard:r:${n}` }))
  const first = (engine: string) => claimOrder(engine, shards)[0]!._id
  t.same(
    claimOrder('e1', shards),
    claimOrder('e1', [...shards].reverse()),
    'the order depends on the ids only',
  )
  t.same(
    claimOrder('e1', shards)
      .map((s) => s._id)
      .sort(),
    shards.map((s) => s._id),
    'every shard, once',
  )
  const firsts = new Set(['i-1', 'i-2', 'i-3', 'i-4', 'i-5', 'i-6', 'i-7', 'i-8'].map(first))
  t.ok(firsts.size >= 3, `eight engines start with ${firsts.size} different shards of four`)
})

t.test('a claim within the head start writes running directly', async (t) => {
  t.equal(headStartMs(0), 250)
  t.equal(headStartMs(2), 3000)
  t.equal(headStartMs('auto'), 3000)
  t.equal(headStartMs('auto', true), 500, 'load processes kept ready: no fork to wait for')
  t.equal(headStartMs(2, true), 500)
  t.equal(headStartMs(0, true), 250, 'in process: no pool')
  t.equal(claimState(1000, 0, 20), 'claimed', 'starts in a second: claimed, running written later')
  t.equal(claimState(1000, 980, 20), 'running')
  t.equal(claimState(1000, 5000, 20), 'running', 'late: running at once')
  t.equal(claimState(1000, 0, 1500), 'running', 'load processes: within 1.5 s')
})
