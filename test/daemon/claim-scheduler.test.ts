import t from 'tap'
import { ClaimScheduler, COLLECT_MS, RESCAN_SLACK_MS } from '../../daemon/claim-scheduler.js'
import { ManualClock } from '../../lib/clock.js'
import type { ShardDoc } from '../../lib/documents.js'

const shard = (id: string, of: number) => ({ _id: id, share: { index: 0, of } }) as ShardDoc

function scheduler(clock = new ManualClock(0)) {
  const flushes: string[][] = []
  const rescans: number[] = []
  const claims: ClaimScheduler = new ClaimScheduler({
    clock,
    onFlush: () => flushes.push(claims.take().map((s) => s._id)),
    onRescan: () => rescans.push(clock.now()),
  })
  return { clock, claims, flushes, rescans }
}

t.test(
  'a lone shard is claimed at once; a shard of a rush with several waits for its siblings',
  async (t) => {
    const lone = scheduler()
    lone.claims.candidate(shard('shard:a:0', 1))
    lone.clock.advance(0)
    t.same(lone.flushes, [['shard:a:0']], 'no collecting wait')

    const { clock, claims, flushes } = scheduler()
    claims.candidate(shard('shard:b:0', 3))
    clock.advance(COLLECT_MS - 1)
    claims.candidate(shard('shard:b:2', 3))
    t.same(flushes, [], 'still collecting')
    clock.advance(1)
    t.same(
      flushes,
      [['shard:b:0', 'shard:b:2']],
      `the siblings that arrived within ${COLLECT_MS} ms, together`,
    )
    claims.candidate(shard('shard:b:1', 3))
    claims.forget('shard:b:1')
    clock.advance(COLLECT_MS)
    t.same(flushes.length, 1, 'a candidate forgotten before the flush is not claimed')
  },
)

t.test('a deferred shard is looked at again when its deferral ends; the earliest rescan wins', async (t) => {
  const { clock, claims, rescans } = scheduler(new ManualClock(1000))
  claims.deferUntil(1300)
  claims.deferUntil(1500)
  t.equal(claims.rescanAt, 1300, 'a later deferral does not push the rescan back')
  claims.deferUntil(1200)
  t.equal(claims.rescanAt, 1200, 'an earlier one brings it forward')
  clock.advance(200 + RESCAN_SLACK_MS - 1)
  t.same(rescans, [], 'not before the deferral ends (plus the slack)')
  clock.advance(1)
  t.same(rescans, [1200 + RESCAN_SLACK_MS], 'one rescan, just after the deferral ended')
  clock.advance(10_000)
  t.same(rescans.length, 1, 'the replaced ones never fire')
  t.equal(claims.rescanAt, undefined)
})

t.test('stopped: no flush, no rescan', async (t) => {
  const { clock, claims, flushes, rescans } = scheduler()
  claims.candidate(shard('shard:c:0', 2))
  claims.deferUntil(100)
  claims.stop()
  claims.candidate(shard('shard:c:1', 1))
  claims.deferUntil(50)
  clock.advance(1000)
  t.same(flushes, [])
  t.same(rescans, [])
  t.equal(clock.pending, 0, 'no timer left')
})
