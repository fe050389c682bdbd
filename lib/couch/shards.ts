import type Nano from 'nano'
import { resolveShardConflict } from '../conflict.js'
import type { ShardDoc } from '../documents.js'
import { bulkWrite, getDoc } from './client.js'

type Db = Nano.DocumentScope<unknown>

export interface ReadShard {
  /** The shard as the conflict rule says it stands, with `_rev` of the current winning leaf. */
  doc: ShardDoc
  /** Leaves to delete (and, if the rule's winner is not CouchDB's, its content to write). */
  conflict?: { losers: string[]; rewrite: boolean }
}

/** Reads a shard and applies the conflict rule (abort wins) in memory. */
export async function readShard(db: Db, id: string, known?: ShardDoc): Promise<ReadShard | undefined> {
  const current = known ?? (await getDoc<ShardDoc>(db, id, { conflicts: true }))
  if (!current) return undefined
  const conflicts = current._conflicts ?? []
  if (conflicts.length === 0) return { doc: current }
  const revisions = [withoutConflicts(current)]
  for (const rev of conflicts) {
    const other = await getDoc<ShardDoc>(db, id, { rev })
    if (other) revisions.push(other)
  }
  const { winner } = resolveShardConflict(revisions)
  const rewrite = winner._rev !== current._rev
  const losers = revisions.map((doc) => doc._rev!).filter((rev) => rev !== current._rev)
  return { doc: { ...withoutConflicts(winner), _rev: current._rev }, conflict: { losers, rewrite } }
}

/**
 * Writes a resolution: the rule's winner on top of the current leaf (when it differs)
 * and deletions of every other leaf. Each part may lose a race (409) to another resolver
 * of the same region; the next change of the shard resolves again.
 */
export async function settleShard(db: Db, read: ReadShard): Promise<void> {
  if (!read.conflict) return
  const docs: object[] = read.conflict.losers.map((rev) => ({ _id: read.doc._id, _rev: rev, _deleted: true }))
  if (read.conflict.rewrite) docs.unshift(read.doc)
  await bulkWrite(db, docs)
}

function withoutConflicts(doc: ShardDoc): ShardDoc {
  const { _conflicts, ...rest } = doc
  return rest
}
