import { type Scheduler, sleepOn } from '../lib/clock.js'
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

/**
 * The drain's deadline on an injected clock: it only moves closer (a second SIGTERM moves it
 * to now), and `wait` returns at the deadline or once the work is done, whichever is first.
 */
export class DrainDeadline {
  readonly #clock: Scheduler
  #deadline: number
  #reason: string
  #hurry = new AbortController()

  constructor(clock: Scheduler, timeoutMs: number, reason: string) {
    this.#clock = clock
    this.#deadline = clock.now() + Math.max(0, timeoutMs)
    this.#reason = reason
  }

  /** Epoch ms. */
  get deadline(): number {
    return this.#deadline
  }

  /** Why the engine leaves, as of the latest deadline. */
  get reason(): string {
    return this.#reason
  }

  /** Milliseconds left (0 once past). */
  get leftMs(): number {
    return Math.max(0, this.#deadline - this.#clock.now())
  }

  /** A new bound `timeoutMs` from now: taken (true) only when it is closer; it wakes `wait`. */
  closer(timeoutMs: number, reason: string): boolean {
    const deadline = this.#clock.now() + Math.max(0, timeoutMs)
    if (deadline >= this.#deadline) return false
    this.#deadline = deadline
    this.#reason = reason
    this.#hurry.abort()
    return true
  }

  /**
   * Waits while `work()` gives something to wait for (the runs still going) and the deadline
   * is ahead; `work` is asked again after each wake-up (a closer deadline, or work done).
   */
  async wait(work: () => Promise<unknown> | undefined): Promise<void> {
    for (let pending = work(); pending && this.#clock.now() < this.#deadline; pending = work()) {
      // Aborted either way: by a closer deadline, or once the work ends (its timer must not keep the process).
      this.#hurry = new AbortController()
      await Promise.race([
        pending,
        sleepOn(this.#clock, this.#deadline - this.#clock.now(), this.#hurry.signal),
      ])
      this.#hurry.abort()
      // Lets pending promise callbacks (a finished run leaving the engine's list) run first.
      await new Promise((resolve) => setImmediate(resolve))
    }
  }
}
