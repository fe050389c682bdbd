import { levelAt, shareCount } from '../lib/pattern.js'
import type { LoadJob } from './job.js'

/**
 * How fast the open model may open connections. Opening one costs tens of microseconds of
 * CPU on each side (a socket, a connect, an accept, the address policy), more than the
 * spacing of requests at high rates. A hiccup (a start-up compile, a collection, a busy
 * machine) leaves requests due with every connection busy; opening one for each made the
 * hiccup longer, which left more due: at 20,000/s the first 300 ms opened 1,300–1,900
 * connections where ~10 are in flight in steady state, with send lags of 40–110 ms.
 *
 * So new connections open at most an allowance per GROWTH_WINDOW_MS. While the process
 * keeps to its schedule (its event loop comes back within BEHIND_MS: requests wait because
 * the target holds the connections), the allowance grows with the connections already open (1/8 of them): a slow
 * target's pool grows ~12% per window, 100 to 20,000 connections in about half a second.
 * While the process itself is behind (its loop came back late: a collection, a compile, a
 * busy machine — answers then wait unread, so a request's wait says nothing of the target), more connections would only cost more CPU — on a busy machine a connect cost
 * ~300 µs, and opening the minimum of 8 per window took a quarter of the process's CPU — so
 * the allowance drops to one per window and the requests due wait for the connections there
 * are, which answer within a millisecond from a fast target. A request that waits for a connection keeps its
 * due time: its latency and send lag count from it (no coordinated omission).
 */
export const GROWTH_WINDOW_MS = 10
export const MIN_OPEN_PER_WINDOW = 8
/** The allowance of a process behind its schedule. */
export const BEHIND_OPEN_PER_WINDOW = 1
/** The allowance of a process on schedule: this share of the connections open. */
export const GROWTH_SHARE = 1 / 8
/** How long the event loop may take to come back for the process to count as on schedule. */
export const BEHIND_MS = 2

export interface ConnectionGrowth {
  /** Start of the current window (`performance.now()` time). */
  windowStart: number
  /** Connections opened in the current window. */
  opened: number
}

export function connectionGrowth(): ConnectionGrowth {
  return { windowStart: Number.NEGATIVE_INFINITY, opened: 0 }
}

/**
 * Whether one more connection may open at `now` with `connections` open, the process's
 * event loop having last come back to the schedule `loopLagMs` late; counts it if so.
 */
export function mayOpen(
  growth: ConnectionGrowth,
  connections: number,
  loopLagMs: number,
  now: number,
): boolean {
  if (now - growth.windowStart >= GROWTH_WINDOW_MS) {
    growth.windowStart = now
    growth.opened = 0
  }
  const allowance =
    loopLagMs > BEHIND_MS
      ? BEHIND_OPEN_PER_WINDOW
      : Math.max(MIN_OPEN_PER_WINDOW, Math.floor(connections * GROWTH_SHARE))
  if (growth.opened >= allowance) return false
  growth.opened++
  return true
}

/** Milliseconds of the starting rate whose connections open before the start. */
export const PREOPEN_MS = 5
export const PREOPEN_MAX = 1000

/**
 * How many connections an open model opens before its start (a transaction's: visitors,
 * each a connection): PREOPEN_MS of this share's starting rate, within its in-flight `cap`.
 * Otherwise every request of the first milliseconds opens one, and at high rates the
 * connects (tens of µs of CPU each) delay the sends, which opens more.
 */
export function preopenCount(job: Pick<LoadJob, 'pattern' | 'share'>, cap: number): number {
  return Math.min(
    cap,
    PREOPEN_MAX,
    Math.ceil((shareCount(levelAt(job.pattern, 0), job.share) * PREOPEN_MS) / 1000),
  )
}
