import t from 'tap'
import { DrainDeadline } from '../../daemon/drain.js'
import { ManualClock } from '../../lib/clock.js'

const never = () => new Promise<void>(() => {})

t.test('the drain waits for the work until the deadline, on the clock', async (t) => {
  const clock = new ManualClock(0)
  const drain = new DrainDeadline(clock, 30_000, 'SIGTERM')
  t.equal(drain.deadline, 30_000)
  const pending = never()
  let done = false
  const waiting = drain
    .wait(() => pending)
    .then(() => {
      done = true
    })
  await clock.advanceAsync(29_999)
  t.notOk(done, 'still waiting 1 ms before the deadline')
  t.equal(drain.leftMs, 1)
  await clock.advanceAsync(1)
  await waiting
  t.ok(done, 'returns at the deadline although the work goes on')
  t.equal(clock.pending, 0, 'and leaves no timer')
})

t.test('work that ends first ends the wait; the deadline only moves closer', async (t) => {
  const clock = new ManualClock(0)
  const drain = new DrainDeadline(clock, 30_000, 'SIGTERM')
  let finish!: () => void
  let working = true
  const work = new Promise<void>((resolve) => {
    finish = () => {
      working = false
      resolve()
    }
  })
  const waiting = drain.wait(() => (working ? work : undefined))
  await clock.advanceAsync(1000)
  t.notOk(drain.closer(60_000, 'later'), 'a later bound is ignored')
  t.equal(drain.deadline, 30_000)
  t.equal(drain.reason, 'SIGTERM')
  finish()
  await waiting
  t.equal(clock.now(), 1000, 'returned when the work ended, not at the deadline')
})

t.test('a second signal moves the deadline to now and wakes the wait', async (t) => {
  const clock = new ManualClock(0)
  const drain = new DrainDeadline(clock, 30_000, 'SIGTERM')
  const waiting = drain.wait(never)
  await clock.advanceAsync(5000)
  t.ok(drain.closer(0, 'SIGTERM again'))
  await waiting
  t.equal(clock.now(), 5000, 'no time passed: woken, not timed out')
  t.equal(drain.reason, 'SIGTERM again')
  t.equal(drain.leftMs, 0)
})
