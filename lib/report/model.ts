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
}
