import type Nano from 'nano'
import type { Clock } from '../lib/clock.js'
import { updateDoc, viewRows } from '../lib/couch/client.js'
import type { ShardDoc } from '../lib/documents.js'
import { isHeld, markLost, requeue } from '../lib/shard-state.js'

/**
 * What a restarted engine does with a shard the dispatch db says it held before (pure):
 * a shard it claimed but never started goes back to the queue; one it was running is lost
 * (never re-run: its seconds were partly sent). Undefined: leave it (another holder, or it
 * moved on).
 */
export function recoveredShard(
  shard: ShardDoc | undefined,
  instanceId: string,
  now: number,
): ShardDoc | undefined {
  if (!shard || shard.engine !== instanceId || !isHeld(shard.state)) return undefined
  if (shard.state === 'claimed') return requeue(shard)
  return markLost(shard, 'engine restarted', now)
}

export interface RecoveryOptions {
  dispatch: Nano.DocumentScope<unknown>
  instanceId: string
  clock: Clock
  /** Counts write requests. */
  wrote: (requests: number) => void
  onRecovered: (shard: string, state: ShardDoc['state']) => void
}

/** After a crash: applies `recoveredShard` to every shard the `by-engine` view lists for this engine. */
export async function recoverShards(options: RecoveryOptions): Promise<void> {
  const { dispatch, instanceId, clock } = options
  const rows = await viewRows(dispatch, 'by-engine', { startkey: [instanceId], endkey: [instanceId, {}] })
  for (const row of rows) {
    const [, state] = row.key as [string, ShardDoc['state']]
    if (!isHeld(state)) continue
    const result = await updateDoc<ShardDoc>(dispatch, row.id, (shard) =>
      recoveredShard(shard, instanceId, clock.now()),
    )
    options.wrote(result.requests)
    if (result.written && result.doc) options.onRecovered(row.id, result.doc.state)
  }
}
