import { arrivalTime, levelAt, shareCount } from '../lib/pattern.js'
import { DEFAULT_MAX_IN_FLIGHT } from '../lib/workload.js'
import { connectionGrowth, mayOpen } from './connection-growth.js'
import { dueWait } from './due-wait.js'
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
 * When requests are sent: a timer brings the schedule close to the next due time and turns
 * of the event loop take it the rest of the way (load/due-wait.ts: Node's timers fire up to
 * 1 ms late, and every millisecond of send lag is a millisecond of latency, since latency
 * counts from the due time). The schedule is also checked after every answer (cheap: one
 * clock read), so at high rates a due request goes out at the next I/O event.
 *
 * Connections for the first milliseconds are opened before the start (PREOPEN_MS of the
 * starting rate): otherwise every request of the first milliseconds opens one, and at
 * high rates the connects (tens of µs of CPU each) delay the sends, which opens more.
 */
/** Milliseconds of the starting rate whose connections open before the start. */
const PREOPEN_MS = 5
const PREOPEN_MAX = 1000
/** What Atomics.wait sleeps on (nothing ever notifies it: only its timeout ends a sleep). */
const sleeper = new Int32Array(new SharedArrayBuffer(4))

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

  /** Bounds connect storms (load/connection-growth.ts). */
  const growth = connectionGrowth()
  /**
   * How long the event loop last took to come back to the schedule (a queued turn, or a
   * timer past its time and Node's usual 1 ms): more than BEHIND_MS means the process is
   * busy, not the target slow (load/connection-growth.ts).
   */
  let loopLag = 0
  let pollQueuedAt = 0
  /** Due times of requests waiting for a connection (oldest first). */
  const waiting: number[] = []
  let waitingHead = 0

  const context = setup.context((exchange) => {
    inFlight--
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
   * A free connection, or a new one while the growth allowance lasts; null: the request
   * waits for the first connection free (or the next window's allowance).
   */
  const connection = (now: number): LoadExchange | null => {
    const free = idle.pop()
    if (free) return free
    if (!mayOpen(growth, inFlight + idle.length, loopLag, now)) return null
    return newExchange(context)
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

  /** A turn of the event loop is queued to check the due time (see load/due-wait.ts). */
  let polling = false
  const poll = () => {
    polling = false
    if (stopping) return
    let now = performance.now()
    loopLag = now - pollQueuedAt
    const wait = dueWait(dueAt - now)
    // No sleep while requests wait for a connection: the answer that frees one is I/O.
    if (wait.kind === 'poll' && wait.sleepMs > 0 && waitingHead === waiting.length) {
      Atomics.wait(sleeper, 0, 0, wait.sleepMs)
      now = performance.now()
    }
    if (now >= dueAt) pump()
    else arm(now)
  }

  /** Waits for the next due time: a timer while it is far off, turns of the loop when close. */
  const arm = (now: number) => {
    const wait = dueWait(dueAt - now)
    if (wait.kind === 'poll') {
      if (!polling) {
        polling = true
        pollQueuedAt = now
        setImmediate(poll)
      }
      return
    }
    // An earlier timer already armed will do: it re-arms.
    const at = now + wait.ms
    if (timer !== undefined && timerAt <= at) return
    if (timer !== undefined) clearTimeout(timer)
    timerAt = at
    timer = setTimeout(wake, wait.ms)
  }

  const wake = () => {
    loopLag = Math.max(0, performance.now() - timerAt - 1)
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
