import { StampedeError } from './errors.js'
import type { Pattern, Share } from './pattern.js'
import type { RequestSpec } from './request-spec.js'
import type { Point } from './timeline.js'
import type { RowMode } from './transaction/rows.js'
import type { StepSpec } from './transaction/spec.js'
import type { LoadModelName } from './workload.js'

/**
 * The documents of the job plane, as TypeScript types, and one validator per document
 * type. Each validator is used twice: in code (`assertValidDoc`, for clear errors before a
 * write) and, stringified, inside the databases' `validate_doc_update`. So every validator
 * is self-contained ES5: no imports, no closures, no arrow functions, no `let`/`const`,
 * no template strings — CouchDB's JavaScript engine may be an old SpiderMonkey. It returns
 * the reason a document is malformed, or null.
 *
 * `(doc, old)`: `old` is the revision being replaced (null on create). Only fields that
 * never change after creation are compared with it: replication delivers revisions from
 * other regions whose parents differ, so state transitions are not policed here.
 */

export type EngineState = 'booting' | 'idle' | 'busy' | 'draining' | 'gone'
export type RushState = 'queued' | 'running' | 'done' | 'failed' | 'aborted'
export type ShardState = 'queued' | 'claimed' | 'running' | 'done' | 'lost' | 'failed' | 'aborted'
export type LoadModel = LoadModelName

// A shard's state changes, and which states are final: lib/shard-state.ts.

interface CouchMeta {
  _id: string
  _rev?: string
  _conflicts?: string[]
}

/** `engine:<instance-id>` in fleet: written only by that engine (and the garbage collector). */
export interface EngineDoc extends CouchMeta {
  type: 'engine'
  instanceId: string
  region: string
  az: string
  instanceType?: string
  version: string
  state: EngineState
  /** Most concurrent connections it will take, over all its shards. */
  capacity: number
  /** Connections its running shards hold now. */
  inUse: number
  /** The last dispatch seq it fully handled; opaque (string on CouchDB, number on PouchDB). */
  checkpoint: string | number | null
  heartbeatAt: number
  startedAt: number
  /** Changes on every start, so sample ids of different runs of one engine never collide. */
  bootId: string
}

export interface ShardRef {
  id: string
  region: string
}

/**
 * A transaction as a rush and its shards carry it: its steps and variables inline, its data
 * file's rows not (they may be megabytes, and every shard would copy them): those are in the
 * `data:<rush>` document of each region's dispatch database, read once by each engine.
 */
export interface StoredTransaction {
  steps: StepSpec[]
  variables?: Record<string, string>
  data?: StoredData
  /** Hosts a followed redirect may go to (`TransactionSpec.redirectHosts`). */
  redirectHosts?: string[]
}

/** What the shard knows of its data file: enough to check the rows read from `data:<rush>`. */
export interface StoredData {
  name: string
  mode: RowMode
  columns: string[]
  /** Number of rows. */
  rows: number
}

/** `rush:<id>` in fleet. */
export interface RushDoc extends CouchMeta {
  type: 'rush'
  rush: string
  model: LoadModel
  request: RequestSpec
  /** The whole rush's pattern; shards carry it too, with their share of it. */
  pattern: Pattern
  maxInFlight?: number
  /** Requests each user keeps in flight (HTTP/1.1 pipelining); absent: one at a time. */
  pipelining?: number
  /** Several steps instead of the one `request` (which is then the first step's). */
  transaction?: StoredTransaction
  regions: string[]
  shards: ShardRef[]
  /** Epoch ms of second 0, common to every shard. */
  startAt: number
  state: RushState
  thresholds?: unknown
  owner?: string
  createdAt: number
  updatedAt?: number
}

/** Totals of a finished shard, enough to check a result without reading samples. */
export interface ShardTotals {
  sent: number
  hits: number
  errors: number
  seconds: number
  /** Transactions with `unique` data rows: iterations that found none left (the rows ran out). */
  exhausted?: number
}

