import type { ShardDoc } from '../lib/documents.js'
import { patternDuration } from '../lib/pattern.js'

/** What an engine knows when a shard change reaches it. */
export interface EngineView {
  instanceId: string
  region: string
  /** Shards this engine is running now. */
  running: ReadonlySet<string>
  /**
   * Rushes this engine holds a shard of (claimed or running) → when it claimed the first
   * of them (epoch ms). Further shards of such a rush are left to other engines for a while.
   */
  held: ReadonlyMap<string, number>
  /** Connections left under its capacity. */
  free: number
  /** Rushes with an abort document seen in the feed. */
  aborted: ReadonlySet<string>
  draining: boolean
  now: number
}

export type ShardDecision =
  | { kind: 'claim' }
  /** Not now: look again at `until` (epoch ms) and claim it then if it is still queued. */
  | { kind: 'defer'; until: number; reason: string }
  | { kind: 'stop'; reason: string }
  | { kind: 'ignore'; reason: string }

/**
 * How long an engine that holds a shard of a rush leaves the rush's other queued shards to
 * other engines: at most `longestMs` after its own claim, less when the rush starts sooner
 * (it takes them `beforeStartMs` before the start), but never less than `shortestMs` (a
 * rush that is already late still gives the other engines, which saw the same changes, a
 * moment to take them). A lone engine thus runs every shard of a rush itself, the extra
 * ones claimed at most `longestMs` after the first.
 */
export const SPREAD = { longestMs: 300, shortestMs: 100, beforeStartMs: 250 } as const

/** Epoch ms from which an engine that claimed a shard of a rush at `heldSince` takes its other shards. */
export function spreadUntil(heldSince: number, startAt: number, spread = SPREAD): number {
  const wait = Math.min(
    spread.longestMs,
    Math.max(spread.shortestMs, startAt - spread.beforeStartMs - heldSince),
  )
  return heldSince + wait
}

/**
 * How long after its planned end a queued shard is still claimed. A shard claimed late runs
 * its whole pattern from a later second of the rush's clock (load/run.ts `lateStart`),
 * so a shard that reached its engine late — a busy machine, a slow feed, an engine still
 * booting — is run rather than lost. 30 s matches the controller's default shard lease
 * grace, after which its garbage collector marks a never-claimed shard lost (a claim and
 * that write race on `_rev`: one wins). Older shards (an engine replaying an old feed) are
 * left alone.
 */
export const LATE_CLAIM_MS = 30_000

/**
 * The engine's decision about one shard, as a pure function. A shard it runs is stopped
 * when it was aborted or another engine now holds it (a conflict resolved against this
 * engine); a queued shard of its region is claimed when there is room, the rush is not
 * aborted and the pattern has not ended more than `LATE_CLAIM_MS` ago — unless the engine already holds a shard of the
 * same rush: then the others are deferred (`spreadUntil`), so that the engines of the
 * region spread a rush instead of racing for every shard of it.
 */
export function decideShard(shard: ShardDoc, view: EngineView): ShardDecision {
  if (view.running.has(shard._id)) {
    if (shard.state === 'aborted') return { kind: 'stop', reason: 'aborted' }
    if (view.aborted.has(shard.rush)) return { kind: 'stop', reason: 'aborted' }
    if (shard.engine !== undefined && shard.engine !== view.instanceId)
      return { kind: 'stop', reason: `now held by ${shard.engine}` }
    return { kind: 'ignore', reason: 'running here' }
  }
  if (shard.state !== 'queued') return { kind: 'ignore', reason: `shard is ${shard.state}` }
  if (shard.region !== view.region) return { kind: 'ignore', reason: `shard is for ${shard.region}` }
  if (view.aborted.has(shard.rush)) return { kind: 'ignore', reason: 'rush aborted' }
  if (view.draining) return { kind: 'ignore', reason: 'draining' }
  if (view.now >= shard.startAt + patternDuration(shard.pattern) * 1000 + LATE_CLAIM_MS)
    return { kind: 'ignore', reason: 'past its end' }
  if (shard.connections > view.free)
    return { kind: 'ignore', reason: `needs ${shard.connections} connections, ${view.free} free` }
  const heldSince = view.held.get(shard.rush)
  if (heldSince !== undefined) {
    const until = spreadUntil(heldSince, shard.startAt)
    if (view.now < until)
      return {
        kind: 'defer',
        until,
        reason: 'holds a shard of this rush: leaving the others to other engines',
      }
  }
  return { kind: 'claim' }
}

/**
 * The order in which an engine tries the shards it may claim: a hash of its instance id
 * and the shard id, so that engines seeing the same batch of shards start with different
 * ones (instead of all racing for the first) — deterministic, so it can be tested.
 */
export function claimOrder<T extends { _id: string }>(instanceId: string, shards: readonly T[]): T[] {
  const ranked = shards.map((shard) => ({ shard, rank: fnv1a(`${instanceId}\u0000${shard._id}`) }))
  ranked.sort(
    (a, b) => a.rank - b.rank || (a.shard._id < b.shard._id ? -1 : a.shard._id > b.shard._id ? 1 : 0),
  )
  return ranked.map((entry) => entry.shard)
}

/**
 * The state a claim writes. A shard whose start is within the run's head start (see
 * `headStartMs`) is claimed directly as `running` with `startedAt`: one write instead of
 * two. `running` means load may go out at once, so such a claim is never handed back
 * (drain, restart recovery and the controller's garbage collector treat it as started).
 */
export function claimState(startAt: number, now: number, headStart: number): 'claimed' | 'running' {
  return startAt - now <= headStart ? 'running' : 'claimed'
}

/**
 * How long before the rush's start a run writes `running` and starts preparing its load.
 * In this process (workers 0) that is a shard write and resolving the target: tens of
 * milliseconds, more on a busy machine. With the engine's pool of loaded load processes
 * (`pooled`, `load/pool.ts`) it is the same plus a job message to each process and its
 * answer: 13–44 ms from the wake-up to the load ready (p50 27 ms; 24 shards, 4 engines with
 * 2 processes each, load average 11 on 2 cores), so 500 ms leaves ten times that besides the
 * start message's 100 ms (`LATE_START_MARGIN_MS`). A shard that needs more processes than
 * the pool holds (an open-file limit's worth of connections per process) gets the fork's
 * head start (the engine decides per shard); one that finds the pool's processes held by
 * another shard of its engine forks the rest and may start a second or more late. Forking them instead took 0.5–1 s to ready on a 2-core machine
 * shared with other builds and 1.6–2.5 s with `stress-ng --cpu 2` beside it, so 3 s covers
 * a busy machine. A run ready later still runs its whole pattern, from a later second
 * (`lateStart` in load/run.ts; up to 500 ms late it joins in progress instead).
 */
export function headStartMs(workers: number | 'auto', pooled = false): number {
  if (workers === 0) return 250
  return pooled ? POOLED_HEAD_START_MS : 3000
}

/** `headStartMs` with the pool: see there. */
export const POOLED_HEAD_START_MS = 500

function fnv1a(text: string): number {
  let hash = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193)
  }
  return hash >>> 0
}
