import type { ShardDoc } from '../lib/documents.js'
import { patternDuration } from '../lib/pattern.js'

/** What an engine knows when a shard change reaches it. */
export interface EngineView {
  instanceId: string
  region: string
  /** Shards this engine is running now. */
  running: ReadonlySet<string>
  /** Connections left under its capacity. */
  free: number
  /** Rushes with an abort document seen in the feed. */
  aborted: ReadonlySet<string>
  draining: boolean
  now: number
}

export type ShardDecision =
  | { kind: 'claim' }
  | { kind: 'stop'; reason: string }
  | { kind: 'ignore'; reason: string }

/**
 * The engine's decision about one shard, as a pure function. A shard it runs is stopped
 * when it was aborted or another engine now holds it (a conflict resolved against this
 * engine); a queued shard of its region is claimed when there is room, the rush is not
 * aborted and the pattern has time left.
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
  if (view.now >= shard.startAt + patternDuration(shard.pattern) * 1000)
    return { kind: 'ignore', reason: 'past its end' }
  if (shard.connections > view.free)
    return { kind: 'ignore', reason: `needs ${shard.connections} connections, ${view.free} free` }
  return { kind: 'claim' }
}
