import { createHistogram, type LatencyHistogram, recordMicros } from '../lib/histogram.js'
import type { ErrorKind, Point } from '../lib/timeline.js'
import { emptyPoint } from '../lib/timeline.js'

/**
 * Receives each finished second: its point and the latencies recorded in it; for a
 * transaction also `parts`: the iterations' histogram, then each step's.
 */
export type SecondSink = (point: Point, histogram: LatencyHistogram, parts?: LatencyHistogram[]) => void

/**
 * Accumulates one process's measurements into per-second points. Times are
 * `performance.now()` milliseconds; second 0 starts at `startPerf`. A request counts in the
 * second it ended; those ending after the run's last second count in the last one, so a
 * run of N seconds has exactly N points, each emitted once.
 */
export class Recorder {
  readonly #sink: SecondSink
  readonly #startPerf: number
  readonly #lastSecond: number
  #point: Point
  #histogram: LatencyHistogram = createHistogram()
  #boundary: number
  #concurrency = 0
  #finished = false

  constructor(startPerf: number, durationSeconds: number, sink: SecondSink) {
    this.#startPerf = startPerf
    this.#lastSecond = Math.max(0, Math.ceil(durationSeconds) - 1)
    this.#sink = sink
    this.#point = emptyPoint(0)
    this.#boundary = startPerf + 1000
  }

  get startPerf(): number {
    return this.#startPerf
  }

  /** Moves on to the second that contains `now`, emitting the seconds that ended. */
  roll(now: number): void {
    while (now >= this.#boundary && this.#point.t < this.#lastSecond && !this.#finished) {
      this.#emit()
      this.#point = emptyPoint(this.#point.t + 1)
      this.#point.concurrency = this.#concurrency
      this.#boundary += 1000
    }
  }

  /**
   * Rolls on when `now` is past the second. One method for every event, not the same test
   * in each: V8 keeps type feedback per function, and a call of `roll` seen only in `sent`
   * (the first event of a second, nearly always) left `wrote` to deoptimize the day a
   * second happened to end at a write.
   */
  #at(now: number): void {
    if (now >= this.#boundary) this.roll(now)
  }

  #emit(): void {
    const histogram = this.#histogram
    this.#histogram = createHistogram()
    this.#sink(this.#point, histogram)
  }

  /** The level (users, or requests in flight) now: the point keeps the second's peak. */
  concurrency(level: number): void {
    this.#concurrency = level
    if (level > this.#point.concurrency) this.#point.concurrency = level
  }

  /** A request was started (whether or not it ever reaches a connection). */
  sent(now: number): void {
    if (this.#finished) return
    this.#at(now)
    this.#point.sent++
  }

  /**
   * A request was handed to a connected socket: its bytes count as sent. A request whose
   * connection was refused or never came up sent nothing, and counts nothing here.
   */
  wrote(now: number, txBytes: number): void {
    if (this.#finished) return
    this.#at(now)
    this.#point.txBytes += txBytes
  }

  connected(micros: number): void {
    if (this.#finished) return
    this.#point.connects++
    this.#point.connectSum += micros
  }

  hit(now: number, latencyMicros: number, status: number, rxBytes: number, passed: boolean): void {
    if (this.#finished) return
    this.#at(now)
    const point = this.#point
    point.hits++
    point.rxBytes += rxBytes
    point.statuses[status] = (point.statuses[status] ?? 0) + 1
    if (!passed) point.errors.status++
    if (point.latencyCount === 0 || latencyMicros < point.latencyMin) point.latencyMin = latencyMicros
    if (latencyMicros > point.latencyMax) point.latencyMax = latencyMicros
    point.latencyCount++
    point.latencySum += latencyMicros
    recordMicros(this.#histogram, latencyMicros)
  }

  error(now: number, kind: ErrorKind, rxBytes: number): void {
    if (this.#finished) return
    this.#at(now)
    this.#point.errors[kind]++
    this.#point.rxBytes += rxBytes
  }

  timeout(now: number, rxBytes: number): void {
    if (this.#finished) return
    this.#at(now)
    this.#point.timeouts++
    this.#point.rxBytes += rxBytes
  }

  dropped(now: number): void {
    if (this.#finished) return
    this.#at(now)
    this.#point.dropped++
  }

  /**
   * Emits the current second and, unless the run was cut short, the empty seconds left
   * up to the last one. Nothing is recorded after this.
   */
  finish(cutShort: boolean): void {
    if (this.#finished) return
    if (!cutShort) {
      while (this.#point.t < this.#lastSecond) {
        this.#emit()
        this.#point = emptyPoint(this.#point.t + 1)
      }
    }
    this.#emit()
    this.#finished = true
  }
}
