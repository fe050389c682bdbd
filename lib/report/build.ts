import type { LatencyHistogram } from '../histogram.js'
import type { Summary } from '../summary.js'
import type { ThresholdResult } from '../thresholds.js'
import type { TransactionSummary } from '../transaction/summary.js'
import { VERSION } from '../version.js'
import {
  type DistributionPoint,
  type Highlights,
  type Moment,
  REPORT_FORMAT,
  type RegionReport,
  type ReportData,
  type SecondRow,
  type SummaryFigures,
  type ThresholdRow,
  type TransactionReport,
} from './model.js'

const SECONDS_PER_DAY = 86_400

function firstMoment(rows: SecondRow[], count: (row: SecondRow) => number): Moment | null {
  const row = rows.find((candidate) => count(candidate) > 0)
  return row ? { t: row.t, users: row.users, count: count(row) } : null
}

/** blitz.io's highlights, from the rush's seconds and its summary. */
export function highlights(rows: SecondRow[], summary: Summary): Highlights {
  let peak: Moment | null = null
  for (const row of rows) {
    if (row.hits > 0 && (peak === null || row.hits > peak.count))
      peak = { t: row.t, users: row.users, count: row.hits }
  }
  return {
    firstError: firstMoment(rows, (row) => row.errors),
    firstTimeout: firstMoment(rows, (row) => row.timeouts),
    peakHits: peak,
    hitsPerDay: (peak?.count ?? 0) * SECONDS_PER_DAY,
    failedRequests: summary.errors,
    requests: summary.requests,
    failedShare: summary.errorRate,
  }
}

/**
 * The percentile curve of a histogram: points evenly spaced in "nines" (x = -log10(1 - p)),
 * so 90 %, 99 %, 99.9 % are equally far apart, up to the resolution the count allows,
 * and the maximum as 100 %.
 */
export function distribution(histogram: LatencyHistogram, steps = 20): DistributionPoint[] {
  const count = histogram.totalCount
  if (count === 0) return []
  const out: DistributionPoint[] = []
  // Past 1/count of the tail, every higher percentile is the maximum.
  const deepest = Math.max(1, Math.log10(count))
  for (let i = 0; i <= Math.ceil(deepest * steps); i++) {
    const nines = Math.min(i / steps, deepest)
    const percentile = 100 * (1 - 10 ** -nines)
    out.push({
      percentile: Number(percentile.toPrecision(8)),
      ms: Math.round(histogram.getValueAtPercentile(percentile)) / 1000,
    })
  }
  out.push({ percentile: 100, ms: Math.round(histogram.highestEquivalentValue(histogram.maxValue)) / 1000 })
  return out
}

function thresholdUnit(result: ThresholdResult): ThresholdRow['unit'] {
  const { metric, rate } = result.threshold
  if (rate) return 'share'
  if (metric === 'hits/s') return 'per-second'
  if (['errors', 'timeouts', 'dropped', 'hits'].includes(metric)) return 'count'
  return 'ms'
}

export function thresholdRows(results: ThresholdResult[]): ThresholdRow[] {
  return results.map((result) => ({
    threshold: result.threshold.source,
    metric: result.threshold.metric,
    actual: result.actual,
    unit: thresholdUnit(result),
    passed: result.passed,
    ...(result.threshold.step !== undefined && { step: result.threshold.step }),
  }))
}

/** The summary as plain figures (the same fields `--json` writes). */
export function summaryFigures(summary: Summary): SummaryFigures {
  return {
    duration: summary.duration,
    peakConcurrency: summary.peakConcurrency,
    requests: summary.requests,
    sent: summary.sent,
    hits: summary.hits,
    hitsPerSecond: summary.hitsPerSecond,
    errors: summary.errors,
    errorsByKind: { ...summary.errorsByKind },
    errorRate: summary.errorRate,
    timeouts: summary.timeouts,
    dropped: summary.dropped,
    statuses: { ...summary.statuses },
    txBytes: summary.txBytes,
    rxBytes: summary.rxBytes,
    connects: summary.connects,
    connectMean: summary.connectMean,
    latency: { ...summary.latency },
  }
}

/**
 * A transaction's part of the report. Each step's share is its summed response time (the
 * histogram's mean × its responses) over every step's, so the
 * shares add up to one and say which step an iteration spends its time in.
 */
export function transactionReport(summary: TransactionSummary): TransactionReport {
  const spent = summary.steps.map((step) => step.summary.latency.mean * step.summary.latency.count)
  const total = spent.reduce((a, b) => a + b, 0)
  return {
    iterations: summaryFigures(summary.iterations),
    exhausted: summary.exhausted,
    steps: summary.steps.map((step, index) => ({
      name: step.name,
      summary: summaryFigures(step.summary),
      share: total > 0 ? spent[index]! / total : 0,
    })),
  }
}

export interface ReportInput {
  model: 'rush' | 'arrival-rate'
  url: string
  pattern: string
  where: string
  /** Requests each user keeps in flight (HTTP/1.1 pipelining); absent: one at a time. */
  pipelining?: number
  startedAt: string
  cutShort: boolean
  unfinished?: string
  summary: Summary
  thresholds: ThresholdResult[]
  /** The merged seconds, in order (see SecondsCollector). */
  seconds: SecondRow[]
  histogram: LatencyHistogram
  /** Each region's own seconds and summary, when the rush ran in more than one. */
  regions?: { name: string; summary: Summary; seconds: SecondRow[] }[]
  /** A transaction's iterations and steps (see lib/transaction/summary.ts). */
  transaction?: TransactionSummary
}

export function buildReport(input: ReportInput): ReportData {
  const completed = !input.cutShort && input.unfinished === undefined
  const regions: RegionReport[] =
    input.regions && input.regions.length > 1
      ? input.regions.map((region) => ({
          name: region.name,
          summary: summaryFigures(region.summary),
          seconds: region.seconds,
        }))
      : []
  return {
    format: REPORT_FORMAT,
    stampede: VERSION,
    model: input.model,
    url: input.url,
    pattern: input.pattern,
    where: input.where,
    ...(input.pipelining !== undefined && { pipelining: input.pipelining }),
    startedAt: input.startedAt,
    cutShort: input.cutShort,
    ...(input.unfinished !== undefined && { unfinished: input.unfinished }),
    completed,
    passed: completed && input.thresholds.every((result) => result.passed),
    thresholds: thresholdRows(input.thresholds),
    summary: summaryFigures(input.summary),
    highlights: highlights(input.seconds, input.summary),
    seconds: input.seconds,
    regions,
    distribution: distribution(input.histogram),
    ...(input.transaction && {
      stepNames: input.transaction.steps.map((step) => step.name),
      transaction: transactionReport(input.transaction),
    }),
  }
}
