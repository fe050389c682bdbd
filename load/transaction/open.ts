import { shareCount } from '../../lib/pattern.js'
import { DEFAULT_MAX_IN_FLIGHT } from '../../lib/workload.js'
import { ArrivalSchedule } from '../arrival-schedule.js'
import { connectionGrowth, mayOpen, preopenCount } from '../connection-growth.js'
import { DueQueue } from '../due-queue.js'
import { type DueTarget, DueTimer } from '../due-timer.js'
import type { RunningModel } from '../model.js'
import type { TransactionSetup } from './prepare.js'
import { TransactionUser } from './user.js'

/**
 * The open model for a transaction: each arrival runs the whole transaction as a new
 * visitor (an empty cookie jar), on the arrival schedule of the single-request path.
 * Arrival k of the whole run belongs to the share whose index is k modulo the share
 * count; arrivals due while this share's cap of transactions in flight is used up are
 * counted as dropped. An arrival's first step goes out when it is due as precisely as the
 * single request's (load/due-timer.ts), and the schedule is also checked whenever an
 * iteration ends; the later steps follow their answers.
 *
 * A new visitor is a new connection, so visitors are made as the single path opens
 * connections (load/arrival-rate.ts, load/connection-growth.ts): the first milliseconds'
 * before the start, then at most an allowance per window. An arrival due while every
 * visitor is busy and the allowance is used up waits for the first visitor free, keeping its
 * due time (its latency and send lag count from it). Without that, at 5,000 transactions/s
 * (20,000 requests/s) every arrival of a start-up hiccup made a visitor, whose connect made
 * the hiccup longer: 600–1,500 visitors in the first second where ~10 are busy in steady
 * state, and up to 14 ms of send lag (bench:transaction).
 */
export function startTransactionArrivals(setup: TransactionSetup): RunningModel {
  const run = new TransactionArrivalsRun(setup)
  return { stop: () => run.stop(true), done: run.done }
}

/** One run; a class, not closures, for the reason ArrivalRateRun gives (load/arrival-rate.ts). */
class TransactionArrivalsRun implements DueTarget {
  readonly done: Promise<void>
  readonly #job: TransactionSetup['job']
  readonly #recorder: TransactionSetup['recorder']
  readonly #observer: TransactionSetup['observer']
  readonly #context: ReturnType<TransactionSetup['context']>
  readonly #cap: number
  readonly #idle: TransactionUser[] = []
  readonly #clock: DueTimer = new DueTimer(this)
  #created = 0
  #inFlight = 0
  /** Bounds connect storms (load/connection-growth.ts). */
  readonly #growth = connectionGrowth()
  /** Due times of arrivals waiting for a visitor free (oldest first). */
  readonly #waiting = new DueQueue()
  /** The next arrival due (`dueAt`, Infinity when none is left). */
  readonly #schedule: ArrivalSchedule
  #stopping = false
  #cutShort = false
  /** Unique data rows used up: no visitor of this process can start. */
  #exhausted = false
  #settle!: () => void

