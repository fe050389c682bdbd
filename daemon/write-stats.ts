import type { Clock } from '../lib/clock.js'

/**
 * Write requests this engine made, all databases together, for the writes-per-second figure
 * (the job plane's cost per engine, measured in the tests and benchmarks). Counts requests
 * made, conflicts included — never a write that was only considered (`updateDoc` reports).
 */
export class WriteStats {
  readonly #clock: Clock
  readonly startedAt: number
  writes = 0

  constructor(clock: Clock) {
    this.#clock = clock
    this.startedAt = clock.now()
  }

  count(requests = 1): void {
    this.writes += requests
  }

  /** Writes per second since the engine started; `more` adds writes counted elsewhere. */
  perSecond(more = 0): number {
    const seconds = (this.#clock.now() - this.startedAt) / 1000
    return seconds > 0 ? (this.writes + more) / seconds : 0
  }
}
