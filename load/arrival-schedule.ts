import { arrivalTime, type Pattern, type Share } from '../lib/pattern.js'

/**
 * One share's place in the open model's schedule: arrival k of the whole run is due at
 * `arrivalTime(pattern, k)` after second 0 and belongs to the share whose index is k modulo
 * the share count. Both open models (the single request's and the transaction's) walk it;
 * time comes in (`startPerf`, `now`), it reads no clock.
 */
export class ArrivalSchedule {
  /** `performance.now()` time this share's next arrival is due; Infinity when none is left. */
  dueAt: number
  readonly #pattern: Pattern
  readonly #of: number
  readonly #startPerf: number
  #k: number

  constructor(pattern: Pattern, share: Share, startPerf: number) {
    this.#pattern = pattern
    this.#of = share.of
    this.#startPerf = startPerf
    this.#k = share.index
    this.dueAt = this.#at(this.#k)
  }

  /** On to this share's next arrival. */
  next(): void {
    this.#k += this.#of
    this.dueAt = this.#at(this.#k)
  }

  /**
   * Joining a run in progress (load/run.ts `lateStart`): passes the arrivals due before
   * `now` and returns their due times, so the model counts each dropped in its second
   * rather than sending them in a burst the pattern never asked for.
   */
  skipBefore(now: number): number[] {
    const skipped: number[] = []
    while (this.dueAt < now) {
      skipped.push(this.dueAt)
      this.next()
    }
    return skipped
  }

  #at(k: number): number {
    const due = arrivalTime(this.#pattern, k)
    return due === undefined ? Number.POSITIVE_INFINITY : this.#startPerf + due * 1000
  }
}
