import type { LatencyHistogram } from '../lib/histogram.js'
import { type Point, totalErrors } from '../lib/timeline.js'
import { formatCount, formatMs } from './report.js'

/**
 * Live progress, fed the merged seconds. On a terminal one line is rewritten in place
 * every second; elsewhere (CI logs) a plain line is printed every `plainEverySeconds`.
 */
export class Progress {
  readonly #out: NodeJS.WriteStream
  readonly #tty: boolean
  readonly #duration: number
  readonly #plainEvery: number
  #requests = 0
  #errors = 0
  #drawn = false

  constructor(out: NodeJS.WriteStream, durationSeconds: number, plainEverySeconds = 5) {
    this.#out = out
    this.#tty = out.isTTY === true
    this.#duration = durationSeconds
    this.#plainEvery = plainEverySeconds
  }

  second(point: Point, histogram: LatencyHistogram): void {
    const errors = totalErrors(point.errors) + point.timeouts
    this.#requests += point.hits + errors - point.errors.status
    this.#errors += errors
    const p95 = histogram.totalCount > 0 ? histogram.getValueAtPercentile(95) / 1000 : 0
    const share = this.#requests > 0 ? (this.#errors / this.#requests) * 100 : 0
    const line =
      `${String(point.t + 1).padStart(String(Math.ceil(this.#duration)).length)}/${Math.ceil(this.#duration)} s` +
      `  concurrency ${formatCount(point.concurrency)}  hits/s ${formatCount(point.hits)}` +
      `  p95 ${formatMs(p95)} ms  errors ${formatCount(this.#errors)} (${share.toFixed(2)}%)`
    if (this.#tty) {
      this.#out.write(`\r\x1b[2K${line}`)
      this.#drawn = true
    } else if ((point.t + 1) % this.#plainEvery === 0) {
      this.#out.write(`${line}\n`)
    }
  }

  /** A line about what happens before the first second (the next line replaces it on a terminal). */
  status(text: string): void {
    if (this.#tty) {
      this.#out.write(`\r\x1b[2K${text}`)
      this.#drawn = true
    } else this.#out.write(`${text}\n`)
  }

  /** Clears the live line before the summary is printed. */
  done(): void {
    if (this.#tty && this.#drawn) this.#out.write('\r\x1b[2K')
  }
}
