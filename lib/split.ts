import { isRegionName } from './couch/names.js'
import {
  type LoadModel,
  type RushDoc,
  rushDocId,
  type ShardDoc,
  type ShardRef,
  shardId,
} from './documents.js'
import { UsageError } from './errors.js'
import { type Pattern, shareCount, validatePattern } from './pattern.js'
import { pipeliningRefusal } from './pipelining.js'
import type { RequestSpec } from './request-spec.js'
import { validateTransaction } from './transaction/compile.js'
import type { TransactionSpec } from './transaction/spec.js'
import { storedRows, storedTransaction } from './transaction/stored.js'
import { DEFAULT_MAX_IN_FLIGHT, peakConnections } from './workload.js'

/** What a user asks for; `newRush` turns it into a rush document. */
export interface RushSpec {
  model: LoadModel
  /** The request; with a transaction, ignored: the rush's request is the first step's. */
  request: RequestSpec
  /**
   * Several steps instead of one request (plain data, its data table included). The rush
   * and its shards carry it without the table; `submitRush` stores the rows once per region.
   */
  transaction?: TransactionSpec
  pattern: Pattern
  /** Arrival rate: most requests in flight at once, for the whole rush. */
  maxInFlight?: number
  /** Closed model, single request: requests each user keeps in flight (HTTP/1.1 pipelining). */
  pipelining?: number
  regions: string[]
  /** Shards (engines) per region; default: enough that none holds more than `SHARD_CONNECTIONS`. */
  shardsPerRegion?: number
  /** Epoch ms of second 0; default: `startLeadMs` after submission. */
  startAt?: number
  /** Time for the shards to reach engines in every region before second 0. */
  startLeadMs?: number
  thresholds?: unknown
  owner?: string
}

/** The most connections one shard is planned to hold when the split is automatic. */
export const SHARD_CONNECTIONS = 2000
export const DEFAULT_START_LEAD_MS = 2000

/**
 * Lays shards out over regions round-robin (shard n in region n mod R), so each region
 * gets an even, interleaved share of the users whatever the ramp.
 */
export function layoutShards(rush: string, regions: string[], perRegion: number): ShardRef[] {
  const total = regions.length * perRegion
  return Array.from({ length: total }, (_, n) => ({
    id: shardId(rush, n),
    region: regions[n % regions.length]!,
  }))
}

/** A rush document from a spec: checks it, fixes the start time and the shard layout. */
export function newRush(spec: RushSpec, id: string, now: number): RushDoc {
  validatePattern(spec.pattern)
  if (spec.regions.length === 0) throw new UsageError('a rush needs at least one region')
  for (const region of spec.regions) {
    if (!isRegionName(region))
      throw new UsageError(`invalid region "${region}" (lower-case letters, digits and -)`)
  }
  if (new Set(spec.regions).size !== spec.regions.length) throw new UsageError('regions must not repeat')
  // Every step compiled here (templates, extractions, data columns), so bad input is refused
  // at submission with the same one-line message as locally, never on the engines.
  const transaction = spec.transaction && storedTransaction(validateTransaction(spec.transaction))
  // The rows' size too (the limit of data:<rush>), so a caller that validates with newRush
  // (the tenant API) learns it before submitting.
  if (spec.transaction?.data) storedRows(spec.transaction.data)
  if (spec.pipelining !== undefined) {
    const refusal = pipeliningRefusal({
      model: spec.model,
      pipelining: spec.pipelining,
      transaction: spec.transaction !== undefined,
      url: spec.request.url,
      headers: spec.request.headers,
    })
    if (refusal) throw new UsageError(refusal)
  }
  const maxInFlight = spec.model === 'arrival-rate' ? (spec.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT) : undefined
  const connections = peakConnections({ model: spec.model, pattern: spec.pattern, maxInFlight })
  const perRegion =
    spec.shardsPerRegion ?? Math.max(1, Math.ceil(connections / spec.regions.length / SHARD_CONNECTIONS))
  if (!Number.isInteger(perRegion) || perRegion < 1)
    throw new UsageError('shards per region must be a positive integer')
  const rush: RushDoc = {
    _id: rushDocId(id),
    type: 'rush',
    rush: id,
    model: spec.model,
    request: transaction ? transaction.steps[0]!.request : spec.request,
    pattern: spec.pattern,
    regions: [...spec.regions],
    shards: layoutShards(id, spec.regions, perRegion),
    startAt: spec.startAt ?? now + (spec.startLeadMs ?? DEFAULT_START_LEAD_MS),
    state: 'queued',
    createdAt: now,
  }
  if (maxInFlight !== undefined) rush.maxInFlight = maxInFlight
  if (spec.pipelining !== undefined && spec.pipelining > 1) rush.pipelining = spec.pipelining
  if (transaction) rush.transaction = transaction
  if (spec.thresholds !== undefined) rush.thresholds = spec.thresholds
  if (spec.owner !== undefined) rush.owner = spec.owner
  return rush
}

/**
 * The shards of a rush: each carries the whole pattern and its share `{index: n, of: N}`,
 * so at every second the shards' users (or requests) add up to the asked pattern exactly.
 */
export function splitRush(rush: RushDoc): ShardDoc[] {
  const of = rush.shards.length
  const total = peakConnections(rush)
  return rush.shards.map((ref, n) => {
    const share = { index: n, of }
    const shard: ShardDoc = {
      _id: ref.id,
      type: 'shard',
      rush: rush.rush,
      n,
      region: ref.region,
      model: rush.model,
      request: rush.request,
      pattern: rush.pattern,
      share,
      startAt: rush.startAt,
      connections: shareCount(total, share),
      state: 'queued',
    }
    if (rush.maxInFlight !== undefined) shard.maxInFlight = rush.maxInFlight
    if (rush.pipelining !== undefined) shard.pipelining = rush.pipelining
    if (rush.transaction) shard.transaction = rush.transaction
    return shard
  })
}
