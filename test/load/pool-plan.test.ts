import t from 'tap'
import {
  forksToMake,
  keepReturned,
  type PoolCounts,
  planTake,
  RESPAWN_MAX_DELAY_MS,
  respawnDelayMs,
} from '../../load/pool-plan.js'

const counts = (over: Partial<PoolCounts> = {}): PoolCounts => ({
  size: 2,
  idle: 0,
  warming: 0,
  lent: 0,
  closing: false,
  ...over,
})

t.test('forksToMake: up to the size, lent and warming processes counted, none while closing', async (t) => {
  t.equal(forksToMake(counts()), 2, 'an empty pool forks its size')
  t.equal(forksToMake(counts({ idle: 1 })), 1, 'one died: one more')
  t.equal(forksToMake(counts({ warming: 2 })), 0, 'forked and loading: no more')
  t.equal(forksToMake(counts({ lent: 2 })), 0, 'lent to a run: they come back, no more meanwhile')
  t.equal(forksToMake(counts({ lent: 1, idle: 0 })), 1, 'a lent one and none else: one more')
  t.equal(forksToMake(counts({ lent: 3 })), 0, 'more than the size (cold extras): none')
  t.equal(forksToMake(counts({ closing: true })), 0, 'closing: none')
})

t.test('planTake: idle processes first, the rest forked for the run', async (t) => {
  t.same(planTake(2, 2), { warm: 2, cold: 0 }, 'enough idle: no fork on the start path')
  t.same(planTake(1, 2), { warm: 1, cold: 0 }, 'a small shard takes one')
  t.same(planTake(3, 2), { warm: 2, cold: 1 }, 'a big shard forks what the pool lacks')
  t.same(planTake(2, 0), { warm: 0, cold: 2 }, 'all lent elsewhere: forked as without a pool')
})

t.test('keepReturned: a clean process is kept while the pool has room', async (t) => {
  t.equal(keepReturned(counts({ lent: 2 }), true), true, 'back after its run')
  t.equal(keepReturned(counts({ lent: 2 }), false), false, 'its job failed: retired')
  t.equal(keepReturned(counts({ lent: 3 }), true), false, 'a cold extra beyond the size: retired')
  t.equal(keepReturned(counts({ idle: 1, lent: 1 }), true), true, 'the second of two back')
  t.equal(keepReturned(counts({ idle: 2, lent: 1 }), true), false, 'full already')
  t.equal(keepReturned(counts({ lent: 1, closing: true }), true), false, 'closing: retired')
})

t.test('respawnDelayMs: killed now and then, at once; dying young in a loop, backing off', async (t) => {
  const now = 100_000
  t.equal(respawnDelayMs([], now), 0)
  t.equal(respawnDelayMs([now - 1000, now - 500], now), 0, 'two young deaths are tolerated')
  t.equal(respawnDelayMs([now - 3, now - 2, now - 1], now), 1000, 'a third: 1 s')
  t.equal(respawnDelayMs([now - 4, now - 3, now - 2, now - 1], now), 2000, 'a fourth: 2 s')
  t.equal(respawnDelayMs(Array(20).fill(now - 1), now), RESPAWN_MAX_DELAY_MS, 'capped')
  t.equal(respawnDelayMs([now - 20_000, now - 15_000, now - 11_000], now), 0, 'old deaths are forgotten')
})
