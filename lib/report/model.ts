import type { Summary } from '../summary.js'
import type { ErrorKind } from '../timeline.js'

/**
 * What a report shows, as plain JSON: the server side (CLI today, the API later) builds it
 * from a rush's timeline and histograms, and the browser's charts draw from it. Nothing in
 * this file imports Node or the HDR library, so browser code can import its types.
 *
 * A live page uses the same shapes: it receives `SecondRow`s one by one (the same rows the
 * report embeds) and redraws the same charts from a growing `ChartModel`.
 */
export const REPORT_FORMAT = 1

/** Latency of one second's responses, milliseconds, read from that second's own histogram. */
export interface SecondLatency {
  count: number
  /** Exact (from the sum of the second's latencies); the others are histogram figures. */
  min: number
  mean: number
  p50: number
  p90: number
  p95: number
  p99: number
  max: number
}

/**
 * One step's part of a second (a transaction's): counts and the exact mean, from the
 * second's point; the step's percentiles are in its whole-run summary (`StepReport`).
 */
export interface StepSecond {
  hits: number
  /** Failed requests of every kind except timeouts. */
  errors: number
  timeouts: number
  /** Null when no response of the step ended in that second. */
  meanMs: number | null
}

/** One second of a rush (or of one region's part of it). */
export interface SecondRow {
  /** Second of the rush, 0-based. */
  t: number
  /** Users (closed model) or requests in flight (open model): the most seen in the second. */
  users: number
  sent: number
  /** Complete responses, whatever their status. */
  hits: number
  /** Failed requests of every kind except timeouts (responses outside --expect-status included). */
  errors: number
  timeouts: number
  dropped: number
  /** The non-zero error kinds. */
  errorsByKind: Partial<Record<ErrorKind, number>>
  statuses: Record<string, number>
  txBytes: number
  rxBytes: number
  /** Null when no response ended in that second. */
  latency: SecondLatency | null
  /** A transaction's: iterations that ended in the second. */
  iterations?: number
  /** A transaction's: each step's part of the second, in step order. */
  steps?: StepSecond[]
}

/** A point of the whole rush's latency distribution: `percentile` (0..100) is at most `ms`. */
export interface DistributionPoint {
  percentile: number
  ms: number
}

export interface Moment {
  /** Second of the rush. */
  t: number
  users: number
  /** How many in that second. */
  count: number
}

/**
 * The figures blitz.io put above its chart. `failedShare` is (errors + timeouts) / requests:
 * each request is one user's visit (blitz.io's reading); Stampede does not follow a user
 * across requests, so it cannot count distinct users.
 */
export interface Highlights {
  firstError: Moment | null
  firstTimeout: Moment | null
  peakHits: Moment | null
  /** The peak hits/s kept up for a day. */
  hitsPerDay: number
  failedRequests: number
  requests: number
  failedShare: number
}

export interface ThresholdRow {
  threshold: string
  metric: string
  /** The measured value: ms for latencies, 0..1 for rates, a count otherwise. */
  actual: number
  unit: 'ms' | 'share' | 'count' | 'per-second'
  passed: boolean
  /** A transaction's step the threshold judges; none: the whole rush. */
  step?: string
}

/** The summary's figures, as `lib/summary.ts` computes them (one type, not a copy). */
export type SummaryFigures = Summary

export interface RegionReport {
  name: string
  summary: SummaryFigures
  seconds: SecondRow[]
}

/** What the charts draw: grows second by second on a live page, complete in a report. */
export interface ChartModel {
  seconds: SecondRow[]
  /** Empty with one region. */
  regions: { name: string; seconds: SecondRow[] }[]
  /** Empty until the rush's merged histogram is known. */
  distribution: DistributionPoint[]
  /** A transaction's step names, in the order of the rows' `steps`. */
  stepNames?: string[]
}

/** One step of a transaction: its own summary, merged exactly like the whole rush's. */
export interface StepReport {
  name: string
  summary: SummaryFigures
  /**
   * The step's share of the time an iteration spends in requests: its responses' summed
   * latency over all steps' (0..1; think time excluded). Where the iteration's time goes.
   */
  share: number
}

/** A transaction's figures: the iterations as a whole, then each step. */
export interface TransactionReport {
  iterations: SummaryFigures
  /** Iterations that found no unique data row left. */
  exhausted: number
  steps: StepReport[]
}

export interface ReportData extends ChartModel {
  format: typeof REPORT_FORMAT
  stampede: string
  model: 'rush' | 'arrival-rate'
  url: string
  pattern: string
  where: string
  /** Requests each user keeps in flight (HTTP/1.1 pipelining); absent: one at a time. */
  pipelining?: number
  startedAt: string
  cutShort: boolean
  /** Why the rush did not finish (a shard lost, aborted), when it did not. */
  unfinished?: string
  /** Ran its whole pattern: not interrupted, not cut short, no shard lost. */
  completed: boolean
  /** Completed and every threshold held. */
  passed: boolean
  thresholds: ThresholdRow[]
  summary: SummaryFigures
  highlights: Highlights
  regions: RegionReport[]
  /** A transaction's iterations and steps; absent for a single-request rush. */
  transaction?: TransactionReport
}
