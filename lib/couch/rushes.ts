import { randomBytes } from 'node:crypto'
import { TimelineAssembler } from '../assemble.js'
import {
  type AbortDoc,
  abortId,
  assertValidDoc,
  type RushDoc,
  type RushState,
  rushDocId,
  type SampleEntry,
  type ShardDoc,
  type ShardState,
} from '../documents.js'
import { StampedeError } from '../errors.js'
import { createHistogram, type LatencyHistogram, mergeInto } from '../histogram.js'
import { patternDuration } from '../pattern.js'
import { isFinal, markAborted } from '../shard-state.js'
import { newRush, type RushSpec, splitRush } from '../split.js'
import { type Summary, summarize } from '../summary.js'
import type { Point } from '../timeline.js'
import { stepName } from '../transaction/spec.js'
import { storedRows } from '../transaction/stored.js'
import { summarizeTransaction, type TransactionSummary } from '../transaction/summary.js'
import {
  bulkWrite,
  type Couch,
  couchFailure,
  createOnce,
  getDoc,
  getDocs,
  updateDoc,
  viewRows,
} from './client.js'
import { dataDoc, writeData } from './data.js'
import { sleep } from './follow.js'
import { readShard } from './shards.js'

/**
 * The job plane as the command line sees it: submit a rush, watch its merged timeline,
 * read its result, abort it. The CLI talks to one region's CouchDB; replication carries
 * the shards to the other regions and their samples back.
 */

export function newRushId(now = Date.now()): string {
  return `${now.toString(36)}-${randomBytes(4).toString('hex')}`
}

/**
 * Writes the rush (fleet) and its shards (the dispatch database of each shard's region).
 * With `spec.transaction` (a `TransactionSpec`, data table included) the rush and shards
 * carry the steps, and the data rows go once into each region's `data:<rush>` (before its
 * shards, so an engine that sees a shard finds them, replication permitting). Bad input
 * (a step, a template, rows over `MAX_STORED_ROWS_BYTES`) throws a `UsageError` before any write.
 */
export async function submitRush(
  couch: Couch,
  spec: RushSpec,
  options: { id?: string; now?: number } = {},
): Promise<string> {
  const now = options.now ?? Date.now()
  const rush = assertValidDoc(newRush(spec, options.id ?? newRushId(now), now))
  const shards = splitRush(rush).map((shard) => assertValidDoc(shard))
  const stored = rush.transaction?.data
  const data =
    stored &&
    spec.transaction?.data &&
    assertValidDoc(dataDoc(rush.rush, stored, storedRows(spec.transaction.data)))
  if (!(await createOnce(couch.db(couch.names.fleet), rush))) {
    throw new StampedeError('STAMPEDE_RUSH_EXISTS', `rush ${rush.rush} already exists`)
  }
  for (const region of rush.regions) {
    if (data) await writeData(couch.db(couch.names.dispatch(region)), data)
    const mine = shards.filter((shard) => shard.region === region)
    const results = await bulkWrite(couch.db(couch.names.dispatch(region)), mine)
    const failed = results.find((result) => result.error)
    if (failed) {
      throw new StampedeError(
        'STAMPEDE_COUCH',
        `writing shard ${failed.id}: ${failed.error} ${failed.reason ?? ''}`.trim(),
      )
    }
  }
  return rush.rush
}

export async function readRush(couch: Couch, id: string): Promise<RushDoc> {
  const rush = await getDoc<RushDoc>(couch.db(couch.names.fleet), rushDocId(id))
  if (!rush) throw new StampedeError('STAMPEDE_RUSH_NOT_FOUND', `no rush ${id}`)
  return rush
}

/** The rush's shards as they stand (conflicts resolved by the rule, in memory). */
export async function readShards(couch: Couch, rush: RushDoc): Promise<ShardDoc[]> {
  const out: ShardDoc[] = []
  for (const region of rush.regions) {
    const db = couch.db(couch.names.dispatch(region))
    const ids = rush.shards.filter((ref) => ref.region === region).map((ref) => ref.id)
    for (const doc of await getDocs<ShardDoc>(db, ids)) {
      const read = await readShard(db, doc._id, doc)
      if (read) out.push(read.doc)
    }
  }
  return out.sort((a, b) => a.n - b.n)
}

