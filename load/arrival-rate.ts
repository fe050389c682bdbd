import { arrivalTime, levelAt, shareCount } from '../lib/pattern.js'
import { DEFAULT_MAX_IN_FLIGHT } from '../lib/workload.js'
import { type LoadExchange, newExchange } from './exchange.js'
import type { ModelSetup, RunningModel } from './model.js'

/**
 * The open model: requests arrive on a ramped schedule whether or not earlier ones have
 * answered. Latency counts from each request's due time, not from when it could be sent,
 * so a slow target cannot hide its queueing (no coordinated omission). Requests due while
 * this process's share of the in-flight cap is used up are counted as dropped, not sent
 * late and not hidden. Request number k of the whole run belongs to the share whose index
 * is k modulo the share count.
 *
 * When requests are sent: a timer wakes the schedule at the next due time, but Node's
 * timers wake a millisecond late or more (1 ms granularity), which alone would send most
 * requests up to ~1 ms after they were due at high rates. So the schedule is also checked
 * after every answer (cheap: one clock read): at high rates answers arrive far more often
 * than every millisecond, and a due request goes out at the next I/O event instead of
 * the next timer tick. No spinning: an idle process still sleeps until its timer.
 *
 * Connections for the first milliseconds are opened before the start (PREOPEN_MS of the
 * starting rate): otherwise every request of the first milliseconds opens one, and at
 * high rates the connects (tens of µs of CPU each) delay the sends, which opens more.
 */
/** Milliseconds of the starting rate whose connections open before the start. */
const PREOPEN_MS = 5
const PREOPEN_MAX = 1000
/** Connections at most opening at once, and how long one counts as opening (see `opening`). */
const MAX_OPENING = 64
const OPENING_MS = 10

export function startArrivalRate(setup: ModelSetup): RunningModel {
  const { job, startPerf, recorder, observer } = setup
  const cap = Math.max(1, shareCount(job.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT, job.share))
  const idle: LoadExchange[] = []
  let inFlight = 0
  let k = job.share.index
  let due = arrivalTime(job.pattern, k)
  /** `performance.now()` time the next request is due; Infinity when none is left. */
  let dueAt = due === undefined ? Number.POSITIVE_INFINITY : startPerf + due * 1000
  let stopping = false
  let cutShort = false
  let timer: NodeJS.Timeout | undefined
  /** When the armed timer fires. */
  let timerAt = Number.POSITIVE_INFINITY
  let settle: () => void
  const done = new Promise<void>((resolve) => {
    settle = resolve
  })

  /**
   * Connections opened in the last OPENING_MS that have not answered their first request
   * yet, with when they were opened (pruned when full): a bound on connect storms. A hiccup (a start-up compile, a busy machine) makes requests pile up; opening
   * one connection for each costs more CPU than their spacing at high rates, which delays
   * the answers that would free connections, which opens more: the first second of a
   * 20,000/s run opened 10,000 and dropped the rest. Past MAX_OPENING, a due request
   * waits for the first connection free (or a slot to open one) instead; its latency and
   * send lag count from its due time all the same (no coordinated omission). Against a slow
   * target, connections still grow by MAX_OPENING every OPENING_MS (6,400 a second).
   */
  const opening = new Map<LoadExchange, number>()
  /** Due times of requests waiting for a connection (oldest first). */
  const waiting: number[] = []
  let waitingHead = 0

  const context = setup.context((exchange) => {
    inFlight--
    opening.delete(exchange)
    if (stopping && waitingHead === waiting.length) {
      recorder.concurrency(inFlight)
      exchange.close()
      if (inFlight === 0) finish()
      return
    }
    if (waitingHead < waiting.length) {
      // The oldest waiting request takes this connection; its latency counts from its due time.
      const due = waiting[waitingHead++]!
      if (waitingHead === waiting.length) waiting.length = waitingHead = 0
      const now = performance.now()
      inFlight++
      observer?.sendLag(now - due)
      exchange.send(now, due)
      return
    }
    idle.push(exchange)
    if (performance.now() >= dueAt) pump()
    else recorder.concurrency(inFlight)
  })

  /**
   * A free connection, or a new one while fewer than MAX_OPENING are opening; null: the
   * request waits for the first connection free (or a slot to open one).
   */
  const connection = (now: number): LoadExchange | null => {
    const free = idle.pop()
    if (free) return free
    if (opening.size >= MAX_OPENING) {
      for (const [exchange, openedAt] of opening) if (now - openedAt >= OPENING_MS) opening.delete(exchange)
    }
    if (opening.size >= MAX_OPENING) return null
    const fresh = newExchange(context)
    opening.set(fresh, now)
    return fresh
  }

  const pump = () => {
    const woke = performance.now()
    recorder.roll(woke)
    let now = woke
    // Requests that waited for a connection go first, oldest first.
    while (waitingHead < waiting.length) {
      const exchange = connection(now)
      if (!exchange) break
      const waited = waiting[waitingHead++]!
      inFlight++
      observer?.sendLag(now - waited)
      exchange.send(now, waited)
      now = performance.now()
    }
    if (waitingHead === waiting.length) waiting.length = waitingHead = 0
    // Only what was due when it woke: sends take time (a new connection tens of µs), and a
    // loop that chased the clock would never yield to the I/O that frees connections.
    while (dueAt <= woke) {
      if (inFlight + waiting.length - waitingHead < cap) {
        const exchange = waitingHead < waiting.length ? null : connection(now)
        if (exchange) {
          inFlight++
          observer?.sendLag(now - dueAt)
          exchange.send(now, dueAt)
          // Each request of a batch sees the clock it went out at.
          now = performance.now()
        } else waiting.push(dueAt)
      } else {
        recorder.dropped(now)
      }
      k += job.share.of
      due = arrivalTime(job.pattern, k)
      dueAt = due === undefined ? Number.POSITIVE_INFINITY : startPerf + due * 1000
    }
    recorder.concurrency(inFlight)
    if (due === undefined) stop(false)
    else arm(now)
  }

  /** Keeps a timer for the next due time (an earlier one already armed will do: it re-arms). */
  const arm = (now: number) => {
    if (timer !== undefined && timerAt <= dueAt) return
    if (timer !== undefined) clearTimeout(timer)
    timerAt = dueAt
    timer = setTimeout(wake, Math.max(0, dueAt - now))
  }

  const wake = () => {
    timer = undefined
    timerAt = Number.POSITIVE_INFINITY
    if (!stopping) pump()
  }

  const finish = () => {
    recorder.finish(cutShort)
    for (const exchange of idle) exchange.destroy()
    idle.length = 0
    settle()
  }

  const stop = (early: boolean) => {
    if (stopping) return
    stopping = true
    cutShort = early
    if (early) {
      // Cut short: what still waited for a connection is not sent.
      const now = performance.now()
      for (let i = waitingHead; i < waiting.length; i++) recorder.dropped(now)
      waiting.length = waitingHead = 0
    }
    if (timer) clearTimeout(timer)
    timer = undefined
    for (const exchange of idle) exchange.close()
    idle.length = 0
    if (inFlight === 0) finish()
  }

  if (due === undefined) queueMicrotask(() => stop(false))
  else {
    const preopen = Math.min(
      cap,
      PREOPEN_MAX,
      Math.ceil((shareCount(levelAt(job.pattern, 0), job.share) * PREOPEN_MS) / 1000),
    )
    for (let i = 0; i < preopen; i++) {
      const exchange = newExchange(context)
      if (!exchange.preconnect) break
      exchange.preconnect()
      idle.push(exchange)
    }
    arm(performance.now())
  }
  return { stop: () => stop(true), done }
}
