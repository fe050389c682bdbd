import type { ShardDoc, ShardState } from './documents.js'

/**
 * The rule for a shard whose revisions conflicted across regions (multi-master
 * replication: a cancel written in one region, a claim in another):
 *
 * 1. An abort wins: if any revision is `aborted`, the shard is aborted.
 * 2. Otherwise the revision furthest along wins (final > running > claimed > queued):
 *    work that happened is never forgotten.
 * 3. Ties go to the highest revision id, so every reader picks the same one.
 *
 * Pure: readers apply it in memory; the engines of the shard's region write the outcome
 * back and delete the losing revisions.
 */
const RANK: Record<ShardState, number> = {
  queued: 0,
  claimed: 1,
  running: 2,
  lost: 3,
  failed: 3,
  done: 3,
  aborted: 4,
}

export interface Resolution {
  /** The revision whose content stands. */
  winner: ShardDoc
  /** Revisions to delete so the conflict is gone. */
  losers: string[]
}

export function resolveShardConflict(revisions: ShardDoc[]): Resolution {
  if (revisions.length === 0) throw new TypeError('no revisions to resolve')
  const ordered = [...revisions].sort(
    (a, b) => RANK[b.state] - RANK[a.state] || compareRevs(b._rev ?? '', a._rev ?? ''),
  )
  const winner = ordered[0]!
  return { winner, losers: ordered.slice(1).map((doc) => doc._rev!) }
}

/** CouchDB's order of revisions: by generation, then by hash. */
export function compareRevs(a: string, b: string): number {
  const [genA, hashA = ''] = a.split('-')
  const [genB, hashB = ''] = b.split('-')
  return Number(genA) - Number(genB) || (hashA < hashB ? -1 : hashA > hashB ? 1 : 0)
}