/** `shard:<rush-id>:<n>` in the dispatch database of its region. */
export interface ShardDoc extends CouchMeta {
  type: 'shard'
  rush: string
  n: number
  region: string
  model: LoadModel
  request: RequestSpec
  pattern: Pattern
  /** This shard's users (or requests) out of the whole pattern: shares sum exactly. */
  share: Share
  maxInFlight?: number
  /** Requests each user keeps in flight (HTTP/1.1 pipelining); absent: one at a time. */
  pipelining?: number
  /** Several steps instead of the one `request`; the data rows are in `data:<rush>`. */
  transaction?: StoredTransaction
  startAt: number
  /** Peak connections this shard holds: what an engine checks against its capacity. */
  connections: number
  state: ShardState
  engine?: string
  claimedAt?: number
  /** Epoch ms until which the claim holds without a renewal. */
  leaseUntil?: number
  startedAt?: number
  finishedAt?: number
  /** Last second reported, renewed with the lease. */
  progress?: number
  /**
   * Whole seconds after the rush's second 0 at which this shard's pattern began: its load
   * was ready late. Its seconds before that are reported empty; its pattern ran in full.
   */
  startShift?: number
  /** Final encoded HDR histogram of the shard (done, or cut short by an abort). */
  histogram?: string
  totals?: ShardTotals
  reason?: string
}

/** `abort:<rush-id>` in every dispatch database: created once, never updated, so it never conflicts. */
export interface AbortDoc extends CouchMeta {
  type: 'abort'
  rush: string
  at: number
  reason?: string
}

export interface SampleEntry {
  rush: string
  shard: string
  point: Point
  /** Encoded HDR histogram of the latencies of this second of this shard. */
  histogram: string
  /**
   * Transactions only: encoded histograms of this second, the iterations' then each step's,
   * in step order (the point's `steps` and `iterations` hold the counts). Entries without
   * them (single requests, older engines) merge as before.
   */
  parts?: string[]
}

/** `samples:<engine>:<boot>:<k>` in results: one engine's seconds, batched across its shards. */
export interface SamplesDoc extends CouchMeta {
  type: 'samples'
  engine: string
  region: string
  at: number
  entries: SampleEntry[]
}

/**
 * `lease:<name>` in fleet: who may act as the controller. Its `_rev` is the lock (every write
 * by the holder names the revision it read, so a 409 means the lease was lost); `state` is the
 * controller's own memory between runs (launch ledger, idle times), owned by `controller/`.
 */
export interface LeaseDoc extends CouchMeta {
  type: 'lease'
  holder: string
  acquiredAt: number
  /** Epoch ms after which another run may take the lease. */
  expiresAt: number
  state?: unknown
}

/**
 * `sprint:<id>` in the dispatch database of its region: one request with every detail, run
 * by one engine of the region (the API's sprints). Claimed like a shard (its `_rev`), then
 * the full result written back. `result` is the load library's sprint result, as data.
 */
export interface SprintDoc extends CouchMeta {
  type: 'sprint'
  sprint: string
  region: string
  request: RequestSpec
  owner?: string
  state: 'queued' | 'running' | 'done' | 'failed'
  engine?: string
  createdAt: number
  startedAt?: number
  finishedAt?: number
  result?: unknown
}

/** The attachment of a `data:<rush>` document holding the rows: a JSON array of rows of texts. */
export const DATA_ATTACHMENT = 'rows.json'

/**
 * `data:<rush>` in the dispatch database of every region of a transaction's rush: its data
 * file, once per region however many shards. The rows are the attachment `rows.json` (a
 * JSON array of arrays of texts), so the dispatch feed (`include_docs`, no attachments)
 * does not carry them to every engine, and CouchDB's `max_document_size` (8 MB by default)
 * does not apply to them. Written once, before the shards; never changed.
 */
export interface DataDoc extends CouchMeta {
  type: 'data'
  rush: string
  name: string
  columns: string[]
  rows: number
  _attachments?: Record<string, unknown>
}

export type StampedeDoc =
  | EngineDoc
  | RushDoc
  | ShardDoc
  | AbortDoc
  | SamplesDoc
  | LeaseDoc
  | SprintDoc
  | DataDoc
export type DocType = StampedeDoc['type']

export const engineId = (instanceId: string): string => `engine:${instanceId}`
export const rushDocId = (rush: string): string => `rush:${rush}`
export const shardId = (rush: string, n: number): string => `shard:${rush}:${n}`
export const abortId = (rush: string): string => `abort:${rush}`
export const sprintDocId = (sprint: string): string => `sprint:${sprint}`
export const dataDocId = (rush: string): string => `data:${rush}`
export const samplesId = (engine: string, bootId: string, k: number): string =>
  `samples:${engine}:${bootId}:${k}`

