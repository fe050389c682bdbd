import uPlot from 'uplot'
import { clock, compact, millis, number } from '../../lib/report/format.js'
import type { ChartModel, SecondRow } from '../../lib/report/model.js'
import { COLORS, ERROR_COLORS, SERIES, statusColor } from './palette.js'

/**
 * The report's charts as pure descriptions: each turns a `ChartModel` into uPlot series and
 * columns. The static report draws them once; a live page feeds the same model second by
 * second and calls `update` (see mount.ts), so both show the same charts.
 */
export interface ChartPlan {
  series: uPlot.Series[]
  data: uPlot.AlignedData
  scales?: uPlot.Scales
  axes?: uPlot.Axis[]
  /** Vertical lines with a label, at x values (the first error, the first timeout). */
  markers?: Marker[]
}

export interface Marker {
  x: number
  label: string
  color: string
}

export interface ChartSpec {
  id: string
  /** Null when the model has nothing to draw for this chart yet. */
  plan(model: ChartModel): ChartPlan | null
}

type Column = (number | null)[]

const seconds = (rows: SecondRow[]): number[] => rows.map((row) => row.t)

/** Whole seconds, then round minutes: a short rush never shows 0:00 twice. */
const SECOND_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200]
/** Whole numbers only: there is no half a user. */
const COUNT_STEPS = [1, 2, 5]
  .flatMap((step) => [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000].map((p) => step * p))
  .sort((a, b) => a - b)

const timeAxis = (): uPlot.Axis => ({
  values: (_u, splits) => splits.map((value) => clock(value)),
  incrs: SECOND_STEPS,
  space: 60,
})

const countAxis = (scale: string, side: 1 | 3 = 3, label?: string): uPlot.Axis => ({
  scale,
  side,
  incrs: COUNT_STEPS,
  values: (_u, splits) => splits.map((value) => compact(value)),
  size: 56,
  ...(label !== undefined && { label, labelSize: 18 }),
  ...(side === 1 && { grid: { show: false } }),
})

const msAxis = (scale = 'ms'): uPlot.Axis => ({
  scale,
  values: (_u, splits) => splits.map((value) => `${millis(value)} ms`),
  size: 70,
})

const line = (
  label: string,
  stroke: string,
  scale: string,
  extra: Partial<uPlot.Series> = {},
): uPlot.Series => ({
  label,
  stroke,
  scale,
  width: 2,
  points: { show: false },
  ...extra,
})

const countValue = (_u: uPlot, value: number | null) => (value === null ? '–' : number(value))
const msValue = (_u: uPlot, value: number | null) => (value === null ? '–' : `${millis(value)} ms`)

const timeScale: uPlot.Scales = { x: { time: false } }

/**
 * Where the first error and the first timeout came: errors are often a sliver beside the
 * hits on one axis, so the moment they start is marked across the chart.
 */
function firstFailures(rows: SecondRow[]): Marker[] {
  const markers: Marker[] = []
  const error = rows.find((row) => row.errors > 0)
  const timeout = rows.find((row) => row.timeouts > 0)
  if (error)
    markers.push({ x: error.t, label: `first error, ${compact(error.users)} users`, color: COLORS.errors })
  if (timeout)
    markers.push({
      x: timeout.t,
      label: `first timeout, ${compact(timeout.users)} users`,
      color: COLORS.timeouts,
    })
  return markers
}

/** 1. Users, hits/s, errors/s and timeouts/s (blitz.io's main chart). */
export const TRAFFIC: ChartSpec = {
  id: 'traffic',
  plan({ seconds: rows }) {
    if (rows.length === 0) return null
    return {
      scales: {
        ...timeScale,
        count: { range: (_u, _min, max) => [0, Math.max(1, max) * 1.05] },
        users: { range: (_u, _min, max) => [0, Math.max(1, max) * 1.05] },
      },
      series: [
        { label: 'time', value: (_u, v) => (v === null ? '–' : clock(v)) },
        line('users', COLORS.users, 'users', {
          fill: 'rgba(138,148,166,0.16)',
          width: 1.5,
          value: countValue,
        }),
        line('hits/s', COLORS.hits, 'count', { value: countValue }),
        line('errors/s', COLORS.errors, 'count', { value: countValue }),
        line('timeouts/s', COLORS.timeouts, 'count', { value: countValue, dash: [6, 3] }),
      ],
      axes: [timeAxis(), countAxis('count', 3, 'per second'), countAxis('users', 1, 'users')],
      markers: firstFailures(rows),
      data: [
        seconds(rows),
        rows.map((row) => row.users),
        rows.map((row) => row.hits),
        rows.map((row) => row.errors),
        rows.map((row) => row.timeouts),
      ],
    }
  },
}

const latencyOf = (rows: SecondRow[], key: 'p50' | 'p95' | 'p99' | 'max'): Column =>
  rows.map((row) => (row.latency ? row.latency[key] : null))

