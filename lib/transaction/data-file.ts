import { UsageError } from '../errors.js'

/** A data file as plain data: column names and rows of texts, every row as wide as the header. */
export interface DataTable {
  columns: string[]
  rows: string[][]
}

/**
 * The most bytes a data file may have. It travels with the rush (stored once, not per
 * shard) and every load process holds it in memory.
 */
export const MAX_DATA_BYTES = 16 * 1024 * 1024

/**
 * RFC 4180 CSV with a header row: fields separated by commas, optionally in double quotes
 * (a quote inside doubled), quoted fields may hold commas and line breaks; lines end in
 * CRLF or LF. A row whose field count differs from the header's is an error naming the line.
 */
export function parseCsv(text: string, name = 'data file'): DataTable {
  const records: { fields: string[]; line: number }[] = []
  let fields: string[] = []
  let field = ''
  let line = 1
  let recordLine = 1
  let i = 0
  let quoted = false
  let afterQuote = false
  const n = text.length
  if (text.charCodeAt(0) === 0xfeff) i = 1
  const endRecord = () => {
    fields.push(field)
    // A blank line (one empty field) is skipped, not a ragged row.
    if (!(fields.length === 1 && fields[0] === '')) records.push({ fields, line: recordLine })
    fields = []
    field = ''
    afterQuote = false
  }
  while (i < n) {
    const c = text[i]!
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"'
          i += 2
          continue
        }
        quoted = false
        afterQuote = true
        i++
        continue
      }
      if (c === '\n') line++
      field += c
      i++
      continue
    }
    if (c === ',') {
      fields.push(field)
      field = ''
      afterQuote = false
      i++
    } else if (c === '\n' || (c === '\r' && text[i + 1] === '\n')) {
      endRecord()
      i += c === '\r' ? 2 : 1
      line++
      recordLine = line
    } else if (c === '"' && field === '' && !afterQuote) {
      quoted = true
      i++
    } else {
      if (afterQuote) throw new UsageError(`${name} line ${line}: text after a closing quote`)
      if (c === '"') throw new UsageError(`${name} line ${line}: a quote inside an unquoted field`)
      field += c
      i++
    }
  }
  if (quoted) throw new UsageError(`${name} line ${recordLine}: unterminated quoted field`)
  if (field !== '' || fields.length > 0) endRecord()
  if (records.length === 0) throw new UsageError(`${name}: empty (a header row is needed)`)
  const [header, ...rest] = records
  const columns = header!.fields.map((column) => column.trim())
  checkColumns(columns, name)
  for (const record of rest) {
    if (record.fields.length !== columns.length)
      throw new UsageError(
        `${name} line ${record.line}: ${record.fields.length} fields, the header has ${columns.length}`,
      )
  }
  return { columns, rows: rest.map((record) => record.fields) }
}

/**
 * JSON lines: one object per line; the first line's keys are the columns and every later
 * line must have exactly those keys. Values that are not texts are kept as JSON.
 */
export function parseJsonLines(text: string, name = 'data file'): DataTable {
  let columns: string[] | undefined
  const rows: string[][] = []
  const lines = text.split(/\r?\n/)
  for (let index = 0; index < lines.length; index++) {
    const raw = lines[index]!.trim()
    if (raw === '') continue
    let value: unknown
    try {
      value = JSON.parse(raw)
    } catch (err) {
      throw new UsageError(`${name} line ${index + 1}: not JSON (${(err as Error).message})`)
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value))
      throw new UsageError(`${name} line ${index + 1}: expected a JSON object`)
    const record = value as Record<string, unknown>
    if (columns === undefined) {
      columns = Object.keys(record)
      checkColumns(columns, name)
    }
    const keys = Object.keys(record)
    if (keys.length !== columns.length || !columns.every((column) => Object.hasOwn(record, column)))
      throw new UsageError(
        `${name} line ${index + 1}: keys ${keys.join(',')} differ from ${columns.join(',')}`,
      )
    rows.push(
      columns.map((column) => {
        const field = record[column]
        return typeof field === 'string' ? field : JSON.stringify(field)
      }),
    )
  }
  if (columns === undefined) throw new UsageError(`${name}: empty`)
  return { columns, rows }
}

/** Parses by name: `.jsonl`/`.ndjson` as JSON lines, anything else as CSV. */
export function parseDataFile(text: string, name: string): DataTable {
  if (Buffer.byteLength(text) > MAX_DATA_BYTES)
    throw new UsageError(`${name}: larger than ${MAX_DATA_BYTES / 1024 / 1024} MiB`)
  return /\.(jsonl|ndjson)$/i.test(name) ? parseJsonLines(text, name) : parseCsv(text, name)
}

function checkColumns(columns: string[], name: string): void {
  const seen = new Set<string>()
  for (const column of columns) {
    if (!/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(column))
      throw new UsageError(`${name}: column "${column}" is not a usable variable name`)
    if (seen.has(column)) throw new UsageError(`${name}: column "${column}" appears twice`)
    seen.add(column)
  }
}

export function validateDataTable(table: unknown, name = 'data'): DataTable {
  const { columns, rows } = (table ?? {}) as Partial<DataTable>
  if (!Array.isArray(columns) || !columns.every((c) => typeof c === 'string'))
    throw new UsageError(`${name}: columns must be a list of names`)
  checkColumns(columns, name)
  if (!Array.isArray(rows)) throw new UsageError(`${name}: rows must be a list`)
  rows.forEach((row, index) => {
    if (!Array.isArray(row) || row.length !== columns.length || !row.every((f) => typeof f === 'string'))
      throw new UsageError(`${name}: row ${index + 1} must hold ${columns.length} texts`)
  })
  return { columns, rows: rows as string[][] }
}
