import t from 'tap'
import { dueWait, FINE_MS, SLEEP_SLICE_MS } from '../../load/due-wait.js'

t.test('far off: a timer that wakes FINE_MS early (it fires late, never early)', async (t) => {
  t.same(dueWait(10), { kind: 'timer', ms: Math.floor(10 - FINE_MS) })
  t.same(dueWait(1000), { kind: 'timer', ms: Math.floor(1000 - FINE_MS) })
  // Just past FINE_MS: a zero-delay timer (Node runs it on the next 1-ms tick), then polls.
  t.same(dueWait(FINE_MS + 0.2), { kind: 'timer', ms: 0 })
  for (const gap of [FINE_MS + 0.01, 2, 3.7, 50, 60_000]) {
    const wait = dueWait(gap)
    t.equal(wait.kind, 'timer', `${gap} ms away`)
    if (wait.kind === 'timer') {
      // Node's timers fire up to ~1 ms late: the wake-up must still come before the due time.
      t.ok(wait.ms + 1 < gap, `${gap} ms: a timer of ${wait.ms} ms leaves room for its lateness`)
      t.ok(gap - wait.ms <= FINE_MS + 1, `${gap} ms: and wakes within FINE_MS + 1 ms of it`)
    }
  }
})

t.test('close: turns of the event loop, sleeping at most a slice, never past the due time', async (t) => {
  t.same(dueWait(FINE_MS), { kind: 'poll', sleepMs: SLEEP_SLICE_MS })
  t.same(
    dueWait(SLEEP_SLICE_MS / 2),
    { kind: 'poll', sleepMs: SLEEP_SLICE_MS / 2 },
    'up to the due time only',
  )
  t.same(dueWait(0), { kind: 'poll', sleepMs: 0 }, 'due now: no sleep')
  t.same(dueWait(-3), { kind: 'poll', sleepMs: 0 }, 'overdue: no sleep')
  for (let gap = 0.001; gap <= FINE_MS; gap += 0.037) {
    const wait = dueWait(gap)
    t.ok(
      wait.kind === 'poll' && wait.sleepMs <= gap && wait.sleepMs <= SLEEP_SLICE_MS,
      `${gap.toFixed(3)} ms away`,
    )
  }
})