// biome-ignore-start lint: CouchDB runs this source: ES5 on purpose (var, concatenation, isFinite, untyped input)
// ---------------------------------------------------------------------------------------
// Validators. Self-contained ES5 (see the top of this file); tests check both uses.
// ---------------------------------------------------------------------------------------

export function validateEngine(doc: any, old: any): string | null {
  function isName(v: any) {
    return typeof v === 'string' && v.length > 0 && v.length <= 200
  }
  function isTime(v: any) {
    return typeof v === 'number' && isFinite(v) && v >= 0
  }
  if (doc.type !== 'engine') return 'engine: type must be "engine"'
  if (!isName(doc.instanceId)) return 'engine: instanceId must be a non-empty string'
  if (doc._id !== 'engine:' + doc.instanceId) return 'engine: _id must be "engine:" + instanceId'
  if (!isName(doc.region)) return 'engine: region must be a non-empty string'
  if (typeof doc.az !== 'string') return 'engine: az must be a string'
  if (!isName(doc.version)) return 'engine: version must be a non-empty string'
  if (['booting', 'idle', 'busy', 'draining', 'gone'].indexOf(doc.state) < 0) {
    return 'engine: state must be one of booting, idle, busy, draining, gone'
  }
  if (typeof doc.capacity !== 'number' || !(doc.capacity > 0) || Math.floor(doc.capacity) !== doc.capacity) {
    return 'engine: capacity must be a positive integer'
  }
  if (typeof doc.inUse !== 'number' || !(doc.inUse >= 0)) return 'engine: inUse must be a non-negative number'
  var cp = doc.checkpoint
  if (cp !== null && typeof cp !== 'string' && typeof cp !== 'number') {
    return 'engine: checkpoint must be a sequence (string or number) or null'
  }
  if (!isTime(doc.heartbeatAt) || !isTime(doc.startedAt))
    return 'engine: heartbeatAt and startedAt must be epoch milliseconds'
  if (!isName(doc.bootId)) return 'engine: bootId must be a non-empty string'
  if (old && old.region !== doc.region) return 'engine: region cannot change'
  return null
}

export function validateRush(doc: any, old: any): string | null {
  function isName(v: any) {
    return typeof v === 'string' && v.length > 0 && v.length <= 200 && v.indexOf(':') < 0
  }
  function isTime(v: any) {
    return typeof v === 'number' && isFinite(v) && v >= 0
  }
  function patternProblem(p: any) {
    if (!p || typeof p.length !== 'number' || p.length === 0)
      return 'pattern must be a non-empty list of intervals'
    for (var i = 0; i < p.length; i++) {
      var iv = p[i] || {}
      if (!isTime(iv.start) || !isTime(iv.end))
        return 'pattern interval ' + i + ': start and end must be non-negative numbers'
      if (typeof iv.duration !== 'number' || !(iv.duration > 0) || !isFinite(iv.duration)) {
        return 'pattern interval ' + i + ': duration must be positive'
      }
    }
    return null
  }
  function requestProblem(r: any) {
    if (!r || typeof r !== 'object') return 'request must be an object'
    if (typeof r.method !== 'string' || !/^[A-Z]+$/.test(r.method))
      return 'request.method must be an upper-case HTTP method'
    if (typeof r.url !== 'string' || !/^https?:\/\/[^\s]+$/.test(r.url))
      return 'request.url must be an http(s) URL'
    if (!r.headers || typeof r.headers !== 'object') return 'request.headers must be an object'
    if (typeof r.timeoutMs !== 'number' || !(r.timeoutMs > 0)) return 'request.timeoutMs must be positive'
    return null
  }
  if (doc.type !== 'rush') return 'rush: type must be "rush"'
  if (!isName(doc.rush)) return 'rush: rush (the id) must be a non-empty string without ":"'
  if (doc._id !== 'rush:' + doc.rush) return 'rush: _id must be "rush:" + rush'
  if (doc.model !== 'rush' && doc.model !== 'arrival-rate')
    return 'rush: model must be "rush" or "arrival-rate"'
  function transactionProblem(x: any) {
    if (x === undefined) return null
    if (!x || typeof x !== 'object' || !x.steps || typeof x.steps.length !== 'number' || x.steps.length === 0)
      return 'transaction.steps must be a non-empty list'
    for (var i = 0; i < x.steps.length; i++) {
      var sr = (x.steps[i] || {}).request
      if (
        !sr ||
        typeof sr.url !== 'string' ||
        typeof sr.method !== 'string' ||
        typeof sr.timeoutMs !== 'number'
      )
        return 'transaction.steps[' + i + '].request must have method, url and timeoutMs'
    }
    var d = x.data
    if (d !== undefined) {
      if (!d || typeof d.name !== 'string' || ['sequential', 'random', 'unique'].indexOf(d.mode) < 0)
        return 'transaction.data must have a name and a mode (sequential, random, unique)'
      if (typeof d.rows !== 'number' || !(d.rows >= 0) || Math.floor(d.rows) !== d.rows)
        return 'transaction.data.rows must be a row count'
      if (!d.columns || typeof d.columns.length !== 'number') return 'transaction.data.columns must be a list'
      if (d.table !== undefined) return 'transaction.data carries no table (the rows are in data:<rush>)'
    }
    return null
  }
  var problem =
    requestProblem(doc.request) || patternProblem(doc.pattern) || transactionProblem(doc.transaction)
  if (problem) return 'rush: ' + problem
  if (!doc.regions || typeof doc.regions.length !== 'number' || doc.regions.length === 0) {
    return 'rush: regions must be a non-empty list'
  }
  for (var r = 0; r < doc.regions.length; r++)
    if (!isName(doc.regions[r])) return 'rush: every region must be a name'
  if (!doc.shards || typeof doc.shards.length !== 'number' || doc.shards.length === 0) {
    return 'rush: shards must be a non-empty list'
  }
  for (var s = 0; s < doc.shards.length; s++) {
    var ref = doc.shards[s] || {}
    if (ref.id !== 'shard:' + doc.rush + ':' + s)
      return 'rush: shards[' + s + '].id must be "shard:<rush>:' + s + '"'
    if (doc.regions.indexOf(ref.region) < 0)
      return 'rush: shards[' + s + '].region must be one of the regions'
  }
  if (!isTime(doc.startAt) || !isTime(doc.createdAt))
    return 'rush: startAt and createdAt must be epoch milliseconds'
  if (['queued', 'running', 'done', 'failed', 'aborted'].indexOf(doc.state) < 0) {
    return 'rush: state must be one of queued, running, done, failed, aborted'
  }
  if (old && (old.startAt !== doc.startAt || old.shards.length !== doc.shards.length)) {
    return 'rush: startAt and shards cannot change'
  }
  return null
}