  constructor(setup: TransactionSetup) {
    const { job } = setup
    this.#job = job
    this.#recorder = setup.recorder
    this.#observer = setup.observer
    this.#cap = Math.max(1, shareCount(job.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT, job.share))
    this.#schedule = new ArrivalSchedule(job.pattern, job.share, setup.startAt)
    this.done = new Promise<void>((resolve) => {
      this.#settle = resolve
    })
    this.#context = setup.context((user) => this.ended(user))
    // Joining a run in progress: arrivals due before now are dropped, each in its second.
    if (setup.join)
      for (const due of this.#schedule.skipBefore(performance.now())) this.#recorder.steps[0]!.dropped(due)
    if (this.#schedule.dueAt === Number.POSITIVE_INFINITY) {
      queueMicrotask(() => this.stop(false))
      return
    }
    for (let i = preopenCount(job, this.#cap); i > 0; i--) {
      const user = this.newUser()
      user.preconnect()
      this.#idle.push(user)
    }
    this.#clock.arm(this.#schedule.dueAt, performance.now())
  }

  /**
   * A visitor's iteration ended: it takes the oldest arrival waiting, or waits for the next
   * one, which may be due already.
   */
  ended(user: TransactionUser): void {
    this.#inFlight--
    if (this.#waiting.size > 0 && !this.#exhausted) {
      const due = this.#waiting.shift()
      this.#begin(user, performance.now(), due)
      if (this.#exhausted) {
        this.#dropWaiting()
        if (!this.#stopping) this.stop(false)
        else if (this.#inFlight === 0) this.finish()
      }
      return
    }
    if (this.#stopping) {
      this.#recorder.concurrency(this.#inFlight)
      user.close()
      if (this.#inFlight === 0) this.finish()
      return
    }
    this.#idle.push(user)
    if (performance.now() >= this.#schedule.dueAt) this.pump()
    else this.#recorder.concurrency(this.#inFlight)
  }

  pump(): void {
    const woke = performance.now()
    this.#recorder.roll(woke)
    let now = woke
    const schedule = this.#schedule
    const waiting = this.#waiting
    // Arrivals that waited for a visitor go first, oldest first.
    while (waiting.size > 0 && !this.#exhausted) {
      const user = this.visitor(now)
      if (!user) break
      this.#begin(user, now, waiting.shift())
      now = performance.now()
    }
    // Only what was due when it woke (see ArrivalRateRun.pump).
    while (schedule.dueAt <= woke && !this.#exhausted) {
      if (this.#inFlight + waiting.size < this.#cap) {
        const user = waiting.size > 0 ? null : this.visitor(now)
        if (user) {
          this.#begin(user, now, schedule.dueAt)
          // Each arrival of a batch sees the clock its first step went out at.
          now = performance.now()
        } else waiting.push(schedule.dueAt)
      } else {
        this.#recorder.steps[0]!.dropped(now)
      }
      schedule.next()
    }
    this.#recorder.concurrency(this.#inFlight)
    if (schedule.dueAt === Number.POSITIVE_INFINITY || this.#exhausted) this.stop(false)
    else this.#clock.arm(schedule.dueAt, now)
  }

  /** A visitor free, or a new one while the growth allowance lasts; null: the arrival waits. */
  visitor(now: number): TransactionUser | null {
    const free = this.#idle.pop()
    if (free) return free
    if (!mayOpen(this.#growth, this.#inFlight + this.#idle.length, this.#clock.loopLag, now)) return null
    return this.newUser()
  }

  newUser(): TransactionUser {
    const share = this.#job.share
    return new TransactionUser(this.#context, share.index + this.#created++ * share.of)
  }

  /** `user`, as a new visitor, starts the arrival due at `dueAt`; none if no data row is left. */
  #begin(user: TransactionUser, now: number, dueAt: number): void {
    user.resetSession()
    user.active = true
    this.#inFlight++
    this.#observer?.sendLag(now - dueAt)
    if (!user.startIteration(now, dueAt)) {
      this.#inFlight--
      this.#exhausted = true
      this.#idle.push(user)
    }
  }

  #dropWaiting(): void {
    const now = performance.now()
    for (let n = this.#waiting.clear(); n > 0; n--) this.#recorder.steps[0]!.dropped(now)
  }

  /** The due time came (DueTimer). */
  due(): void {
    if (!this.#stopping) this.pump()
  }

  /** No sleep while arrivals wait for a visitor: the answer that frees one is I/O. */
  maySleep(): boolean {
    return this.#waiting.size === 0
  }

  finish(): void {
    this.#recorder.finish(this.#cutShort)
    for (const user of this.#idle) user.destroy()
    this.#idle.length = 0
    this.#settle()
  }

  stop(early: boolean): void {
    if (early && !this.#cutShort) {
      // Cut short: what still waits for a visitor is not started. Also once the schedule has
      // run out (a stop of its own, not early), while arrivals it made due still wait.
      this.#cutShort = true
      this.#dropWaiting()
    }
    if (this.#stopping) return
    this.#stopping = true
    // No data row left: what still waited for a visitor cannot start.
    if (this.#exhausted) this.#dropWaiting()
    this.#clock.stop()
    for (const user of this.#idle) user.close()
    this.#idle.length = 0
    if (this.#inFlight === 0) this.finish()
  }
}
