import type { DistributionPoint, SecondLatency, SecondRow } from '../../lib/report/model.js'
import type { ErrorKind, Point } from '../../lib/timeline.js'

/**
 * A merged second from the event stream as a chart row (the report's `SecondRow`). The
 * stream's `Point` carries latency as sum, count, min and max (microseconds); it carries
 * per-second percentiles (`latency`, milliseconds, the report's `SecondLatency`) and the
 * regions' own seconds (`regions`) only when the API sends them. Without percentiles a row
 * keeps its exact mean and max, and the charts say "mean" rather than pretending.
 */
export interface StreamSecond extends Point {
  latency?: SecondLatency
  regions?: Record<string, Point & { latency?: SecondLatency }>
}

export interface LiveRow extends SecondRow {
  /** Mean and max of the second's responses, ms (null: no response ended in it). */
  meanMs: number | null
  maxMs: number | null
}

const ms = (micros: number): number => Math.round(micros) / 1000

export function liveRow(point: Point & { latency?: SecondLatency }): LiveRow {
  const errorsByKind: Partial<Record<ErrorKind, number>> = {}
  let errors = 0
  for (const [kind, count] of Object.entries(point.errors ?? {}) as [ErrorKind, number][]) {
    if (count > 0) errorsByKind[kind] = count
    errors += count
  }
  const answered = point.latencyCount > 0
  return {
    t: point.t,
    users: point.concurrency,
    sent: point.sent,
    hits: point.hits,
    errors,
    timeouts: point.timeouts,
    dropped: point.dropped,
    errorsByKind,
    statuses: { ...point.statuses },
    txBytes: point.txBytes,
    rxBytes: point.rxBytes,
    latency: point.latency ?? null,
    meanMs: answered ? ms(point.latencySum / point.latencyCount) : null,
    maxMs: answered ? ms(point.latencyMax) : null,
  }
}

/** The whole rush's percentile curve from the end event's latency summary. */
export interface LatencySummaryLike {
  min: number
  p50: number
  p90: number
  p95: number
  p99: number
  p999: number
  max: number
}

export function distributionOf(latency: LatencySummaryLike): DistributionPoint[] {
  return [
    { percentile: 0, ms: latency.min },
    { percentile: 50, ms: latency.p50 },
    { percentile: 90, ms: latency.p90 },
    { percentile: 95, ms: latency.p95 },
    { percentile: 99, ms: latency.p99 },
    { percentile: 99.9, ms: latency.p999 },
    { percentile: 100, ms: latency.max },
  ]
}
