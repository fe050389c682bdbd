import { encodeHistogram, type LatencyHistogram } from '../lib/histogram.js'
import type { Summary } from '../lib/summary.js'
import type { ThresholdResult } from '../lib/thresholds.js'
import { ERROR_KINDS, type Point, totalErrors } from '../lib/timeline.js'
import { VERSION } from '../lib/version.js'
import type { SprintResult } from '../load/sprint.js'

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 })
const decimal = new Intl.NumberFormat('en-US', { maximumFractionDigits: 2 })

export function formatCount(value: number): string {
  return integer.format(value)
}

export function formatMs(value: number): string {
  return value >= 100 ? integer.format(value) : decimal.format(value)
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB']
  let value = bytes
  let unit = 0
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000
    unit++
  }
  return `${decimal.format(value)} ${units[unit]}`
}

function table(rows: string[][]): string {
  const widths: number[] = []
  for (const row of rows) {
    for (const [i, cell] of row.entries()) widths[i] = Math.max(widths[i] ?? 0, cell.length)
  }
  return rows
    .map(
      (row) =>
        `  ${row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('   ')}`,
    )
    .join('\n')
}

export interface RunHeading {
  model: 'rush' | 'arrival-rate'
  url: string
  pattern: string
  /** Where the load ran: in process, N load processes, or a rush's shards and regions. */
  where: string
  /** Requests each user keeps in flight (HTTP/1.1 pipelining); absent: one at a time. */
  pipelining?: number
}

/** Pipelining changes what a user is: said in the summary and the JSON whenever it is on. */
function pipeliningLine(depth: number): string {
  return `pipelining ${depth}: each user keeps up to ${depth} requests in flight`
}

export function formatSummary(heading: RunHeading, summary: Summary, cutShort: boolean): string {
  const { latency } = summary
  const what = heading.model === 'rush' ? `users ${heading.pattern}` : `rate ${heading.pattern}/s`
  const lines = [
    `Stampede ${heading.model}  ${heading.url}  ${what}  (${heading.where})${cutShort ? '  STOPPED EARLY' : ''}`,
    ...(heading.pipelining !== undefined ? [pipeliningLine(heading.pipelining)] : []),
    '',
    table([
      [
        'duration',
        `${decimal.format(summary.duration)} s`,
        'peak concurrency',
        formatCount(summary.peakConcurrency),
      ],
      ['requests', formatCount(summary.requests), 'hits/s', decimal.format(summary.hitsPerSecond)],
      [
        'hits',
        formatCount(summary.hits),
        'errors',
        `${formatCount(summary.errors)} (${decimal.format(summary.errorRate * 100)}%)`,
      ],
      ['timeouts', formatCount(summary.timeouts), 'dropped', formatCount(summary.dropped)],
    ]),
    '',
    'Latency (ms)',
    table([
      ['min', 'mean', 'p50', 'p90', 'p95', 'p99', 'p99.9', 'max'],
      [
        latency.min,
        latency.mean,
        latency.p50,
        latency.p90,
        latency.p95,
        latency.p99,
        latency.p999,
        latency.max,
      ].map(formatMs),
    ]),
  ]
  const failures = ERROR_KINDS.filter((kind) => summary.errorsByKind[kind] > 0)
  if (failures.length > 0 || summary.timeouts > 0) {
    const parts = failures.map((kind) => `${kind} ${formatCount(summary.errorsByKind[kind])}`)
    if (summary.timeouts > 0) parts.push(`timeout ${formatCount(summary.timeouts)}`)
    lines.push('', `Errors         ${parts.join('   ')}`)
  }
  const statuses = Object.entries(summary.statuses).sort(([a], [b]) => Number(a) - Number(b))
  if (statuses.length > 0) {
    lines.push(
      '',
      `Statuses       ${statuses.map(([status, count]) => `${status} ${formatCount(count)}`).join('   ')}`,
    )
  }
  lines.push(
    `Transfer       sent ${formatBytes(summary.txBytes)}   received ${formatBytes(summary.rxBytes)}`,
    `Connections    ${formatCount(summary.connects)} opened, mean connect time ${formatMs(summary.connectMean)} ms`,
  )
  return `${lines.join('\n')}\n`
}

function formatActual(result: ThresholdResult): string {
  const { metric, rate } = result.threshold
  if (rate) return `${decimal.format(result.actual * 100)}%`
  if (['errors', 'timeouts', 'dropped', 'hits', 'hits/s'].includes(metric))
    return decimal.format(result.actual)
  return `${formatMs(result.actual)} ms`
}

export function formatThresholds(results: ThresholdResult[]): string {
  if (results.length === 0) return ''
  const lines = ['Thresholds']
  for (const result of results) {
    lines.push(
      `  ${result.passed ? 'PASS' : 'FAIL'}  ${result.threshold.source.padEnd(16)} ${result.threshold.metric} was ${formatActual(result)}`,
    )
  }
  return `${lines.join('\n')}\n`
}

