/**
 * The per-second timeline. A point covers one second of a run, counted from the run's
 * common start; requests are counted in the second they completed. Points from any
 * number of workers, engines and regions merge by adding them up.
 */
// `extract` (a transaction step whose extraction found nothing) comes last so that
// existing columns (CSV export) keep their order.
export const ERROR_KINDS = [
  'dns',
  'connect',
  'tls',
  'socket',
  'parse',
  'status',
  'refused',
  'other',
  'extract',
] as const
export type ErrorKind = (typeof ERROR_KINDS)[number]
export type ErrorCounts = Record<ErrorKind, number>

export interface Point {
  /** Second of the run, 0-based. */
  t: number
  /** Users (closed model) or requests in flight (open model): the most seen during the second. */
  concurrency: number
  /** Requests sent during the second. */
  sent: number
  /** Complete responses, whatever their status. */
  hits: number
  /** Failed requests by kind; `status` counts responses that failed the status assertion. */
  errors: ErrorCounts
  timeouts: number
  /** Open model only: requests that were due but could not be sent (in-flight cap reached). */
  dropped: number
  /** Responses by status code. */
  statuses: Record<string, number>
  txBytes: number
  rxBytes: number
  /** Latency of the completed responses, microseconds. */
  latencyCount: number
  latencySum: number
  latencyMin: number
  latencyMax: number
  /** New connections opened during the second, and their connect time (microseconds). */
  connects: number
  connectSum: number
  /** Transactions only: each step's own point, in step order (the whole is their sum). */
  steps?: Point[]
  /**
   * Transactions only: whole iterations. `hits` counts iterations that ran every step,
   * `errors`/`timeouts` those a step ended, latency is the iteration's (think time excluded).
   */
  iterations?: Point
  /** Transactions only: iterations that found no `unique` data row left (the user stopped). */
  exhausted?: number
}

export function emptyErrors(): ErrorCounts {
  return { dns: 0, connect: 0, tls: 0, socket: 0, parse: 0, status: 0, refused: 0, other: 0, extract: 0 }
}

export function emptyPoint(t: number): Point {
  return {
    t,
    concurrency: 0,
    sent: 0,
    hits: 0,
    errors: emptyErrors(),
    timeouts: 0,
    dropped: 0,
    statuses: {},
    txBytes: 0,
    rxBytes: 0,
    latencyCount: 0,
    latencySum: 0,
    latencyMin: 0,
    latencyMax: 0,
    connects: 0,
    connectSum: 0,
  }
}

export function totalErrors(errors: ErrorCounts): number {
  let total = 0
  // `?? 0`: points written before a kind existed (older engines, stored samples) lack it.
  for (const kind of ERROR_KINDS) total += errors[kind] ?? 0
  return total
}

/** Adds `source` into `target` (same second, different workers or engines). */
export function addPoint(target: Point, source: Point): Point {
  target.concurrency += source.concurrency
  target.sent += source.sent
  target.hits += source.hits
  for (const kind of ERROR_KINDS) target.errors[kind] += source.errors[kind] ?? 0
  target.timeouts += source.timeouts
  target.dropped += source.dropped
  for (const [status, count] of Object.entries(source.statuses)) {
    target.statuses[status] = (target.statuses[status] ?? 0) + count
  }
  target.txBytes += source.txBytes
  target.rxBytes += source.rxBytes
  if (source.latencyCount > 0) {
    target.latencyMin =
      target.latencyCount === 0 ? source.latencyMin : Math.min(target.latencyMin, source.latencyMin)
    target.latencyMax = Math.max(target.latencyMax, source.latencyMax)
  }
  target.latencyCount += source.latencyCount
  target.latencySum += source.latencySum
  target.connects += source.connects
  target.connectSum += source.connectSum
  if (source.steps) {
    target.steps ??= []
    source.steps.forEach((step, index) => {
      const into = target.steps![index]
      if (into) addPoint(into, step)
      else target.steps![index] = clonePoint(step)
    })
  }
  if (source.iterations) {
    if (target.iterations) addPoint(target.iterations, source.iterations)
    else target.iterations = clonePoint(source.iterations)
  }
  if (source.exhausted) target.exhausted = (target.exhausted ?? 0) + source.exhausted
  return target
}

export function clonePoint(point: Point): Point {
  return addPoint(emptyPoint(point.t), point)
}

/** Merges timelines from many sources into one, a point per second, in order. */
export function mergeTimelines(timelines: Iterable<Iterable<Point>>): Point[] {
  const bySecond = new Map<number, Point>()
  for (const timeline of timelines) {
    for (const point of timeline) {
      const existing = bySecond.get(point.t)
      if (existing) addPoint(existing, point)
      else bySecond.set(point.t, clonePoint(point))
    }
  }
  return [...bySecond.values()].sort((a, b) => a.t - b.t)
}

/** Totals over a timeline (concurrency: the peak). */
export function sumTimeline(points: Iterable<Point>): Point {
  const total = emptyPoint(-1)
  for (const point of points) {
    const peak = Math.max(total.concurrency, point.concurrency)
    addPoint(total, point)
    total.concurrency = peak
  }
  return total
}
