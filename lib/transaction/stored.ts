import type { StoredTransaction } from '../documents.js'
import { UsageError } from '../errors.js'
import { type DataTable, MAX_DATA_BYTES, validateDataTable } from './data-file.js'
import type { DataSpec, TransactionSpec } from './spec.js'

/**
 * A transaction on its way through the job plane: the rush and its shards carry its steps
 * and variables (`StoredTransaction`), the data rows travel apart, once per region, as the
 * `rows.json` attachment of `data:<rush>` (see lib/documents.ts). Pure: the CouchDB side is
 * lib/couch/data.ts.
 */
/**
 * The most bytes of data rows a rush through CouchDB carries (as JSON, the attachment's
 * size): the same bound as a data file read locally, so what runs locally runs distributed.
 */
export const MAX_STORED_ROWS_BYTES = MAX_DATA_BYTES

/** What the rush and its shards carry: the transaction without its data table (its size instead). */
export function storedTransaction(spec: TransactionSpec): StoredTransaction {
  const transaction: StoredTransaction = { steps: spec.steps }
  if (spec.variables !== undefined) transaction.variables = spec.variables
  if (spec.redirectHosts !== undefined) transaction.redirectHosts = spec.redirectHosts
  if (spec.data) {
    const { name, mode, table } = spec.data
    transaction.data = { name, mode, columns: table.columns, rows: table.rows.length }
  }
  return transaction
}

/** Encoded once per data spec: `newRush` checks the size, `submitRush` then writes the same bytes. */
const encoded = new WeakMap<DataSpec, Buffer>()

/** The data rows as `data:<rush>` holds them (a JSON array of rows); one line when too large. */
export function storedRows(data: DataSpec, maxBytes = MAX_STORED_ROWS_BYTES): Buffer {
  let rows = encoded.get(data)
  if (!rows) {
    rows = Buffer.from(JSON.stringify(data.table.rows))
    encoded.set(data, rows)
  }
  if (rows.length > maxBytes)
    throw new UsageError(
      `data file ${data.name}: its rows take ${mib(rows.length)} MiB as JSON; a rush through CouchDB carries at most ${mib(maxBytes)} MiB`,
    )
  return rows
}

/**
 * The transaction a load job runs, from what the shard carries and the rows read from its
 * region's `data:<rush>`; the rows must be the ones the shard announces (columns, count).
 */
export function restoreTransaction(stored: StoredTransaction, rows?: Buffer | string): TransactionSpec {
  const spec: TransactionSpec = { steps: stored.steps }
  if (stored.variables !== undefined) spec.variables = stored.variables
  if (stored.redirectHosts !== undefined) spec.redirectHosts = stored.redirectHosts
  if (!stored.data) return spec
  const { name, mode, columns } = stored.data
  if (rows === undefined) throw new Error(`data rows of ${name} are missing`)
  let parsed: unknown
  try {
    parsed = JSON.parse(rows.toString())
  } catch (err) {
    throw new Error(`data rows of ${name} are not JSON: ${(err as Error).message}`)
  }
  const table: DataTable = validateDataTable({ columns, rows: parsed }, name)
  if (table.rows.length !== stored.data.rows)
    throw new Error(`data rows of ${name}: ${table.rows.length} found, ${stored.data.rows} expected`)
  spec.data = { name, mode, table }
  return spec
}

function mib(bytes: number): string {
  return (bytes / 1024 / 1024).toFixed(1).replace(/\.0$/, '')
}
