import type { ErrorKind, Point } from '../../lib/timeline.js'

/**
 * A transaction's step table on the live page. While the rush runs it adds up each second's
 * step points from the event stream (counts and the exact mean: sum / count of latencies);
 * the per-step percentiles need the merged part histograms, which the page does not decode,
 * so they come at the end from the rush's own step summaries (GET /rushes/{id}), which then
 * replace the running counts. Pure: no DOM, tested without a browser.
 */
export interface StepLatency {
  p50: number
  p95: number
  p99: number
  max: number
}

/** A step's summary as GET /rushes/{id} returns it (lib/summary.ts `Summary`, the fields used). */
export interface StepSummaryLike {
  hits: number
  errors: number
  errorsByKind: Partial<Record<ErrorKind, number>>
  timeouts: number
  latency: StepLatency & { mean: number; count: number }
}

export interface TransactionLike {
  steps: { name: string; summary: StepSummaryLike }[]
  iterations: StepSummaryLike
}

export interface StepLine {
  name: string
  hits: number
  /** Failed requests of every kind except timeouts. */
  errors: number
  timeouts: number
  statusFailures: number
  /** ms; null before a response of the step ended. */
  mean: number | null
  /** Known once the rush has ended (null while it runs). */
  latency: StepLatency | null
  /** Of the time an iteration spends in requests (0..1); null for the iterations' line. */
  share: number | null
}

interface Totals {
  hits: number
  errors: number
  timeouts: number
  statusFailures: number
  /** Microseconds. */
  latencySum: number
  latencyCount: number
}

const empty = (): Totals => ({
  hits: 0,
  errors: 0,
  timeouts: 0,
  statusFailures: 0,
  latencySum: 0,
  latencyCount: 0,
})

function add(totals: Totals, point: Point | undefined): void {
  if (!point) return
  totals.hits += point.hits
  for (const count of Object.values(point.errors ?? {})) totals.errors += count ?? 0
  totals.timeouts += point.timeouts
  totals.statusFailures += point.errors?.status ?? 0
  totals.latencySum += point.latencySum
  totals.latencyCount += point.latencyCount
}

function fromSummary(summary: StepSummaryLike): Totals {
  return {
    hits: summary.hits,
    // The summary's errors count timeouts; the table shows them apart.
    errors: summary.errors - summary.timeouts,
    timeouts: summary.timeouts,
    statusFailures: summary.errorsByKind.status ?? 0,
    latencySum: summary.latency.mean * 1000 * summary.latency.count,
    latencyCount: summary.latency.count,
  }
}

export class StepTable {
  readonly names: string[]
  #steps: Totals[]
  #iterations = empty()
  #latency: (StepLatency | null)[]
  #iterationsLatency: StepLatency | null = null
  #final = false
  #last = -1

  constructor(names: string[]) {
    this.names = names
    this.#steps = names.map(empty)
    this.#latency = names.map(() => null)
  }

  /** A second from the stream (after the final figures, ignored: they are the whole rush). */
  add(second: Point): void {
    // A repeated or older second is ignored, as the charts do: the stream resumes exactly.
    if (this.#final || second.t <= this.#last) return
    this.#last = second.t
    second.steps?.forEach((point, index) => {
      const totals = this.#steps[index]
      if (totals) add(totals, point)
    })
    add(this.#iterations, second.iterations)
  }

  /** The rush's own step summaries, merged from every engine's histograms: the last word. */
  finish(transaction: TransactionLike): void {
    this.#final = true
    this.#steps = this.names.map((name, index) => {
      const step = transaction.steps.find((entry) => entry.name === name) ?? transaction.steps[index]
      return step ? fromSummary(step.summary) : empty()
    })
    this.#latency = this.names.map((name, index) => {
      const step = transaction.steps.find((entry) => entry.name === name) ?? transaction.steps[index]
      return step ? pick(step.summary.latency) : null
    })
    this.#iterations = fromSummary(transaction.iterations)
    this.#iterationsLatency = pick(transaction.iterations.latency)
  }

  get final(): boolean {
    return this.#final
  }

  lines(): StepLine[] {
    const spent = this.#steps.reduce((sum, totals) => sum + totals.latencySum, 0)
    const line = (name: string, totals: Totals, latency: StepLatency | null, share: number | null) => ({
      name,
      hits: totals.hits,
      errors: totals.errors,
      timeouts: totals.timeouts,
      statusFailures: totals.statusFailures,
      mean: totals.latencyCount > 0 ? Math.round(totals.latencySum / totals.latencyCount) / 1000 : null,
      latency,
      share,
    })
    return [
      ...this.names.map((name, index) =>
        line(
          name,
          this.#steps[index]!,
          this.#latency[index]!,
          spent > 0 ? this.#steps[index]!.latencySum / spent : 0,
        ),
      ),
      line('(iterations)', this.#iterations, this.#iterationsLatency, null),
    ]
  }
}

const pick = (latency: StepLatency): StepLatency => ({
  p50: latency.p50,
  p95: latency.p95,
  p99: latency.p99,
  max: latency.max,
})