/** A timeline point as users read it: latencies in milliseconds. */
export function pointForJson(point: Point) {
  return {
    t: point.t,
    concurrency: point.concurrency,
    sent: point.sent,
    hits: point.hits,
    errors: totalErrors(point.errors),
    errorsByKind: point.errors,
    timeouts: point.timeouts,
    dropped: point.dropped,
    statuses: point.statuses,
    txBytes: point.txBytes,
    rxBytes: point.rxBytes,
    latency: {
      min: point.latencyMin / 1000,
      mean: point.latencyCount > 0 ? Math.round(point.latencySum / point.latencyCount) / 1000 : 0,
      max: point.latencyMax / 1000,
    },
    connects: point.connects,
  }
}

export interface RunReport {
  heading: RunHeading
  startedAt: string
  cutShort: boolean
  summary: Summary
  thresholds: ThresholdResult[]
  timeline: Point[]
  histogram: LatencyHistogram
}

export function runReportJson(report: RunReport) {
  const { summary } = report
  return {
    stampede: VERSION,
    model: report.heading.model,
    url: report.heading.url,
    pattern: report.heading.pattern,
    where: report.heading.where,
    ...(report.heading.pipelining !== undefined && {
      pipelining: report.heading.pipelining,
      pipeliningNote: pipeliningLine(report.heading.pipelining),
    }),
    startedAt: report.startedAt,
    cutShort: report.cutShort,
    passed: report.thresholds.every((result) => result.passed),
    summary: {
      duration: summary.duration,
      peakConcurrency: summary.peakConcurrency,
      requests: summary.requests,
      sent: summary.sent,
      hits: summary.hits,
      hitsPerSecond: summary.hitsPerSecond,
      errors: summary.errors,
      errorsByKind: summary.errorsByKind,
      errorRate: summary.errorRate,
      timeouts: summary.timeouts,
      dropped: summary.dropped,
      statuses: summary.statuses,
      txBytes: summary.txBytes,
      rxBytes: summary.rxBytes,
      connects: summary.connects,
      connectMean: summary.connectMean,
      latency: summary.latency,
    },
    thresholds: report.thresholds.map((result) => ({
      threshold: result.threshold.source,
      metric: result.threshold.metric,
      actual: result.actual,
      passed: result.passed,
    })),
    timeline: report.timeline.map(pointForJson),
    /** HDR histogram of all latencies (microseconds), compressed base64: merge it exactly elsewhere. */
    histogram: encodeHistogram(report.histogram),
  }
}

export function formatSprint(result: SprintResult): string {
  const lines = [`${result.method} ${result.url}${result.remote ? `  (${result.remote})` : ''}`, '']
  if (result.status !== undefined) {
    lines.push(`HTTP ${result.status} ${result.statusText ?? ''}`.trimEnd())
    for (const [name, value] of result.headers) lines.push(`${name}: ${value}`)
    lines.push('', `Body: ${formatCount(result.bodyBytes)} bytes`)
    if (result.bodySnippet)
      lines.push(
        ...result.bodySnippet
          .split('\n')
          .slice(0, 12)
          .map((line) => `  | ${line}`),
      )
    lines.push('')
  }
  if (result.tls) {
    lines.push(
      `TLS: ${result.tls.protocol ?? '?'} ${result.tls.cipher}, certificate ${result.tls.subject ?? '?'} by ${result.tls.issuer ?? '?'}, valid to ${result.tls.validTo ?? '?'}${result.tls.authorized ? '' : ' (NOT VERIFIED)'}`,
      '',
    )
  }
  const t = result.timings
  const phases: [string, number | null | undefined, number | null | undefined][] = [
    ['dns', t.dns, 0],
    ['connect', t.connect, t.dns],
    ['tls', t.tls, t.connect],
    ['first byte', t.firstByte, t.tls ?? t.connect],
    ['download', t.total, t.firstByte],
  ]
  const rows = [['phase', 'took ms', 'at ms']]
  for (const [name, end, begin] of phases) {
    if (end === undefined) continue
    if (end === null) rows.push([name, '-', '-'])
    else rows.push([name, formatMs(end - (begin ?? 0)), formatMs(end)])
  }
  if (t.total !== undefined) rows.push(['total', formatMs(t.total), ''])
  if (rows.length > 1) lines.push('Timing', table(rows))
  if (result.error) lines.push('', `Failed: ${result.error.kind} error: ${result.error.message}`)
  else if (!result.passed) lines.push('', `Failed: status ${result.status} is not an expected status`)
  return `${lines.join('\n')}\n`
}
