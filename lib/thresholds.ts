import { UsageError } from './errors.js'
import type { Summary } from './summary.js'

/**
 * Pass/fail criteria, k6 style: `p95<500ms`, `errors<1%`, `hits/s>=100`, `timeouts<10`.
 * A failed threshold makes the CLI exit 99.
 */
export type Operator = '<' | '<=' | '>' | '>='

export interface Threshold {
  source: string
  metric: string
  operator: Operator
  /** Milliseconds for latencies, 0..1 for rates, a plain number for counts. */
  value: number
  /** For errors, timeouts and dropped: compare the share of requests, not the count. */
  rate: boolean
  /** A transaction's step the threshold judges (`login.p95<300ms`); none: the whole run. */
  step?: string
}

export interface ThresholdResult {
  threshold: Threshold
  actual: number
  passed: boolean
}

const LATENCY_METRICS = new Set(['min', 'mean', 'avg', 'p50', 'p90', 'p95', 'p99', 'p99.9', 'p999', 'max'])
const COUNTABLE = new Set(['errors', 'timeouts', 'dropped'])
const FORM = /^\s*([a-z][a-z0-9./]*)\s*(<=|>=|<|>)\s*(\d+(?:\.\d+)?)\s*(ms|s|us|%)?\s*$/i

export function parseThreshold(text: string): Threshold {
  // `STEP.METRIC`: a transaction step's own figures (`p99.9` alone is a metric, not a step).
  const stepped = /^\s*([A-Za-z_][A-Za-z0-9_-]*)\.(?!9)(.*)$/s.exec(text)
  if (stepped && stepped[1]!.toLowerCase() !== 'p99') {
    const threshold = parseThreshold(stepped[2]!)
    return { ...threshold, source: text, step: stepped[1]! }
  }
  const match = FORM.exec(text)
  if (!match) {
    throw new UsageError(`invalid threshold "${text}" (expected e.g. p95<500ms, errors<1%, hits/s>100)`)
  }
  const metric = match[1]!.toLowerCase()
  const operator = match[2] as Operator
  let value = Number(match[3])
  const unit = match[4]?.toLowerCase()
  if (LATENCY_METRICS.has(metric)) {
    if (unit === '%') throw new UsageError(`threshold "${text}": ${metric} is a latency, not a percentage`)
    value = unit === 's' ? value * 1000 : unit === 'us' ? value / 1000 : value
    return {
      source: text,
      metric: metric === 'avg' ? 'mean' : metric === 'p999' ? 'p99.9' : metric,
      operator,
      value,
      rate: false,
    }
  }
  if (COUNTABLE.has(metric)) {
    if (unit && unit !== '%')
      throw new UsageError(`threshold "${text}": ${metric} takes a count or a percentage`)
    return { source: text, metric, operator, value: unit === '%' ? value / 100 : value, rate: unit === '%' }
  }
  if (metric === 'hits' || metric === 'hits/s' || metric === 'rps') {
    if (unit) throw new UsageError(`threshold "${text}": ${metric} takes a plain number`)
    return { source: text, metric: metric === 'rps' ? 'hits/s' : metric, operator, value, rate: false }
  }
  throw new UsageError(
    `threshold "${text}": unknown metric "${metric}" (use p50, p90, p95, p99, p99.9, min, mean, max, errors, timeouts, dropped, hits, hits/s)`,
  )
}

function actualValue(threshold: Threshold, summary: Summary): number {
  const { metric, rate } = threshold
  const share = (count: number, of: number) => (of > 0 ? count / of : 0)
  switch (metric) {
    case 'errors':
      return rate ? summary.errorRate : summary.errors
    case 'timeouts':
      // Like errors: a share of the requests that ended.
      return rate ? share(summary.timeouts, summary.requests) : summary.timeouts
    case 'dropped':
      // Dropped requests never started: a share of all that were due.
      return rate ? share(summary.dropped, summary.requests + summary.dropped) : summary.dropped
    case 'hits':
      return summary.hits
    case 'hits/s':
      return summary.hitsPerSecond
    case 'p99.9':
      return summary.latency.p999
    default:
      return summary.latency[metric as 'min' | 'mean' | 'p50' | 'p90' | 'p95' | 'p99' | 'max']
  }
}

/** Rates compare at 12 significant digits: 0.7/100 must equal 7/1000. */
const exact = (value: number) => Number(value.toPrecision(12))

function holds(actualValue: number, operator: Operator, thresholdValue: number): boolean {
  const actual = exact(actualValue)
  const value = exact(thresholdValue)
  switch (operator) {
    case '<':
      return actual < value
    case '<=':
      return actual <= value
    case '>':
      return actual > value
    case '>=':
      return actual >= value
  }
}

/** `steps`: a transaction's summaries by step name, for thresholds that name a step. */
export function evaluateThresholds(
  thresholds: Threshold[],
  summary: Summary,
  steps?: Record<string, Summary>,
): ThresholdResult[] {
  return thresholds.map((threshold) => {
    const judged = threshold.step === undefined ? summary : steps?.[threshold.step]
    // A step the run does not have cannot pass (the CLI refuses it before any load).
    if (judged === undefined) return { threshold, actual: Number.NaN, passed: false }
    const actual = actualValue(threshold, judged)
    return { threshold, actual, passed: holds(actual, threshold.operator, threshold.value) }
  })
}