/** A rush's state follows from its shards; the rush document's own state only records aborts. */
export function rushStateOf(
  rush: Pick<RushDoc, 'state' | 'shards'>,
  shards: Pick<ShardDoc, 'state'>[],
): RushState {
  if (rush.state === 'aborted' || shards.some((shard) => shard.state === 'aborted')) return 'aborted'
  const final = shards.length === rush.shards.length && shards.every((shard) => isFinal(shard.state))
  if (final) return shards.every((shard) => shard.state === 'done') ? 'done' : 'failed'
  if (shards.some((shard) => shard.state !== 'queued')) return 'running'
  return 'queued'
}

export interface ShardStatus {
  id: string
  region: string
  state: ShardState
  engine?: string
  progress?: number
  reason?: string
  /** Whole seconds its pattern started after second 0 (its engine's load was ready late). */
  startShift?: number
  /** A transaction's iterations that found no `unique` data row left (its rows ran out). */
  exhausted?: number
}

export interface RushStatus {
  rush: RushDoc
  state: RushState
  shards: ShardStatus[]
}

export async function rushStatus(couch: Couch, id: string): Promise<RushStatus> {
  const rush = await readRush(couch, id)
  const shards = await readShards(couch, rush)
  return {
    rush,
    state: rushStateOf(rush, shards),
    shards: shards.map(({ _id, region, state, engine, progress, reason, startShift, totals }) => ({
      id: _id,
      region,
      state,
      ...(engine !== undefined && { engine }),
      ...(progress !== undefined && { progress }),
      ...(reason !== undefined && { reason }),
      ...(startShift !== undefined && startShift > 0 && { startShift }),
      ...(totals?.exhausted && { exhausted: totals.exhausted }),
    })),
  }
}

/**
 * Aborts a rush: an `abort:<rush>` document in every region's dispatch database (it
 * reaches every engine through its feed and never conflicts), every unfinished shard
 * marked `aborted` (an abort wins any replication conflict), the rush marked aborted.
 */
export async function abortRush(couch: Couch, id: string, reason = 'aborted by the user'): Promise<void> {
  const rush = await readRush(couch, id)
  const at = Date.now()
  for (const region of rush.regions) {
    const abort: AbortDoc = { _id: abortId(id), type: 'abort', rush: id, at, reason }
    await createOnce(couch.db(couch.names.dispatch(region)), abort)
  }
  for (const ref of rush.shards) {
    await updateDoc<ShardDoc>(couch.db(couch.names.dispatch(ref.region)), ref.id, (shard) =>
      !shard || isFinal(shard.state) ? undefined : markAborted(shard, reason),
    )
  }
  await updateDoc<RushDoc>(couch.db(couch.names.fleet), rushDocId(id), (current) =>
    current && current.state !== 'aborted' ? { ...current, state: 'aborted', updatedAt: at } : undefined,
  )
}

export interface RushResult {
  rush: RushDoc
  state: RushState
  timeline: Point[]
  histogram: LatencyHistogram
  summary: Summary
  shards: ShardDoc[]
  /**
   * A transaction's whole-run part histograms (the iterations', then each step's), merged
   * exactly across engines and regions; absent for a single request.
   */
  parts?: LatencyHistogram[]
  /**
   * A transaction's figures: each step's summary by name, the iterations', and how many
   * iterations found no `unique` data row left (`exhausted` > 0: the rows ran out).
   */
  transaction?: TransactionSummary
}

/** Sample entries of a rush from second `from` on. */
async function readEntries(couch: Couch, rush: string, from: number): Promise<SampleEntry[]> {
  const rows = await viewRows<SampleEntry>(couch.db(couch.names.results), 'entries', {
    startkey: [rush, from],
    endkey: [rush, {}],
  })
  return rows.map((row) => row.value)
}