/** 2. p50, p95, p99 and max per second. */
export const LATENCY: ChartSpec = {
  id: 'latency',
  plan({ seconds: rows }) {
    if (!rows.some((row) => row.latency !== null)) return null
    return {
      scales: { ...timeScale, ms: { range: (_u, _min, max) => [0, Math.max(1, max) * 1.05] } },
      series: [
        { label: 'time', value: (_u, v) => (v === null ? '–' : clock(v)) },
        line('p50', COLORS.p50, 'ms', { value: msValue }),
        line('p95', COLORS.p95, 'ms', { value: msValue }),
        line('p99', COLORS.p99, 'ms', { value: msValue }),
        line('max', COLORS.max, 'ms', { value: msValue, width: 1, dash: [4, 3] }),
      ],
      axes: [timeAxis(), msAxis()],
      data: [
        seconds(rows),
        latencyOf(rows, 'p50'),
        latencyOf(rows, 'p95'),
        latencyOf(rows, 'p99'),
        latencyOf(rows, 'max'),
      ],
    }
  },
}

const dots = (label: string, stroke: string): uPlot.Series => ({
  label,
  stroke,
  fill: stroke,
  scale: 'ms',
  paths: () => null,
  points: { show: true, size: 6, width: 1, fill: stroke },
  value: msValue,
})

/** 3. Response time against concurrency: each second a dot. */
export const BEND: ChartSpec = {
  id: 'bend',
  plan({ seconds: rows }) {
    const answered = rows.filter((row) => row.latency !== null).sort((a, b) => a.users - b.users || a.t - b.t)
    if (answered.length === 0) return null
    return {
      scales: {
        x: { time: false, range: (_u, min, max) => [0, Math.max(max, min + 1)] },
        ms: { range: (_u, _min, max) => [0, Math.max(1, max) * 1.05] },
      },
      series: [
        { label: 'users', value: countValue },
        dots('p50', COLORS.p50),
        dots('p95', COLORS.p95),
        dots('p99', COLORS.p99),
      ],
      axes: [
        {
          values: (_u, splits) => splits.map((value) => compact(value)),
          incrs: COUNT_STEPS,
          label: 'concurrency',
          labelSize: 18,
        },
        msAxis(),
      ],
      data: [
        answered.map((row) => row.users),
        latencyOf(answered, 'p50'),
        latencyOf(answered, 'p95'),
        latencyOf(answered, 'p99'),
      ],
    }
  },
}

/**
 * 4. Responses by status and failures by kind, stacked. uPlot does not stack: each series
 * is drawn as the running total up to it, the tallest first, each filled so the next one
 * paints over its lower part; the legend shows each layer's own count.
 */
export const STATUSES: ChartSpec = {
  id: 'statuses',
  plan({ seconds: rows }) {
    if (rows.length === 0) return null
    const statuses = [...new Set(rows.flatMap((row) => Object.keys(row.statuses)))].sort(
      (a, b) => Number(a) - Number(b),
    )
    const kinds = [...new Set(rows.flatMap((row) => Object.keys(row.errorsByKind)))].filter(
      (kind) => kind !== 'status',
    ) as (keyof SecondRow['errorsByKind'])[]
    const layers: { label: string; color: string; values: number[] }[] = [
      ...statuses.map((status, i) => ({
        label: `HTTP ${status}`,
        color: statusColor(status, i),
        values: rows.map((row) => row.statuses[status] ?? 0),
      })),
      ...kinds.map((kind) => ({
        label: kind,
        color: ERROR_COLORS[kind] ?? '#444',
        values: rows.map((row) => row.errorsByKind[kind] ?? 0),
      })),
    ]
    if (rows.some((row) => row.timeouts > 0))
      layers.push({
        label: 'timeouts',
        color: ERROR_COLORS.timeouts!,
        values: rows.map((row) => row.timeouts),
      })
    if (layers.length === 0) return null
    const totals: number[][] = []
    let running = rows.map(() => 0)
    for (const layer of layers) {
      running = running.map((sum, i) => sum + layer.values[i]!)
      // A second's step spans it, up to the next: the last one ends at last + 1.
      totals.push([...running, running.at(-1)!])
    }
    const x = [...seconds(rows), rows.at(-1)!.t + 1]
    // Drawn top layer first: reverse, both the series and their columns.
    const order = [...layers.keys()].reverse()
    const stepped = uPlot.paths.stepped!({ align: 1 })
    return {
      scales: { ...timeScale, count: { range: (_u, _min, max) => [0, Math.max(1, max) * 1.05] } },
      series: [
        { label: 'time', value: (_u, v) => (v === null ? '–' : clock(v)) },
        ...order.map((i) => ({
          label: layers[i]!.label,
          stroke: layers[i]!.color,
          fill: layers[i]!.color,
          scale: 'count',
          width: 0,
          paths: stepped,
          points: { show: false },
          value: (_u: uPlot, _v: number | null, _s: number, index: number | null) =>
            index === null || index >= rows.length ? '–' : number(layers[i]!.values[index] ?? 0),
        })),
      ],
      axes: [timeAxis(), countAxis('count', 3, 'per second')],
      data: [x, ...order.map((i) => totals[i]!)],
    }
  },
}

