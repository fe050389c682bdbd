import t from 'tap'
import { type DueTarget, DueTimer } from '../../load/due-timer.js'
import { FINE_MS } from '../../load/due-wait.js'

/** A target that re-arms until its due time has come, as the open models do. */
function target(dueAt: number, maySleep = true) {
  const calls: number[] = []
  let settle: (at: number) => void
  const reached = new Promise<number>((resolve) => {
    settle = resolve
  })
  const self: DueTarget & { timer?: DueTimer } = {
    due() {
      const now = performance.now()
      calls.push(now)
      if (now >= dueAt) settle(now)
      else self.timer!.arm(dueAt, now)
    },
    maySleep: () => maySleep,
  }
  const timer = new DueTimer(self)
  self.timer = timer
  return { timer, calls, reached }
}

t.test(
  'far off: a timer brings it close, then turns of the loop; the target runs once it is due',
  async (t) => {
    const dueAt = performance.now() + 30
    const { timer, calls, reached } = target(dueAt)
    timer.arm(dueAt, performance.now())
    const at = await reached
    t.ok(at >= dueAt, 'never before the due time')
    // The timer wakes FINE_MS early on purpose (and libuv's cached loop time can make it up
    // to 1 ms earlier still: one more short timer); the rest is turns of the loop, which
    // check the time themselves — the target hears only from timers and the turn that found it due.
    t.ok(calls.length <= 3, `${calls.length} calls to the target`)
    t.ok(timer.loopLag >= 0)
  },
)

t.test(
  'close already: no timer, turns of the loop until due (also when sleeping is not allowed)',
  async (t) => {
    for (const maySleep of [true, false]) {
      const dueAt = performance.now() + FINE_MS / 2
      const { timer, calls, reached } = target(dueAt, maySleep)
      timer.arm(dueAt, performance.now())
      const at = await reached
      t.ok(at >= dueAt, `due (maySleep ${maySleep})`)
      t.equal(calls.length, 1, 'the target heard once: the turns checked the time themselves')
    }
  },
)

t.test('a later arm does not replace an earlier timer; stop silences it', async (t) => {
  const dueAt = performance.now() + 20
  const { timer, reached } = target(dueAt)
  timer.arm(dueAt, performance.now())
  // A later due time while an earlier timer is armed: the earlier one stays and re-arms.
  timer.arm(dueAt + 200, performance.now())
  const at = await reached
  t.ok(at < dueAt + 200, 'woken for the earlier due time')

  const silent = target(performance.now() + 5)
  silent.timer.arm(performance.now() + 5, performance.now())
  silent.timer.stop()
  // A later timer of our own that fires after the stopped one would have: it must not have called.
  await new Promise((resolve) => setTimeout(resolve, 30))
  t.same(silent.calls, [], 'stopped: never called')
})
