import { createHistogram, type LatencyHistogram, recordMicros } from '../../../lib/histogram.js'
import { buildReport, type ReportInput } from '../../../lib/report/build.js'
import type { ReportData } from '../../../lib/report/model.js'
import { SecondsCollector } from '../../../lib/report/seconds.js'
import { summarize } from '../../../lib/summary.js'
import { evaluateThresholds, parseThreshold } from '../../../lib/thresholds.js'
import type { Point } from '../../../lib/timeline.js'
import { point } from '../../helpers/points.js'

/** Records `latenciesMs` into a histogram and a point's latency fields. */
export function second(
  t: number,
  latenciesMs: number[],
  fields: Parameters<typeof point>[1] = {},
): { point: Point; histogram: LatencyHistogram } {
  const histogram = createHistogram()
  for (const value of latenciesMs) recordMicros(histogram, value * 1000)
  const micros = latenciesMs.map((value) => value * 1000)
  return {
    histogram,
    point: point(t, {
      hits: latenciesMs.length,
      sent: latenciesMs.length,
      statuses: latenciesMs.length > 0 ? { 200: latenciesMs.length } : {},
      latencyCount: micros.length,
      latencySum: micros.reduce((a, b) => a + b, 0),
      latencyMin: micros.length > 0 ? Math.min(...micros) : 0,
      latencyMax: micros.length > 0 ? Math.max(...micros) : 0,
      ...fields,
    }),
  }
}

/**
 * A small rush: 10 users ramping to 40, latency turning at second 3, a first error at
 * second 2 and a first timeout at second 3.
 */
export function sampleSeconds(): { point: Point; histogram: LatencyHistogram }[] {
  const range = (n: number, from: number, step: number) =>
    Array.from({ length: n }, (_, i) => from + i * step)
  return [
    second(0, range(100, 5, 0.05), { concurrency: 10 }),
    second(1, range(180, 5, 0.05), { concurrency: 20 }),
    second(2, range(240, 6, 0.1), { concurrency: 30, errors: { connect: 2 } }),
    second(3, range(200, 20, 1), { concurrency: 40, timeouts: 5, errors: { status: 3 } }),
  ]
}

export function sampleInput(thresholds = ['p95<500ms', 'errors<1%']): ReportInput {
  const collector = new SecondsCollector()
  for (const { point, histogram } of sampleSeconds()) collector.add(point, histogram)
  const summary = summarize(collector.points, collector.histogram, 4)
  return {
    model: 'rush',
    url: 'http://127.0.0.1:8080/<path>?a=1&b=2',
    pattern: '10-40:4',
    where: 'in process',
    startedAt: '2026-01-02T03:04:05.678Z',
    cutShort: false,
    summary,
    thresholds: evaluateThresholds(thresholds.map(parseThreshold), summary),
    seconds: collector.rows,
    histogram: collector.histogram,
  }
}

export const sampleReport = (thresholds?: string[]): ReportData => buildReport(sampleInput(thresholds))
