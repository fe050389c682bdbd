import { createHistogram, type LatencyHistogram, mergeInto } from '../../lib/histogram.js'
import { addPoint, emptyPoint, type Point } from '../../lib/timeline.js'
import { Recorder, type SecondSink } from '../recorder.js'

/**
 * A transaction's recording: one Recorder per step and one for whole iterations, each
 * with the single-request path's rules (a request counts in the second it ended). When
 * every part has finished a second, the second goes out as one point: the sum of the
 * steps (every request of the transaction), with the steps' and the iterations' own
 * points inside it, and their histograms as `parts` (iterations first, then each step).
 */
export class TransactionRecorder {
  readonly steps: Recorder[]
  readonly iterations: Recorder
  readonly #sink: SecondSink
  readonly #startAt: number
  readonly #lastSecond: number
  readonly #pending = new Map<number, { points: Point[]; histograms: LatencyHistogram[]; count: number }>()
  readonly #exhausted = new Map<number, number>()
  #finished = false

  constructor(startAt: number, durationSeconds: number, stepCount: number, sink: SecondSink) {
    this.#sink = sink
    this.#startAt = startAt
    this.#lastSecond = Math.max(0, Math.ceil(durationSeconds) - 1)
    const part = (index: number) =>
      new Recorder(startAt, durationSeconds, (point, histogram) => this.#collect(index, point, histogram))
    this.iterations = part(0)
    this.steps = Array.from({ length: stepCount }, (_, step) => part(step + 1))
  }

  get startAt(): number {
    return this.#startAt
  }

  roll(now: number): void {
    this.iterations.roll(now)
    for (const step of this.steps) step.roll(now)
  }

  /** Users (closed model) or transactions in flight (open model). */
  concurrency(level: number): void {
    this.iterations.concurrency(level)
  }

  connected(micros: number): void {
    this.iterations.connected(micros)
  }

  /** An iteration found no unique data row left. */
  exhausted(now: number): void {
    if (this.#finished) return
    const t = Math.min(this.#lastSecond, Math.max(0, Math.floor((now - this.#startAt) / 1000)))
    this.#exhausted.set(t, (this.#exhausted.get(t) ?? 0) + 1)
  }

  finish(cutShort: boolean): void {
    if (this.#finished) return
    // Every part on the same second first, so that the last seconds pair up.
    this.roll(performance.now())
    this.#finished = true
    this.iterations.finish(cutShort)
    for (const step of this.steps) step.finish(cutShort)
  }

  #collect(index: number, point: Point, histogram: LatencyHistogram): void {
    let pending = this.#pending.get(point.t)
    if (!pending) {
      pending = { points: [], histograms: [], count: 0 }
      this.#pending.set(point.t, pending)
    }
    pending.points[index] = point
    pending.histograms[index] = histogram
    if (++pending.count < this.steps.length + 1) return
    this.#pending.delete(point.t)
    const [iterations, ...steps] = pending.points as [Point, ...Point[]]
    const whole = emptyPoint(point.t)
    const histogram0 = createHistogram()
    steps.forEach((step, i) => {
      addPoint(whole, step)
      mergeInto(histogram0, pending.histograms[i + 1]!)
    })
    whole.concurrency = iterations.concurrency
    whole.connects = iterations.connects
    whole.connectSum = iterations.connectSum
    whole.steps = steps
    whole.iterations = iterations
    const exhausted = this.#exhausted.get(point.t)
    if (exhausted) {
      whole.exhausted = exhausted
      this.#exhausted.delete(point.t)
    }
    this.#sink(whole, histogram0, pending.histograms)
  }
}
