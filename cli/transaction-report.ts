import type { Summary } from '../lib/summary.js'
import { ERROR_KINDS } from '../lib/timeline.js'
import type { TransactionSummary } from '../lib/transaction/summary.js'
import type { ExchangeRecord } from '../load/transaction/user.js'

const ms = (value: number) => (value >= 100 ? value.toFixed(0) : value.toFixed(2))
const count = (value: number) => value.toLocaleString('en-US')

function errorsCell(summary: Summary): string {
  const kinds = ERROR_KINDS.filter((kind) => (summary.errorsByKind[kind] ?? 0) > 0).map(
    (kind) => `${kind} ${count(summary.errorsByKind[kind])}`,
  )
  if (summary.timeouts > 0) kinds.push(`timeout ${count(summary.timeouts)}`)
  return kinds.length === 0 ? '0' : `${count(summary.errors)} (${kinds.join(', ')})`
}

/** The summary's table per step, and the transaction as a whole. */
export function formatTransaction(summary: TransactionSummary): string {
  const header = ['step', 'hits', 'hits/s', 'p50', 'p95', 'p99', 'max', 'errors']
  const row = (name: string, s: Summary) => [
    name,
    count(s.hits),
    s.hitsPerSecond.toFixed(1),
    ms(s.latency.p50),
    ms(s.latency.p95),
    ms(s.latency.p99),
    ms(s.latency.max),
    errorsCell(s),
  ]
  const rows = [header, ...summary.steps.map((step) => row(step.name, step.summary))]
  rows.push(row('(iterations)', summary.iterations))
  const widths = header.map((_, column) => Math.max(...rows.map((cells) => cells[column]!.length)))
  const lines = ['Steps (latency in ms; iterations: every step of one pass, think time excluded)']
  for (const cells of rows)
    lines.push(
      `  ${cells.map((cell, column) => (column === 0 || column === 7 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join('  ')}`.trimEnd(),
    )
  if (summary.exhausted > 0)
    lines.push(
      `Data rows ran out: ${count(summary.exhausted)} time(s) a user found no unique row left and stopped.`,
    )
  return `${lines.join('\n')}\n`
}

/** The JSON form: each step's summary by name, and the iterations'. */
export function transactionJson(summary: TransactionSummary) {
  return {
    iterations: summary.iterations,
    exhausted: summary.exhausted,
    steps: summary.steps.map((step) => ({ name: step.name, summary: step.summary })),
  }
}

const SNIPPET = 1024

function snippet(body: Buffer): string {
  const head = body.subarray(0, SNIPPET).toString('utf8')
  // biome-ignore lint/suspicious/noControlCharactersInRegex: replacing control characters is the point
  const clean = head.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g, '.')
  return body.length > SNIPPET ? `${clean}… (${body.length} bytes)` : clean
}

/** `stampede sprint` of a transaction: every step's request and response in full. */
export function formatTransactionSprint(records: ExchangeRecord[]): string {
  const lines: string[] = []
  for (const record of records) {
    const { request, response } = record
    lines.push(
      `── step ${record.step}: ${request.method} ${request.url}${record.latencyMs !== undefined ? `  (${record.latencyMs.toFixed(2)} ms)` : ''}`,
    )
    const used = Object.entries(record.used)
    if (used.length > 0)
      lines.push(`   variables: ${used.map(([name, value]) => `${name}=${value}`).join('  ')}`)
    for (let i = 0; i < request.headers.length; i += 2)
      lines.push(`   > ${request.headers[i]}: ${request.headers[i + 1]}`)
    if (request.body && request.body.length > 0) lines.push(`   > ${snippet(request.body)}`)
    if (response) {
      lines.push(`   < ${response.status}`)
      for (let i = 0; i < response.headers.length; i += 2)
        lines.push(`   < ${response.headers[i]}: ${response.headers[i + 1]}`)
      if (response.body.length > 0) lines.push(`   < ${snippet(response.body)}`)
    }
    const extracted = Object.entries(record.extracted)
    if (extracted.length > 0)
      lines.push(`   extracted: ${extracted.map(([name, value]) => `${name}=${value}`).join('  ')}`)
    if (record.error) lines.push(`   FAILED: ${record.error}`)
    lines.push('')
  }
  return `${lines.join('\n')}`
}

/** The JSON form of a transaction sprint (bodies as text). */
export function transactionSprintJson(records: ExchangeRecord[]) {
  return records.map((record) => ({
    ...record,
    request: { ...record.request, body: record.request.body?.toString('utf8') ?? null },
    ...(record.response && { response: { ...record.response, body: record.response.body.toString('utf8') } }),
  }))
}
