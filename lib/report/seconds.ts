import { createHistogram, type LatencyHistogram, mergeInto } from '../histogram.js'
import { ERROR_KINDS, type ErrorKind, type Point, totalErrors } from '../timeline.js'
import type { SecondLatency, SecondRow, StepSecond } from './model.js'

const ms = (micros: number): number => Math.round(micros) / 1000

/**
 * Latency of one second from that second's own histogram: exact percentiles of the
 * responses that ended in it (never an average of averages), in milliseconds.
 */
export function secondLatency(point: Point, histogram: LatencyHistogram): SecondLatency | null {
  if (histogram.totalCount === 0) return null
  return {
    count: histogram.totalCount,
    min: ms(point.latencyMin),
    mean: point.latencyCount > 0 ? ms(point.latencySum / point.latencyCount) : 0,
    p50: ms(histogram.getValueAtPercentile(50)),
    p90: ms(histogram.getValueAtPercentile(90)),
    p95: ms(histogram.getValueAtPercentile(95)),
    p99: ms(histogram.getValueAtPercentile(99)),
    max: ms(histogram.highestEquivalentValue(histogram.maxValue)),
  }
}

/** A step's part of a second: counts and exact mean (sum / count) from its point. */
export function stepSecond(point: Point | undefined): StepSecond {
  if (!point) return { hits: 0, errors: 0, timeouts: 0, meanMs: null }
  return {
    hits: point.hits,
    errors: totalErrors(point.errors),
    timeouts: point.timeouts,
    meanMs: point.latencyCount > 0 ? ms(point.latencySum / point.latencyCount) : null,
  }
}

/** A merged second as the report (and a live page) shows it. */
export function secondRow(point: Point, histogram: LatencyHistogram): SecondRow {
  const errorsByKind: Partial<Record<ErrorKind, number>> = {}
  for (const kind of ERROR_KINDS) if (point.errors[kind] > 0) errorsByKind[kind] = point.errors[kind]
  return {
    t: point.t,
    users: point.concurrency,
    sent: point.sent,
    hits: point.hits,
    errors: totalErrors(point.errors),
    timeouts: point.timeouts,
    dropped: point.dropped,
    errorsByKind,
    statuses: { ...point.statuses },
    txBytes: point.txBytes,
    rxBytes: point.rxBytes,
    latency: secondLatency(point, histogram),
    ...(point.iterations && { iterations: point.iterations.hits }),
    ...(point.steps && { steps: point.steps.map(stepSecond) }),
  }
}

/**
 * Keeps what a report needs of a stream of merged seconds: each second's point and its
 * latency percentiles (computed as the second arrives, from its histogram), and the
 * histogram of the whole stream. The per-second histograms themselves are not kept: an
 * HDR histogram of this configuration holds about 190 kB of counters, so a 10-minute rush
 * in three regions would hold over 400 MB of them; the percentiles read from each at
 * arrival are the same numbers.
 */
export class SecondsCollector {
  readonly points: Point[] = []
  readonly rows: SecondRow[] = []
  readonly histogram: LatencyHistogram = createHistogram()

  add(point: Point, histogram: LatencyHistogram): SecondRow {
    const row = secondRow(point, histogram)
    this.points.push(point)
    this.rows.push(row)
    mergeInto(this.histogram, histogram)
    return row
  }
}