/** Joins the regions' seconds on one time axis (a region may lack a second). */
function regionColumns(
  model: ChartModel,
  pick: (row: SecondRow) => number | null,
): { x: number[]; columns: Column[] } {
  const last = Math.max(-1, ...model.regions.map((region) => region.seconds.at(-1)?.t ?? -1))
  const x = [...Array(last + 1).keys()]
  const columns = model.regions.map((region) => {
    const column: Column = x.map(() => null)
    for (const row of region.seconds) column[row.t] = pick(row)
    return column
  })
  return { x, columns }
}

/** 5a. Hits/s per region. */
export const REGION_HITS: ChartSpec = {
  id: 'region-hits',
  plan(model) {
    if (model.regions.length < 2) return null
    const { x, columns } = regionColumns(model, (row) => row.hits)
    return {
      scales: { ...timeScale, count: { range: (_u, _min, max) => [0, Math.max(1, max) * 1.05] } },
      series: [
        { label: 'time', value: (_u, v) => (v === null ? '–' : clock(v)) },
        ...model.regions.map((region, i) =>
          line(region.name, SERIES[i % SERIES.length]!, 'count', { value: countValue }),
        ),
      ],
      axes: [timeAxis(), countAxis('count', 3, 'hits/s')],
      data: [x, ...columns],
    }
  },
}

/** 5b. p95 per region. */
export const REGION_P95: ChartSpec = {
  id: 'region-p95',
  plan(model) {
    if (model.regions.length < 2) return null
    const { x, columns } = regionColumns(model, (row) => row.latency?.p95 ?? null)
    return {
      scales: { ...timeScale, ms: { range: (_u, _min, max) => [0, Math.max(1, max) * 1.05] } },
      series: [
        { label: 'time', value: (_u, v) => (v === null ? '–' : clock(v)) },
        ...model.regions.map((region, i) =>
          line(`${region.name} p95`, SERIES[i % SERIES.length]!, 'ms', { value: msValue }),
        ),
      ],
      axes: [timeAxis(), msAxis()],
      data: [x, ...columns],
    }
  },
}

/**
 * 5c. A transaction's mean response time per step, per second: exact means from each
 * second's step points (the per-second step histograms are not kept in a report).
 */
export const STEP_MEAN: ChartSpec = {
  id: 'step-mean',
  plan(model) {
    const names = model.stepNames ?? []
    if (names.length === 0 || !model.seconds.some((row) => row.steps?.some((step) => step.meanMs !== null)))
      return null
    return {
      scales: { ...timeScale, ms: { range: (_u, _min, max) => [0, Math.max(1, max) * 1.05] } },
      series: [
        { label: 'time', value: (_u, v) => (v === null ? '–' : clock(v)) },
        ...names.map((name, i) => line(`${name} mean`, SERIES[i % SERIES.length]!, 'ms', { value: msValue })),
      ],
      axes: [timeAxis(), msAxis()],
      data: [
        seconds(model.seconds),
        ...names.map((_, i) => model.seconds.map((row) => row.steps?.[i]?.meanMs ?? null)),
      ],
    }
  },
}

/** Percentile → "nines": 90 % is 1, 99 % is 2, 99.9 % is 3. */
const nines = (percentile: number): number => -Math.log10(1 - percentile / 100)

const percentLabel = (n: number): string => {
  if (n === 0) return '0%'
  const p = 100 * (1 - 10 ** -n)
  return `${Number(p.toPrecision(Math.max(2, Math.ceil(n) + 1)))}%`
}

/** 6. The whole rush's percentile curve, the maximum drawn as the last step. */
export const DISTRIBUTION: ChartSpec = {
  id: 'distribution',
  plan({ distribution }) {
    const finite = distribution.filter((point) => point.percentile < 100)
    if (finite.length === 0) return null
    const x = finite.map((point) => nines(point.percentile))
    const ms = finite.map((point) => point.ms)
    const max = distribution.find((point) => point.percentile === 100)
    const deepest = x.at(-1)!
    if (max) {
      x.push(deepest + 0.25)
      ms.push(max.ms)
    }
    const labels = new Map(x.map((n, i) => [n, i === x.length - 1 && max ? 'max' : percentLabel(n)]))
    return {
      scales: {
        x: { time: false, range: () => [0, x.at(-1)!] },
        ms: { range: (_u, _min, top) => [0, Math.max(1, top) * 1.05] },
      },
      series: [
        { label: 'percentile', value: (_u, v) => (v === null ? '–' : (labels.get(v) ?? percentLabel(v))) },
        line('latency', COLORS.curve, 'ms', {
          value: msValue,
          fill: 'rgba(0,114,178,0.10)',
          paths: uPlot.paths.stepped!({ align: 1 }),
        }),
      ],
      axes: [
        {
          splits: () => [...Array(Math.floor(deepest) + 1).keys()],
          values: (_u, splits) => splits.map((n) => percentLabel(n)),
          label: 'percentile',
          labelSize: 18,
        },
        msAxis(),
      ],
      data: [x, ms],
    }
  },
}

export const CHARTS: ChartSpec[] = [
  TRAFFIC,
  LATENCY,
  BEND,
  STATUSES,
  REGION_HITS,
  REGION_P95,
  STEP_MEAN,
  DISTRIBUTION,
]
