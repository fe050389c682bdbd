export function median(values) {
  const sorted = values.filter((v) => typeof v === 'number' && Number.isFinite(v)).sort((a, b) => a - b)
  if (sorted.length === 0) return undefined
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

export function ratio(a, b) {
  if (typeof a !== 'number' || typeof b !== 'number' || b === 0) return undefined
  return Number((a / b).toFixed(3))
}

/** Reads a dotted path (`latency.p50`) out of an object. */
export function pick(object, path) {
  return path.split('.').reduce((value, key) => value?.[key], object)
}

/** The median of `path` over the successful runs. */
export function medianOf(runs, path) {
  return median(runs.filter((r) => !r.failed).map((r) => pick(r, path)))
}

/** Formats a number for tables: thousands separated, `digits` decimals. */
export function fmt(value, digits = 0) {
  if (value === undefined || value === null || Number.isNaN(value)) return '–'
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
}

export function fmtRatio(value) {
  return value === undefined ? '–' : `${value.toFixed(2)}×`
}

/** A plain-text table (for the terminal) or a Markdown one. */
export function table(headers, rows, { markdown = false } = {}) {
  const cells = [headers, ...rows].map((row) => row.map((cell) => String(cell ?? '–')))
  if (markdown) {
    const line = (row) => `| ${row.join(' | ')} |`
    const align = headers.map((_, i) => (i === 0 ? '---' : '---:'))
    return [line(cells[0]), line(align), ...cells.slice(1).map(line)].join('\n')
  }
  const widths = headers.map((_, i) => Math.max(...cells.map((row) => row[i].length)))
  const pad = (row) =>
    row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('  ')
  return [pad(cells[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(pad)].join('\n')
}

/** Least-squares slope of y over x (`[{ x, y }]`); undefined for fewer than two points. */
export function slope(points) {
  const n = points.length
  if (n < 2) return undefined
  const mx = points.reduce((s, p) => s + p.x, 0) / n
  const my = points.reduce((s, p) => s + p.y, 0) / n
  let num = 0
  let den = 0
  for (const p of points) {
    num += (p.x - mx) * (p.y - my)
    den += (p.x - mx) ** 2
  }
  return den === 0 ? 0 : num / den
}
