import type { ThresholdRow } from './model.js'

/**
 * Number formatting shared by the report's HTML (rendered by Node) and its charts (drawn
 * in the browser): the same figure reads the same in a table, a legend and a tooltip.
 */
const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 })
const decimal = new Intl.NumberFormat('en-US', { maximumFractionDigits: 2 })
const short = new Intl.NumberFormat('en-US', { notation: 'compact', maximumFractionDigits: 1 })

export const count = (value: number): string => integer.format(value)

export const compact = (value: number): string =>
  Math.abs(value) < 10_000 ? count(value) : short.format(value)

export const number = (value: number): string => decimal.format(value)

/** Milliseconds: whole above 100, two decimals below. */
export const millis = (value: number): string =>
  value >= 100 ? integer.format(value) : decimal.format(value)

export const percent = (share: number): string => {
  const value = share * 100
  if (value > 0 && value < 0.01) return '<0.01%'
  return `${decimal.format(value)}%`
}

export function bytes(value: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB']
  let scaled = value
  let unit = 0
  while (scaled >= 1000 && unit < units.length - 1) {
    scaled /= 1000
    unit++
  }
  return `${decimal.format(scaled)} ${units[unit]}`
}

/** Second of a rush as m:ss (h:mm:ss past an hour). */
export function clock(seconds: number): string {
  const whole = Math.floor(seconds)
  const h = Math.floor(whole / 3600)
  const m = Math.floor((whole % 3600) / 60)
  const s = String(whole % 60).padStart(2, '0')
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`
}

/** A threshold's measured value in its own unit, as the page and the JUnit message show it. */
export function measured(row: ThresholdRow): string {
  switch (row.unit) {
    case 'ms':
      return `${millis(row.actual)} ms`
    case 'share':
      return percent(row.actual)
    case 'per-second':
      return `${number(row.actual)}/s`
    case 'count':
      return count(row.actual)
  }
}
