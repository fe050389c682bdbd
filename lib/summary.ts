import { type LatencyHistogram, type LatencySummary, summarizeHistogram } from './histogram.js'
import { type ErrorCounts, type Point, sumTimeline, totalErrors } from './timeline.js'

/** What a finished (or running) load run amounts to; thresholds are judged on this. */
export interface Summary {
  /** Seconds the run covered. */
  duration: number
  peakConcurrency: number
  /** Requests that ended one way or another: hits + transport errors + timeouts. */
  requests: number
  sent: number
  hits: number
  /** Hits per second over the run. */
  hitsPerSecond: number
  /** Failed requests of every kind, timeouts and status-assertion failures included. */
  errors: number
  errorsByKind: ErrorCounts
  /** Share of requests that failed, 0..1. */
  errorRate: number
  timeouts: number
  dropped: number
  statuses: Record<string, number>
  txBytes: number
  rxBytes: number
  connects: number
  /** Mean time to open a connection, milliseconds (kept apart from request latency). */
  connectMean: number
  latency: LatencySummary
}

export function summarize(timeline: Point[], histogram: LatencyHistogram, duration: number): Summary {
  const total = sumTimeline(timeline)
  // Status and extraction failures are responses (hits) that failed a check, not lost requests.
  const transportErrors = totalErrors(total.errors) - total.errors.status - (total.errors.extract ?? 0)
  const requests = total.hits + transportErrors + total.timeouts
  const errors = totalErrors(total.errors) + total.timeouts
  return {
    duration,
    peakConcurrency: total.concurrency,
    requests,
    sent: total.sent,
    hits: total.hits,
    hitsPerSecond: duration > 0 ? total.hits / duration : 0,
    errors,
    errorsByKind: total.errors,
    errorRate: requests > 0 ? errors / requests : 0,
    timeouts: total.timeouts,
    dropped: total.dropped,
    statuses: total.statuses,
    txBytes: total.txBytes,
    rxBytes: total.rxBytes,
    connects: total.connects,
    connectMean: total.connects > 0 ? Math.round(total.connectSum / total.connects) / 1000 : 0,
    latency: summarizeHistogram(histogram),
  }
}
