import { UsageError } from './errors.js'

/**
 * A load pattern: intervals during which a level (concurrent users, or requests per
 * second) ramps linearly from `start` to `end` over `duration` seconds.
 */
export interface Interval {
  start: number
  end: number
  duration: number
}
export type Pattern = Interval[]

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/

/** Parses a duration such as `60`, `60s`, `1.5m`, `250ms` into seconds. */
export function parseDurationSeconds(text: string): number {
  const match = DURATION.exec(text.trim())
  if (!match) throw new UsageError(`invalid duration "${text}" (use e.g. 60, 30s, 2m)`)
  const value = Number(match[1])
  const unit = match[2] ?? 's'
  const factor = unit === 'ms' ? 0.001 : unit === 's' ? 1 : unit === 'm' ? 60 : 3600
  return value * factor
}

/**
 * Parses the compact form `1-250:60,250:30s`: each comma-separated interval is
 * `START-END:DURATION` (a ramp) or `LEVEL:DURATION` (a plateau).
 */
export function parsePattern(text: string, what = 'pattern'): Pattern {
  const parts = text.split(',').map((part) => part.trim())
  if (parts.length === 0 || parts.some((part) => part === '')) {
    throw new UsageError(`invalid ${what} "${text}" (expected e.g. 1-250:60,250:30)`)
  }
  return parts.map((part) => {
    const match = /^(\d+(?:\.\d+)?)(?:-(\d+(?:\.\d+)?))?:(.+)$/.exec(part)
    if (!match)
      throw new UsageError(`invalid ${what} interval "${part}" (expected START-END:SECONDS or LEVEL:SECONDS)`)
    const start = Number(match[1])
    const end = match[2] === undefined ? start : Number(match[2])
    const duration = parseDurationSeconds(match[3]!)
    if (duration <= 0) throw new UsageError(`invalid ${what} interval "${part}": duration must be positive`)
    return { start, end, duration }
  })
}

/** Checks a pattern that arrives as data (JSON, CouchDB), not from the compact form. */
export function validatePattern(pattern: unknown, what = 'pattern'): asserts pattern is Pattern {
  if (!Array.isArray(pattern) || pattern.length === 0)
    throw new UsageError(`${what} must be a non-empty list of intervals`)
  for (const interval of pattern) {
    const { start, end, duration } = (interval ?? {}) as Partial<Interval>
    for (const [name, value] of [
      ['start', start],
      ['end', end],
      ['duration', duration],
    ] as const) {
      if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
        throw new UsageError(`${what}: interval ${name} must be a non-negative number`)
      }
    }
    if (!(duration! > 0)) throw new UsageError(`${what}: interval duration must be positive`)
  }
}

export function formatPattern(pattern: Pattern): string {
  return pattern
    .map(({ start, end, duration }) => `${start === end ? start : `${start}-${end}`}:${duration}`)
    .join(',')
}

export function patternDuration(pattern: Pattern): number {
  let total = 0
  for (const interval of pattern) total += interval.duration
  return total
}

export function patternPeak(pattern: Pattern): number {
  let peak = 0
  for (const { start, end } of pattern) peak = Math.max(peak, start, end)
  return peak
}

/** The exact (fractional) level at `t` seconds; 0 past the end. */
export function levelAt(pattern: Pattern, t: number): number {
  let offset = 0
  for (const { start, end, duration } of pattern) {
    if (t < offset + duration) {
      const into = Math.max(0, t - offset)
      return start + ((end - start) * into) / duration
    }
    offset += duration
  }
  return 0
}

/** Concurrent users wanted at `t`: the ramp rounded to whole users. */
export function concurrencyAt(pattern: Pattern, t: number): number {
  return Math.round(levelAt(pattern, t))
}

/**
 * A share of a whole: out of `total` numbered items (users, or requests), those whose
 * number is `index` modulo `of`. Shares of one total always sum to the total exactly,
 * at every moment of a ramp, which is what lets a rush be split across regions, engines
 * and worker processes without drifting from the asked pattern.
 */
export interface Share {
  index: number
  of: number
}

export const WHOLE: Share = { index: 0, of: 1 }

export function shareCount(total: number, share: Share): number {
  return total > share.index ? Math.floor((total - share.index - 1) / share.of) + 1 : 0
}

/** A share of a share (engine → worker), expressed as one flat share of the whole. */
export function nestShare(outer: Share, inner: Share): Share {
  return { index: outer.index + inner.index * outer.of, of: outer.of * inner.of }
}

/**
 * Open-model schedule: the time (seconds from start) at which request number `k`
 * (0-based) is due, when requests arrive at the ramped rate of `pattern`; `undefined`
 * once the pattern has no time left for it. Request k is due when the cumulative
 * arrivals, the integral of the rate, reach k.
 */
export function arrivalTime(pattern: Pattern, k: number): number | undefined {
  let offset = 0
  let arrived = 0
  for (const { start, end, duration } of pattern) {
    const inInterval = ((start + end) / 2) * duration
    // The tolerance matches arrivalCount: fractional rates that add up to a whole number
    // must not schedule one request more than the count.
    if (k < arrived + inInterval - 1e-9) {
      const x = k - arrived
      const a = (end - start) / (2 * duration)
      // Solve a·τ² + start·τ = x in its numerically stable form.
      const tau = x === 0 ? 0 : (2 * x) / (start + Math.sqrt(start * start + 4 * a * x))
      return offset + Math.min(tau, duration)
    }
    arrived += inInterval
    offset += duration
  }
  return undefined
}

/** Total requests an arrival-rate pattern schedules. */
export function arrivalCount(pattern: Pattern): number {
  let total = 0
  for (const { start, end, duration } of pattern) total += ((start + end) / 2) * duration
  return Math.ceil(total - 1e-9)
}
