import type { RunPhase } from './shard-run.js'

/** A shard this engine holds when it starts draining. */
export interface HeldShard {
  id: string
  phase: RunPhase
  /** Epoch ms at which its pattern ends. */
  endsAt: number
}

export type DrainAction =
  /** Not started: back to `queued`, for another engine of the region to run in full. */
  | 'release'
  /** Started and due to end before the deadline: let it finish (`done`). */
  | 'finish'
  /** Started but cannot end in time: stop it now and mark it `lost`. */
  | 'stop'

export interface DrainStep {
  shard: string
  action: DrainAction
}

/** Time a shard needs after its last second: the last sample batch and the final write. */
export const FINISH_MARGIN_MS = 2000

/**
 * What a draining engine does with each shard it holds, as a pure function. A shard that
 * has not started goes back to the queue (nothing was sent, so re-running it is safe); a
 * running one is never re-run elsewhere (its seconds were partly sent), so it either ends
 * before the deadline or is stopped at once — waiting for a deadline it cannot meet would
 * only delay the rush's verdict and the instance's exit.
 */
export function planDrain(
  held: readonly HeldShard[],
  deadline: number,
  finishMarginMs = FINISH_MARGIN_MS,
): DrainStep[] {
  const steps: DrainStep[] = []
  for (const shard of held) {
    if (shard.phase === 'finished') continue
    if (shard.phase === 'waiting') steps.push({ shard: shard.id, action: 'release' })
    else
      steps.push({
        shard: shard.id,
        action: shard.endsAt + finishMarginMs <= deadline ? 'finish' : 'stop',
      })
  }
  return steps
}