export function validateShard(doc: any, old: any): string | null {
  function isName(v: any) {
    return typeof v === 'string' && v.length > 0 && v.length <= 200
  }
  function isTime(v: any) {
    return typeof v === 'number' && isFinite(v) && v >= 0
  }
  if (doc.type !== 'shard') return 'shard: type must be "shard"'
  if (!isName(doc.rush) || doc.rush.indexOf(':') >= 0) return 'shard: rush must be a rush id'
  if (typeof doc.n !== 'number' || !(doc.n >= 0) || Math.floor(doc.n) !== doc.n)
    return 'shard: n must be a non-negative integer'
  if (doc._id !== 'shard:' + doc.rush + ':' + doc.n) return 'shard: _id must be "shard:<rush>:<n>"'
  if (!isName(doc.region)) return 'shard: region must be a non-empty string'
  if (doc.model !== 'rush' && doc.model !== 'arrival-rate')
    return 'shard: model must be "rush" or "arrival-rate"'
  var r = doc.request
  if (!r || typeof r.url !== 'string' || typeof r.method !== 'string' || typeof r.timeoutMs !== 'number') {
    return 'shard: request must have method, url and timeoutMs'
  }
  var x = doc.transaction
  if (x !== undefined) {
    if (!x || typeof x !== 'object' || !x.steps || typeof x.steps.length !== 'number' || x.steps.length === 0)
      return 'shard: transaction.steps must be a non-empty list'
    for (var k = 0; k < x.steps.length; k++) {
      var sr = (x.steps[k] || {}).request
      if (
        !sr ||
        typeof sr.url !== 'string' ||
        typeof sr.method !== 'string' ||
        typeof sr.timeoutMs !== 'number'
      )
        return 'shard: transaction.steps[' + k + '].request must have method, url and timeoutMs'
    }
    var d = x.data
    if (
      d !== undefined &&
      (!d ||
        ['sequential', 'random', 'unique'].indexOf(d.mode) < 0 ||
        typeof d.rows !== 'number' ||
        !(d.rows >= 0) ||
        d.table !== undefined)
    )
      return 'shard: transaction.data must have a mode and a row count (the rows are in data:<rush>)'
  }
  var p = doc.pattern
  if (!p || typeof p.length !== 'number' || p.length === 0)
    return 'shard: pattern must be a non-empty list of intervals'
  for (var i = 0; i < p.length; i++) {
    var iv = p[i] || {}
    if (!isTime(iv.start) || !isTime(iv.end) || typeof iv.duration !== 'number' || !(iv.duration > 0)) {
      return 'shard: pattern interval ' + i + ' must have start, end >= 0 and duration > 0'
    }
  }
  var share = doc.share
  if (
    !share ||
    typeof share.of !== 'number' ||
    typeof share.index !== 'number' ||
    !(share.of >= 1) ||
    !(share.index >= 0) ||
    !(share.index < share.of) ||
    Math.floor(share.index) !== share.index ||
    Math.floor(share.of) !== share.of
  ) {
    return 'shard: share must be {index, of} with integers 0 <= index < of'
  }
  if (!isTime(doc.startAt)) return 'shard: startAt must be epoch milliseconds'
  if (typeof doc.connections !== 'number' || !(doc.connections >= 0))
    return 'shard: connections must be a non-negative number'
  var state = doc.state
  if (['queued', 'claimed', 'running', 'done', 'lost', 'failed', 'aborted'].indexOf(state) < 0) {
    return 'shard: state must be one of queued, claimed, running, done, lost, failed, aborted'
  }
  if (state === 'queued' && doc.engine !== undefined) return 'shard: a queued shard has no engine'
  if ((state === 'claimed' || state === 'running') && (!isName(doc.engine) || !isTime(doc.leaseUntil))) {
    return 'shard: a ' + state + ' shard needs its engine and leaseUntil'
  }
  if (state === 'done' && typeof doc.histogram !== 'string')
    return 'shard: a done shard carries its histogram'
  if (doc.histogram !== undefined && typeof doc.histogram !== 'string')
    return 'shard: histogram must be an encoded string'
  if (
    old &&
    (old.rush !== doc.rush ||
      old.region !== doc.region ||
      old.startAt !== doc.startAt ||
      old.share.index !== doc.share.index ||
      old.share.of !== doc.share.of)
  ) {
    return 'shard: rush, region, share and startAt cannot change'
  }
  return null
}

