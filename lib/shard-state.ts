import type { ShardDoc, ShardState } from './documents.js'

/**
 * A shard's state changes, in one place: pure functions from the document as read to the
 * document to write (the caller writes it with the `_rev` it read). Every writer — the engine
 * (claim, start, hand back, recovery after a restart), the controller's garbage collector and
 * the command line's abort — goes through these, so a shard back in the queue never keeps an
 * old holder and a lost or aborted one never keeps a lease that looks live.
 *
 * States: `queued → claimed → running → done | aborted | lost | failed`; `claimed → queued`
 * (handed back, never started). Whether a change is allowed is the caller's test (it knows who
 * it is and what it saw): these functions only say what the document becomes.
 */

const FINAL: ReadonlySet<ShardState> = new Set<ShardState>(['done', 'lost', 'failed', 'aborted'])

/** A state that never changes again. */
export function isFinal(state: ShardState): boolean {
  return FINAL.has(state)
}

/** Held by an engine: `claimed`, or `running` (load may be going out). */
export function isHeld(state: ShardState): boolean {
  return state === 'claimed' || state === 'running'
}

/**
 * Claimed by `engine` at `now`, with a lease until `now + leaseMs`. `running` (a claim that
 * comes within the run's head start, see `claimState` in the daemon) also records `startedAt`.
 */
export function claim(
  shard: ShardDoc,
  engine: string,
  now: number,
  leaseMs: number,
  state: 'claimed' | 'running' = 'claimed',
): ShardDoc {
  const claimed: ShardDoc = { ...shard, state, engine, claimedAt: now, leaseUntil: now + leaseMs }
  if (state === 'running') claimed.startedAt = now
  return claimed
}

/**
 * Back to `queued`, as if never claimed: no holder, claim time, lease, start or progress (so
 * another engine may run it in full). Only for a shard that never started: a started one
 * was partly sent and is `lost` instead. `reason` says why, when someone else handed it back.
 */
export function requeue(shard: ShardDoc, reason?: string): ShardDoc {
  const { engine, claimedAt, leaseUntil, startedAt, progress, ...rest } = shard
  return { ...rest, state: 'queued', ...(reason !== undefined && { reason }) }
}

/** `lost` at `now`: its holder can no longer run it. Keeps who held it; the lease ends. */
export function markLost(shard: ShardDoc, reason: string, now: number): ShardDoc {
  const { leaseUntil, ...rest } = shard
  return { ...rest, state: 'lost', reason, finishedAt: now }
}

/** `aborted`: the user (or the API) stopped the rush. The lease ends; an engine adds what ran. */
export function markAborted(shard: ShardDoc, reason: string): ShardDoc {
  const { leaseUntil, ...rest } = shard
  return { ...rest, state: 'aborted', reason }
}
