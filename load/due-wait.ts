/**
 * How the open model waits for its next due time. Node's timers have 1-ms granularity and
 * fire up to ~1 ms late (libuv's loop clock is in whole milliseconds), which alone would
 * send requests up to ~1 ms after they were due: at 20,000 requests/s the send lag's p99
 * was 1.05 ms with the timer alone, and latency counts from the due time, so every
 * millisecond of lag is a millisecond added to what the user reads.
 *
 * So the timer only brings the schedule to within FINE_MS of the due time; from there it
 * polls: one turn of the event loop at a time (setImmediate, so answers are still read
 * between turns), each turn sleeping at most SLEEP_SLICE_MS (Atomics.wait: a futex with a
 * sub-millisecond timeout) instead of spinning a core. A sleep holds the event loop: an
 * answer that arrives during one is read up to SLEEP_SLICE_MS (plus the kernel's timer slack,
 * 50 µs by default) late, which bounds the error it adds to a latency. Spinning instead
 * would add none but burn a core at any rate above 1,000/s; the timer alone adds up to 1 ms.
 */
export const FINE_MS = 1.5
export const SLEEP_SLICE_MS = 0.1

export type DueWait =
  /** Far off: a timer that wakes FINE_MS before the due time (it fires late, never early). */
  | { kind: 'timer'; ms: number }
  /** Close: a turn of the event loop, after sleeping `sleepMs` (0: none). */
  | { kind: 'poll'; sleepMs: number }

/** How to wait for a due time `gapMs` from now (≤ 0: due already, a turn with no sleep). */
export function dueWait(gapMs: number): DueWait {
  if (gapMs > FINE_MS) return { kind: 'timer', ms: Math.floor(gapMs - FINE_MS) }
  return { kind: 'poll', sleepMs: gapMs > 0 ? Math.min(gapMs, SLEEP_SLICE_MS) : 0 }
}
