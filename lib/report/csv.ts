import { ERROR_KINDS } from '../timeline.js'
import type { ReportData, SecondRow } from './model.js'
import { stepSecond } from './seconds.js'

/**
 * The timeline as CSV, one row per second (blitz.io's `-o`). Fixed columns first, then one
 * `status_<code>` column per status code seen in the rush. Latencies in milliseconds: the
 * percentiles come from each second's own histogram; an empty cell means no response
 * ended in that second. A transaction adds, after the statuses, `iterations` and four
 * columns per step in step order (`<step>_hits`, `<step>_errors`, `<step>_timeouts`,
 * `<step>_mean_ms`): the same file, one row per second, so a spreadsheet lines steps up with
 * the whole. Documented in docs/report.md.
 */
export const CSV_COLUMNS = [
  'second',
  'time',
  'users',
  'sent',
  'hits',
  'errors',
  'timeouts',
  'dropped',
  'min_ms',
  'mean_ms',
  'p50_ms',
  'p90_ms',
  'p95_ms',
  'p99_ms',
  'max_ms',
  'tx_bytes',
  'rx_bytes',
  ...ERROR_KINDS.map((kind) => `errors_${kind}`),
] as const

function fixed(row: SecondRow, startMs: number): (string | number)[] {
  const l = row.latency
  const latency = l ? [l.min, l.mean, l.p50, l.p90, l.p95, l.p99, l.max] : ['', '', '', '', '', '', '']
  return [
    row.t,
    Number.isNaN(startMs) ? '' : new Date(startMs + row.t * 1000).toISOString(),
    row.users,
    row.sent,
    row.hits,
    row.errors,
    row.timeouts,
    row.dropped,
    ...latency,
    row.txBytes,
    row.rxBytes,
    ...ERROR_KINDS.map((kind) => row.errorsByKind[kind] ?? 0),
  ]
}

/** A header cell: a step's name is the user's text, quoted when it holds CSV syntax. */
const cell = (text: string): string => (/[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text)

const STEP_COLUMNS = ['hits', 'errors', 'timeouts', 'mean_ms'] as const

function stepCells(row: SecondRow, steps: number): (string | number)[] {
  const cells: (string | number)[] = [row.iterations ?? 0]
  for (let index = 0; index < steps; index++) {
    const step = row.steps?.[index] ?? stepSecond(undefined)
    cells.push(step.hits, step.errors, step.timeouts, step.meanMs ?? '')
  }
  return cells
}

export function renderCsv(data: Pick<ReportData, 'seconds' | 'startedAt' | 'transaction'>): string {
  const steps = data.transaction?.steps.map((step) => step.name) ?? []
  const stepHeader = data.transaction
    ? ['iterations', ...steps.flatMap((name) => STEP_COLUMNS.map((column) => cell(`${name}_${column}`)))]
    : []
  const statuses = [...new Set(data.seconds.flatMap((row) => Object.keys(row.statuses)))].sort(
    (a, b) => Number(a) - Number(b),
  )
  const startMs = Date.parse(data.startedAt)
  const lines = [[...CSV_COLUMNS, ...statuses.map((status) => `status_${status}`), ...stepHeader].join(',')]
  for (const row of data.seconds) {
    lines.push(
      [
        ...fixed(row, startMs),
        ...statuses.map((status) => row.statuses[status] ?? 0),
        ...(data.transaction ? stepCells(row, steps.length) : []),
      ].join(','),
    )
  }
  return `${lines.join('\n')}\n`
}
