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

  const context = setup.context((exchange) => {
    inFlight--
    if (stopping) {
      recorder.concurrency(inFlight)
      exchange.close()
      if (inFlight === 0) finish()
      return
    }
    idle.push(exchange)
    if (performance.now() >= dueAt) pump()
    else recorder.concurrency(inFlight)
  })

  const pump = () => {
    const woke = performance.now()
    recorder.roll(woke)
    let now = woke
    // Only what was due when it woke: sends take time (a new connection tens of µs), and a
    // loop that chased the clock would never yield to the I/O that frees connections.
    while (dueAt <= woke) {
      if (inFlight < cap) {
        let exchange = idle.pop()
        if (!exchange) exchange = newExchange(context)
        inFlight++
        observer?.sendLag(now - dueAt)
        exchange.send(now, dueAt)
        // Each request of a batch sees the clock it went out at.
        now = performance.now()
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
