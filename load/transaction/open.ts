import { shareCount } from '../../lib/pattern.js'
import { DEFAULT_MAX_IN_FLIGHT } from '../../lib/workload.js'
import { ArrivalSchedule } from '../arrival-schedule.js'
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
    this.#clock.arm(this.#schedule.dueAt, performance.now())
  }

  /** A visitor's iteration ended: it waits for the next arrival, which may be due already. */
  ended(user: TransactionUser): void {
    this.#inFlight--
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
    const job = this.#job
    const schedule = this.#schedule
    // Only what was due when it woke (see ArrivalRateRun.pump).
    while (schedule.dueAt <= woke && !this.#exhausted) {
      if (this.#inFlight < this.#cap) {
        let user = this.#idle.pop()
        if (!user) user = new TransactionUser(this.#context, job.share.index + this.#created++ * job.share.of)
        user.resetSession()
        user.active = true
        this.#inFlight++
        this.#observer?.sendLag(now - schedule.dueAt)
        if (!user.startIteration(now, schedule.dueAt)) {
          this.#inFlight--
          this.#exhausted = true
          this.#idle.push(user)
        }
        // Each arrival of a batch sees the clock its first step went out at.
        now = performance.now()
      } else {
        this.#recorder.steps[0]!.dropped(now)
      }
      schedule.next()
    }
    this.#recorder.concurrency(this.#inFlight)
    if (schedule.dueAt === Number.POSITIVE_INFINITY || this.#exhausted) this.stop(false)
    else this.#clock.arm(schedule.dueAt, now)
  }

  /** The due time came (DueTimer). */
  due(): void {
    if (!this.#stopping) this.pump()
  }

  /** Visitors run on their own connections: nothing waits for one to free up. */
  maySleep(): boolean {
    return true
  }

  finish(): void {
    this.#recorder.finish(this.#cutShort)
    for (const user of this.#idle) user.destroy()
    this.#idle.length = 0
    this.#settle()
  }

  stop(early: boolean): void {
    if (this.#stopping) return
    this.#stopping = true
    this.#cutShort = early
    this.#clock.stop()
    for (const user of this.#idle) user.close()
    this.#idle.length = 0
    if (this.#inFlight === 0) this.finish()
  }
}
