import { shareCount } from '../lib/pattern.js'
import { DEFAULT_MAX_IN_FLIGHT } from '../lib/workload.js'
import { ArrivalSchedule } from './arrival-schedule.js'
import { connectionGrowth, mayOpen, preopenCount } from './connection-growth.js'
import { DueQueue } from './due-queue.js'
import { type DueTarget, DueTimer } from './due-timer.js'
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
 * of the event loop take it the rest of the way (load/due-timer.ts, load/due-wait.ts: Node's timers fire up to
 * 1 ms late, and every millisecond of send lag is a millisecond of latency, since latency
 * counts from the due time). The schedule is also checked after every answer (cheap: one
 * clock read), so at high rates a due request goes out at the next I/O event.
 *
 * Connections for the first milliseconds are opened before the start (`preopenCount`,
 * load/connection-growth.ts).
 */

export function startArrivalRate(setup: ModelSetup): RunningModel {
  const run = new ArrivalRateRun(setup)
  return { stop: () => run.stop(true), done: run.done }
}

/**
 * One run of the open model. A class, not closures: a process runs many models (an engine's
 * load process, one shard after another), and V8's optimized code for a closure assumes the
 * closures it calls are the ones it saw — each new run's closures deoptimized `pump` and
 * its callers at the start of every run (`--trace-deopt`: "wrong call target"), compiling
 * again just when the schedule needs the CPU. Methods are the same functions in every run.
 */
class ArrivalRateRun implements DueTarget {
  readonly done: Promise<void>
  readonly #recorder: ModelSetup['recorder']
  readonly #observer: ModelSetup['observer']
  readonly #cap: number
  readonly #context: ReturnType<ModelSetup['context']>
  readonly #idle: LoadExchange[] = []
  #inFlight = 0
  /** The next request due (`dueAt`, Infinity when none is left). */
  readonly #schedule: ArrivalSchedule
  #stopping = false
  #cutShort = false
  #settle!: () => void
  /**
   * Wakes the run at the next due time; its `loopLag` above BEHIND_MS means this process is
   * busy, not the target slow (load/connection-growth.ts).
   */
  readonly #clock: DueTimer = new DueTimer(this)
  /** Bounds connect storms (load/connection-growth.ts). */
  readonly #growth = connectionGrowth()
  /** Due times of requests waiting for a connection (oldest first). */
  readonly #waiting = new DueQueue()

  constructor(setup: ModelSetup) {
    const { job, startPerf } = setup
    this.#recorder = setup.recorder
    this.#observer = setup.observer
    this.#cap = Math.max(1, shareCount(job.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT, job.share))
    this.#schedule = new ArrivalSchedule(job.pattern, job.share, startPerf)
    // Joining a run in progress: what was due before now is dropped, each in its second.
    if (setup.join)
      for (const due of this.#schedule.skipBefore(performance.now())) this.#recorder.dropped(due)
    this.done = new Promise<void>((resolve) => {
      this.#settle = resolve
    })
    this.#context = setup.context((exchange) => this.answered(exchange))
    if (this.#schedule.dueAt === Number.POSITIVE_INFINITY) {
      queueMicrotask(() => this.stop(false))
      return
    }
    const preopen = preopenCount(job, this.#cap)
    for (let i = 0; i < preopen; i++) {
      const exchange = newExchange(this.#context)
      if (!exchange.preconnect) break
      exchange.preconnect()
      this.#idle.push(exchange)
    }
    this.#clock.arm(this.#schedule.dueAt, performance.now())
  }

  /** An exchange finished its request: it takes the oldest waiting one, or goes idle. */
  answered(exchange: LoadExchange): void {
    this.#inFlight--
    if (this.#stopping && this.#waiting.size === 0) {
      this.#recorder.concurrency(this.#inFlight)
      exchange.close()
      if (this.#inFlight === 0) this.finish()
      return
    }
    if (this.#waiting.size > 0) {
      // The oldest waiting request takes this connection; its latency counts from its due time.
      const due = this.#waiting.shift()
      const now = performance.now()
      this.#inFlight++
      this.#observer?.sendLag(now - due)
      exchange.send(now, due)
      return
    }
    this.#idle.push(exchange)
    if (performance.now() >= this.#schedule.dueAt) this.pump()
    else this.#recorder.concurrency(this.#inFlight)
  }

  /**
   * A free connection, or a new one while the growth allowance lasts; null: the request
   * waits for the first connection free (or the next window's allowance).
   */
  connection(now: number): LoadExchange | null {
    const free = this.#idle.pop()
    if (free) return free
    if (!mayOpen(this.#growth, this.#inFlight + this.#idle.length, this.#clock.loopLag, now)) return null
    return newExchange(this.#context)
  }

  pump(): void {
    const woke = performance.now()
    this.#recorder.roll(woke)
    let now = woke
    const waiting = this.#waiting
    // Requests that waited for a connection go first, oldest first.
    while (waiting.size > 0) {
      const exchange = this.connection(now)
      if (!exchange) break
      const waited = waiting.shift()
      this.#inFlight++
      this.#observer?.sendLag(now - waited)
      exchange.send(now, waited)
      now = performance.now()
    }
    // Only what was due when it woke: sends take time (a new connection tens of µs), and a
    // loop that chased the clock would never yield to the I/O that frees connections.
    const schedule = this.#schedule
    while (schedule.dueAt <= woke) {
      if (this.#inFlight + waiting.size < this.#cap) {
        const exchange = waiting.size > 0 ? null : this.connection(now)
        if (exchange) {
          this.#inFlight++
          this.#observer?.sendLag(now - schedule.dueAt)
          exchange.send(now, schedule.dueAt)
          // Each request of a batch sees the clock it went out at.
          now = performance.now()
        } else waiting.push(schedule.dueAt)
      } else {
        this.#recorder.dropped(now)
      }
      schedule.next()
    }
    this.#recorder.concurrency(this.#inFlight)
    if (schedule.dueAt === Number.POSITIVE_INFINITY) this.stop(false)
    else this.#clock.arm(schedule.dueAt, now)
  }

  /** The due time came (DueTimer). */
  due(): void {
    if (!this.#stopping) this.pump()
  }

  /** No sleep while requests wait for a connection: the answer that frees one is I/O. */
  maySleep(): boolean {
    return this.#waiting.size === 0
  }

  finish(): void {
    this.#recorder.finish(this.#cutShort)
    for (const exchange of this.#idle) exchange.destroy()
    this.#idle.length = 0
    this.#settle()
  }

  stop(early: boolean): void {
    if (early && !this.#cutShort) {
      // Cut short: what still waits for a connection is not sent. Also once the schedule has
      // run out (a stop of its own, not early), while requests it made due still wait.
      this.#cutShort = true
      const now = performance.now()
      for (let n = this.#waiting.clear(); n > 0; n--) this.#recorder.dropped(now)
    }
    if (this.#stopping) return
    this.#stopping = true
    this.#clock.stop()
    for (const exchange of this.#idle) exchange.close()
    this.#idle.length = 0
    if (this.#inFlight === 0) this.finish()
  }
}
