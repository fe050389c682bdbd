import Nano from 'nano'
import { StampedeError } from '../errors.js'
import { basicAuth, type Credentials } from './credentials.js'
import { type DbNames, DESIGN_NAME, dbNames } from './names.js'

/** A connection to one region's CouchDB (or PouchDB Server). */
export interface Couch {
  /** Base URL, no credentials, no trailing slash. */
  url: string
  names: DbNames
  server: Nano.ServerScope
  /** Headers for requests made without nano (the changes follower). */
  headers: Record<string, string>
  db(name: string): Nano.DocumentScope<unknown>
}

export interface ConnectOptions {
  prefix?: string
  credentials?: Credentials
}

export function connectCouch(url: string | URL, options: ConnectOptions = {}): Couch {
  const base = String(url).replace(/\/+$/, '')
  const authorization = basicAuth(options.credentials)
  const headers: Record<string, string> = authorization ? { Authorization: authorization } : {}
  const server = Nano({ url: base, headers: { ...headers } })
  return {
    url: base,
    names: dbNames(options.prefix),
    server,
    headers,
    db: (name) => server.use(name),
  }
}

type Db = Nano.DocumentScope<unknown>

export function statusOf(err: unknown): number | undefined {
  return (err as { statusCode?: number }).statusCode
}

/** Wraps a CouchDB failure with what was being done; a rejected write keeps the reason. */
export function couchFailure(err: unknown, doing: string): StampedeError {
  if (err instanceof StampedeError) return err
  const status = statusOf(err)
  const reason =
    (err as { reason?: string; message?: string }).reason ?? (err as Error).message ?? String(err)
  if (status === 403)
    return new StampedeError('STAMPEDE_DOC_REJECTED', `${doing}: rejected: ${reason}`, { cause: err })
  if (status === 409) return new StampedeError('STAMPEDE_CONFLICT', `${doing}: conflict`, { cause: err })
  return new StampedeError('STAMPEDE_COUCH', `${doing}: ${status ? `HTTP ${status} ` : ''}${reason}`, {
    cause: err,
  })
}

/** The document, or undefined when there is none (404). */
export async function getDoc<T>(
  db: Db,
  id: string,
  params: Nano.DocumentGetParams = {},
): Promise<T | undefined> {
  try {
    return (await db.get(id, params)) as T
  } catch (err) {
    if (statusOf(err) === 404) return undefined
    throw couchFailure(err, `reading ${db.config.db}/${id}`)
  }
}

/** Many documents by id; missing ones are left out. */
export async function getDocs<T>(db: Db, ids: string[]): Promise<T[]> {
  if (ids.length === 0) return []
  try {
    const response = await db.fetch({ keys: ids }, { conflicts: true } as Nano.DocumentFetchParams)
    return response.rows.flatMap((row) => ('doc' in row && row.doc ? [row.doc as T] : []))
  } catch (err) {
    if (statusOf(err) === 404) return []
    throw couchFailure(err, `reading ${ids.length} documents from ${db.config.db}`)
  }
}

/**
 * Writes a document with its `_rev` (none: create). Returns the new rev, or undefined
 * when someone else wrote first (409): the caller decides what losing means.
 */
export async function tryWrite<T extends { _id: string; _rev?: string }>(
  db: Db,
  doc: T,
): Promise<string | undefined> {
  try {
    const response = await db.insert(doc as Nano.MaybeDocument)
    return response.rev
  } catch (err) {
    if (statusOf(err) === 409) return undefined
    throw couchFailure(err, `writing ${db.config.db}/${doc._id}`)
  }
}

/** Creates a document once; false when it already exists. */
export async function createOnce<T extends { _id: string }>(db: Db, doc: T): Promise<boolean> {
  return (await tryWrite(db, { ...doc, _rev: undefined })) !== undefined
}

/** What `updateDoc` did. */
export interface Update<T> {
  /** What was written, or the document as it stands when nothing was (undefined: none). */
  doc: T | undefined
  /** Whether a write landed; false when `change` left the document as it was. */
  written: boolean
  /** Write requests made (conflicts included): what a writes-per-second figure counts. */
  requests: number
}

/**
 * Read, change, write; on a conflict read again and retry. `change` returns the new
 * document, or undefined to leave it as it is (then nothing is written). Throws
 * `STAMPEDE_CONFLICT` after `attempts` conflicts in a row — a final answer: callers do not
 * retry it (`isTransient` says no).
 */
export async function updateDoc<T extends { _id: string; _rev?: string }>(
  db: Db,
  id: string,
  change: (current: T | undefined) => T | undefined,
  attempts = 10,
): Promise<Update<T>> {
  let requests = 0
  for (let attempt = 0; attempt < attempts; attempt++) {
    const current = await getDoc<T>(db, id)
    const next = change(current)
    if (next === undefined) return { doc: current, written: false, requests }
    requests++
    const rev = await tryWrite(db, { ...next, _id: id, _rev: current?._rev })
    if (rev !== undefined) return { doc: { ...next, _id: id, _rev: rev }, written: true, requests }
  }
  throw new StampedeError(
    'STAMPEDE_CONFLICT',
    `updating ${db.config.db}/${id}: still conflicting after ${attempts} attempts`,
  )
}

export interface BulkResult {
  id: string
  rev?: string
  error?: string
  reason?: string
}

/** Writes many documents in one request (samples); per-document results, in order. */
export async function bulkWrite(db: Db, docs: object[]): Promise<BulkResult[]> {
  if (docs.length === 0) return []
  try {
    return (await db.bulk({ docs })) as BulkResult[]
  } catch (err) {
    throw couchFailure(err, `writing ${docs.length} documents to ${db.config.db}`)
  }
}

/** Rows of a view (no reduce), optionally with their documents. */
export async function viewRows<V = unknown, D = unknown>(
  db: Db,
  view: string,
  params: Nano.DocumentViewParams,
): Promise<{ id: string; key: unknown; value: V; doc?: D }[]> {
  try {
    const response = await db.view(DESIGN_NAME, view, params)
    return response.rows as unknown as { id: string; key: unknown; value: V; doc?: D }[]
  } catch (err) {
    if (statusOf(err) === 404) return []
    throw couchFailure(err, `querying ${db.config.db} view ${view}`)
  }
}

/** The database's current update sequence (opaque). */
export async function updateSeq(db: Db): Promise<string | number> {
  try {
    const info = (await db.info()) as unknown as { update_seq: string | number }
    return info.update_seq
  } catch (err) {
    throw couchFailure(err, `reading ${db.config.db} info`)
  }
}