interface WatchOptions {
  signal?: AbortSignal
  /** Between reads of the views; CouchDB's feeds would carry every engine's samples. */
  pollMs?: number
  /** Stop watching (and return the result so far) after this long past the rush's planned end. */
  graceMs?: number
  /** Read once and return what is complete now. */
  once?: boolean
  /** The shards as each read found them (the API's status comes from the same reads). */
  onShards?: (shards: ShardDoc[]) => void
  /**
   * Each region's own merged seconds, in order, each once (for per-region charts): a
   * region's second is complete when every shard of that region has reported it.
   */
  onRegionPoint?: (region: string, point: Point, histogram: LatencyHistogram) => void
}

/**
 * Streams the rush's merged seconds, in order, each once, as soon as every shard has
 * reported it; resolves with the result once every shard is finished (or on `signal`).
 */
export async function watchRush(
  couch: Couch,
  id: string,
  onPoint: (point: Point, histogram: LatencyHistogram, parts?: LatencyHistogram[]) => void,
  options: WatchOptions = {},
): Promise<RushResult> {
  const rush = await readRush(couch, id)
  const assembler = new TimelineAssembler(rush.shards.map((ref) => ref.id))
  const regionOf = new Map(rush.shards.map((ref) => [ref.id, ref.region]))
  const regional = options.onRegionPoint
    ? new Map(
        rush.regions.map((region) => [
          region,
          new TimelineAssembler(rush.shards.filter((ref) => ref.region === region).map((ref) => ref.id)),
        ]),
      )
    : undefined
  const timeline: Point[] = []
  const histogram = createHistogram()
  let parts: LatencyHistogram[] | undefined
  const plannedEnd = rush.startAt + patternDuration(rush.pattern) * 1000
  const deadline = plannedEnd + (options.graceMs ?? 120_000)
  let shards: ShardDoc[] = []
  for (;;) {
    try {
      shards = await readShards(couch, rush)
      for (const shard of shards) {
        assembler.shard(shard)
        regional?.get(shard.region)?.shard(shard)
      }
      options.onShards?.(shards)
      const from = Math.min(assembler.next, ...[...(regional?.values() ?? [])].map((region) => region.next))
      for (const entry of await readEntries(couch, id, from)) {
        assembler.add(entry)
        regional?.get(regionOf.get(entry.shard) ?? '')?.add(entry)
      }
    } catch (err) {
      throw couchFailure(err, `watching rush ${id}`)
    }
    for (const { point, histogram: second, parts: secondParts } of assembler.drain()) {
      timeline.push(point)
      mergeInto(histogram, second)
      if (secondParts) {
        parts ??= []
        secondParts.forEach((part, index) => {
          const into = parts![index]
          if (into) mergeInto(into, part)
          else parts![index] = mergeCopy(part)
        })
        onPoint(point, second, secondParts)
      } else onPoint(point, second)
    }
    for (const [region, regionAssembler] of regional ?? []) {
      for (const { point, histogram: second } of regionAssembler.drain())
        options.onRegionPoint?.(region, point, second)
    }
    if (assembler.complete || options.once || options.signal?.aborted || Date.now() > deadline) break
    await sleep(options.pollMs ?? 500, options.signal)
  }
  const state = rushStateOf(rush, shards)
  const result: RushResult = {
    rush,
    state,
    timeline,
    histogram,
    summary: summarize(timeline, histogram, timeline.length),
    shards,
  }
  if (rush.transaction) {
    const steps = rush.transaction.steps
    // Seconds with no transaction entry at all (none reported yet) still summarize: empty parts.
    result.parts = Array.from({ length: steps.length + 1 }, (_, index) => parts?.[index] ?? createHistogram())
    result.transaction = summarizeTransaction(
      timeline,
      result.parts,
      steps.map((step, index) => stepName(step, index)),
      timeline.length,
    )
  }
  return result
}

function mergeCopy(histogram: LatencyHistogram): LatencyHistogram {
  const copy = createHistogram()
  mergeInto(copy, histogram)
  return copy
}

/** The result as it stands now (complete once the rush is finished). */
export async function rushResult(couch: Couch, id: string): Promise<RushResult> {
  return watchRush(couch, id, () => {}, { once: true })
}