export function validateAbort(doc: any, old: any): string | null {
  if (doc.type !== 'abort') return 'abort: type must be "abort"'
  if (typeof doc.rush !== 'string' || doc.rush.length === 0) return 'abort: rush must be a rush id'
  if (doc._id !== 'abort:' + doc.rush) return 'abort: _id must be "abort:" + rush'
  if (typeof doc.at !== 'number' || !(doc.at >= 0)) return 'abort: at must be epoch milliseconds'
  if (old && old.at !== doc.at) return 'abort: an abort is written once and never changed'
  return null
}

export function validateSamples(doc: any, old: any): string | null {
  if (doc.type !== 'samples') return 'samples: type must be "samples"'
  if (typeof doc.engine !== 'string' || doc.engine.length === 0)
    return 'samples: engine must be an instance id'
  if (doc._id.indexOf('samples:' + doc.engine + ':') !== 0)
    return 'samples: _id must start with "samples:<engine>:"'
  if (typeof doc.region !== 'string' || typeof doc.at !== 'number')
    return 'samples: region and at are required'
  var entries = doc.entries
  if (!entries || typeof entries.length !== 'number' || entries.length === 0)
    return 'samples: entries must be a non-empty list'
  for (var i = 0; i < entries.length; i++) {
    var e = entries[i] || {}
    if (typeof e.rush !== 'string' || typeof e.shard !== 'string')
      return 'samples: entries[' + i + '] needs rush and shard'
    if (typeof e.histogram !== 'string')
      return 'samples: entries[' + i + '].histogram must be an encoded string'
    if (e.parts !== undefined && (!e.parts || typeof e.parts.length !== 'number'))
      return 'samples: entries[' + i + '].parts must be a list of encoded histograms'
    var p = e.point
    if (
      !p ||
      typeof p.t !== 'number' ||
      !(p.t >= 0) ||
      typeof p.hits !== 'number' ||
      typeof p.sent !== 'number' ||
      !p.errors ||
      typeof p.errors !== 'object' ||
      !p.statuses ||
      typeof p.statuses !== 'object'
    ) {
      return (
        'samples: entries[' + i + '].point must be a timeline point with t, sent, hits, errors and statuses'
      )
    }
  }
  if (old) return 'samples: a batch is written once and never changed'
  return null
}

