import t from 'tap'
import { decideShard, type EngineView } from '../../daemon/decide.js'
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
  t.match(decideShard(shard(), view({ now: 11_000 })), { kind: 'ignore', reason: /past its end/ })
})

t.test('a running shard stops when aborted or held by another engine', async (t) => {
  const running = view({ running: new Set(['shard:r:0']) })
  t.same(decideShard(shard({ state: 'aborted' }), running), { kind: 'stop', reason: 'aborted' })
  t.match(decideShard(shard({ state: 'running', engine: 'e2' }), running), { kind: 'stop', reason: /e2/ })
  t.match(decideShard(shard({ state: 'running', engine: 'e1' }), running), { kind: 'ignore' })
})
