import type uPlot from 'uplot'
import { clock, compact, millis } from '../../lib/report/format.js'
import type { ChartModel } from '../../lib/report/model.js'
import {
  BEND,
  type ChartPlan,
  type ChartSpec,
  DISTRIBUTION,
  LATENCY,
  REGION_HITS,
  REGION_P95,
  STATUSES,
  TRAFFIC,
} from '../report/charts.js'
import { COLORS } from '../report/palette.js'
import type { LiveRow } from './rows.js'

/**
 * The report's charts, fed live. Where the stream has per-second percentiles the report's
 * own specs draw; where it has only each second's mean and max (the API's merged `Point`),
 * the latency and bend charts draw those and say so in their legend.
 */
const hasPercentiles = (model: ChartModel): boolean => model.seconds.some((row) => row.latency !== null)

const rowsOf = (model: ChartModel): LiveRow[] => model.seconds as LiveRow[]

const msValue = (_u: uPlot, value: number | null) => (value === null ? '–' : `${millis(value)} ms`)
const msAxis: uPlot.Axis = {
  scale: 'ms',
  values: (_u, splits) => splits.map((v) => `${millis(v)} ms`),
  size: 70,
}
const msScale: uPlot.Scale = { range: (_u, _min, max) => [0, Math.max(1, max) * 1.05] }

function meanLatency(model: ChartModel): ChartPlan | null {
  const rows = rowsOf(model)
  if (rows.length === 0) return null
  return {
    scales: { x: { time: false }, ms: msScale },
    series: [
      { label: 'time', value: (_u, v) => (v === null ? '–' : clock(v)) },
      { label: 'mean', stroke: COLORS.p50, scale: 'ms', width: 2, points: { show: false }, value: msValue },
      {
        label: 'max',
        stroke: COLORS.max,
        scale: 'ms',
        width: 1,
        dash: [4, 3],
        points: { show: false },
        value: msValue,
      },
    ],
    axes: [{ values: (_u, splits) => splits.map((v) => clock(v)), space: 60 }, msAxis],
    data: [rows.map((row) => row.t), rows.map((row) => row.meanMs), rows.map((row) => row.maxMs)],
  }
}

function meanBend(model: ChartModel): ChartPlan | null {
  const rows = rowsOf(model)
    .filter((row) => row.meanMs !== null)
    .sort((a, b) => a.users - b.users || a.t - b.t)
  if (rows.length === 0) return null
  return {
    scales: { x: { time: false, range: (_u, min, max) => [0, Math.max(max, min + 1)] }, ms: msScale },
    series: [
      { label: 'users', value: (_u, v) => (v === null ? '–' : compact(v)) },
      {
        label: 'mean',
        stroke: COLORS.p50,
        fill: COLORS.p50,
        scale: 'ms',
        paths: () => null,
        points: { show: true, size: 6, width: 1, fill: COLORS.p50 },
        value: msValue,
      },
    ],
    axes: [
      {
        // Whole users only: fractional splits would print 0, 1, 1, 2, 2 at low concurrency.
        incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 20_000, 50_000, 100_000],
        values: (_u, splits) => splits.map((v) => compact(v)),
        label: 'concurrency',
        labelSize: 18,
      },
      msAxis,
    ],
    data: [rows.map((row) => row.users), rows.map((row) => row.meanMs)],
  }
}

export const LIVE_LATENCY: ChartSpec = {
  id: 'latency',
  plan: (model) => (hasPercentiles(model) ? LATENCY.plan(model) : meanLatency(model)),
}

export const LIVE_BEND: ChartSpec = {
  id: 'bend',
  plan: (model) => (hasPercentiles(model) ? BEND.plan(model) : meanBend(model)),
}

/** Region p95 only once some region second has percentiles (else its lines would be empty). */
export const LIVE_REGION_P95: ChartSpec = {
  id: 'region-p95',
  plan: (model) =>
    model.regions.some((region) => region.seconds.some((row) => row.latency !== null))
      ? REGION_P95.plan(model)
      : null,
}

export interface Figure {
  id: string
  title: string
  description: string
}

export const LIVE_CHARTS: ChartSpec[] = [
  TRAFFIC,
  LIVE_LATENCY,
  LIVE_BEND,
  STATUSES,
  REGION_HITS,
  LIVE_REGION_P95,
  DISTRIBUTION,
]

export const FIGURES: Figure[] = [
  { id: 'traffic', title: 'Users and hits', description: 'Users, hits/s, errors/s and timeouts/s.' },
  { id: 'latency', title: 'Response time', description: 'Response time per second.' },
  {
    id: 'bend',
    title: 'Response time against users',
    description: 'Each second a dot: where the service bends.',
  },
  {
    id: 'statuses',
    title: 'Responses and errors',
    description: 'Status codes and error kinds per second, stacked.',
  },
  { id: 'region-hits', title: 'Hits/s per region', description: 'Each region’s own seconds.' },
  { id: 'region-p95', title: 'p95 per region', description: 'Each region’s 95th percentile per second.' },
  {
    id: 'distribution',
    title: 'Latency distribution',
    description: 'The whole rush’s percentiles, from its merged histogram (when the rush ends).',
  },
]
