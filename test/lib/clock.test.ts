import t from 'tap'
import { ManualClock, sleepOn } from '../../lib/clock.js'

t.test('a manual clock fires timers in time order, each at its own time, only when moved', async (t) => {
  const clock = new ManualClock(1000)
  const fired: Array<[string, number]> = []
  clock.after(30, () => fired.push(['b', clock.now()]))
  clock.after(10, () => fired.push(['a', clock.now()]))
  clock.after(30, () => fired.push(['c', clock.now()]))
  const cancelled = clock.after(20, () => fired.push(['never', clock.now()]))
  cancelled.cancel()
  t.same(fired, [], 'nothing fires before the clock moves')
  clock.advance(25)
  t.same(fired, [['a', 1010]])
  t.equal(clock.now(), 1025, 'ends where it was moved to')
  clock.advance(5)
  t.same(
    fired,
    [
      ['a', 1010],
      ['b', 1030],
      ['c', 1030],
    ],
    'ties fire in the order they were set',
  )
  t.equal(clock.pending, 0)
})

t.test('a repeating timer fires once per period, however far the clock moves', async (t) => {
  const clock = new ManualClock(0)
  const at: number[] = []
  const timer = clock.every(100, () => at.push(clock.now()))
  clock.advance(350)
  t.same(at, [100, 200, 300])
  timer.cancel()
  clock.advance(1000)
  t.same(at, [100, 200, 300], 'cancelled: no more')
})

t.test('sleepOn waits on the clock, or until aborted', async (t) => {
  const clock = new ManualClock(0)
  let woke = false
  const sleeping = sleepOn(clock, 50).then(() => {
    woke = true
  })
  await clock.advanceAsync(49)
  t.notOk(woke, 'not before its time')
  await clock.advanceAsync(1)
  await sleeping
  t.ok(woke)
  const abort = new AbortController()
  const aborted = sleepOn(clock, 1_000_000, abort.signal)
  abort.abort()
  await aborted
  t.equal(clock.pending, 0, 'an aborted sleep leaves no timer behind')
})