export function validateLease(doc: any, old: any): string | null {
  if (doc.type !== 'lease') return 'lease: type must be "lease"'
  if (typeof doc._id !== 'string' || doc._id.indexOf('lease:') !== 0)
    return 'lease: _id must start with "lease:"'
  if (typeof doc.holder !== 'string' || doc.holder.length === 0)
    return 'lease: holder must be a non-empty string'
  if (typeof doc.acquiredAt !== 'number' || typeof doc.expiresAt !== 'number' || !isFinite(doc.expiresAt)) {
    return 'lease: acquiredAt and expiresAt must be epoch milliseconds'
  }
  if (old && old.type !== 'lease') return 'lease: type cannot change'
  return null
}

export function validateSprint(doc: any, old: any): string | null {
  if (doc.type !== 'sprint') return 'sprint: type must be "sprint"'
  if (typeof doc.sprint !== 'string' || doc.sprint.length === 0 || doc.sprint.indexOf(':') >= 0)
    return 'sprint: sprint (the id) must be a non-empty string without ":"'
  if (doc._id !== 'sprint:' + doc.sprint) return 'sprint: _id must be "sprint:" + sprint'
  if (typeof doc.region !== 'string' || doc.region.length === 0) return 'sprint: region must be a name'
  var r = doc.request
  if (!r || typeof r.url !== 'string' || typeof r.method !== 'string' || typeof r.timeoutMs !== 'number') {
    return 'sprint: request must have method, url and timeoutMs'
  }
  if (['queued', 'running', 'done', 'failed'].indexOf(doc.state) < 0)
    return 'sprint: state must be one of queued, running, done, failed'
  if (doc.state !== 'queued' && (typeof doc.engine !== 'string' || doc.engine.length === 0))
    return 'sprint: a ' + doc.state + ' sprint needs its engine'
  if (old && (old.region !== doc.region || old.request.url !== doc.request.url))
    return 'sprint: region and request cannot change'
  return null
}

export function validateData(doc: any, old: any): string | null {
  if (doc.type !== 'data') return 'data: type must be "data"'
  if (typeof doc.rush !== 'string' || doc.rush.length === 0 || doc.rush.indexOf(':') >= 0)
    return 'data: rush must be a rush id'
  if (doc._id !== 'data:' + doc.rush) return 'data: _id must be "data:" + rush'
  if (typeof doc.name !== 'string') return 'data: name must be a text'
  if (!doc.columns || typeof doc.columns.length !== 'number' || doc.columns.length === 0)
    return 'data: columns must be a non-empty list'
  if (typeof doc.rows !== 'number' || !(doc.rows >= 0) || Math.floor(doc.rows) !== doc.rows)
    return 'data: rows must be a row count'
  if (old && (old.rows !== doc.rows || old.rush !== doc.rush)) return 'data: written once and never changed'
  return null
}

// biome-ignore-end lint: end of the ES5 validators

export type Validator = (doc: unknown, old: unknown) => string | null

export const VALIDATORS: Record<DocType, Validator> = {
  engine: validateEngine,
  rush: validateRush,
  shard: validateShard,
  abort: validateAbort,
  samples: validateSamples,
  lease: validateLease,
  sprint: validateSprint,
  data: validateData,
}

/** The reason `doc` is malformed, or null; the same answer `validate_doc_update` gives. */
export function docProblem(doc: unknown, old?: unknown): string | null {
  if (!doc || typeof doc !== 'object') return 'a document must be an object'
  const { type, _id } = doc as { type?: unknown; _id?: unknown }
  if (typeof _id !== 'string') return 'a document needs an _id'
  const validator = VALIDATORS[type as DocType]
  if (!validator) return `unknown document type ${JSON.stringify(type)}`
  return validator(doc, old ?? null)
}

/** Throws `STAMPEDE_INVALID_DOC` with the validator's reason. */
export function assertValidDoc<T extends StampedeDoc>(doc: T, old?: unknown): T {
  const problem = docProblem(doc, old)
  if (problem) throw new StampedeError('STAMPEDE_INVALID_DOC', `invalid document ${doc._id}: ${problem}`)
  return doc
}
