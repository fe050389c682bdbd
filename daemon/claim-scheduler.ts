import type { Scheduler, Timer } from '../lib/clock.js'
import type { ShardDoc } from '../lib/documents.js'

/** How long a claimable shard of a multi-shard rush waits for its siblings from the feed. */
export const COLLECT_MS = 10

/** Past a deferral's end, this much more before the rescan (the decision compares `now < until`). */
export const RESCAN_SLACK_MS = 5

export interface ClaimSchedulerOptions {
  clock: Scheduler
  /** Candidates are waiting: claim them (`take()`), in the engine's serialized order of work. */
  onFlush: () => void
  /** A deferral ended: scan the queue again. */
  onRescan: () => void
  collectMs?: number
}

/**
 * When the engine claims. Claimable shards seen in the feed are collected and claimed
 * together once the changes that arrive together are handled: a rush's shards are written in
 * one `_bulk_docs` but reach the continuous feed line by line, so a shard of a rush with
 * several waits `COLLECT_MS` for its siblings (a lone shard is claimed at once); the batch is
 * then tried in the engine's own order (`claimOrder`) rather than every engine racing for the
 * first. A deferred shard (`SPREAD`) is looked at again by a rescan of the queue when its
 * deferral ends; one rescan is pending at most, the earliest asked for.
 */
export class ClaimScheduler {
  readonly #options: ClaimSchedulerOptions
  readonly #candidates = new Map<string, ShardDoc>()
  #flush: Timer | undefined
  #rescan: { at: number; timer: Timer } | undefined
  #stopped = false

  constructor(options: ClaimSchedulerOptions) {
    this.#options = options
  }

  /** A shard the engine would claim now: claimed with the next flush. */
  candidate(shard: ShardDoc): void {
    if (this.#stopped) return
    this.#candidates.set(shard._id, shard)
    if (this.#flush) return
    const collect = shard.share.of > 1
    this.#flush = this.#options.clock.after(collect ? (this.#options.collectMs ?? COLLECT_MS) : 0, () => {
      this.#flush = undefined
      if (this.#candidates.size > 0) this.#options.onFlush()
    })
  }

  /** Claimed by another engine (or aborted) since it became a candidate. */
  forget(id: string): void {
    this.#candidates.delete(id)
  }

  /** The candidates collected so far, emptied. */
  take(): ShardDoc[] {
    const batch = [...this.#candidates.values()]
    this.#candidates.clear()
    return batch
  }

  /** Scans the queue again at `at` (epoch ms; the earliest asked for wins). */
  deferUntil(at: number): void {
    if (this.#stopped) return
    if (this.#rescan && this.#rescan.at <= at) return
    this.#rescan?.timer.cancel()
    const { clock } = this.#options
    const timer = clock.after(
      Math.max(0, at - clock.now()) + RESCAN_SLACK_MS,
      () => {
        this.#rescan = undefined
        this.#options.onRescan()
      },
      // A pending rescan alone does not keep the process alive.
      { keepAlive: false },
    )
    this.#rescan = { at, timer }
  }

  /** When the pending rescan is due, if any. */
  get rescanAt(): number | undefined {
    return this.#rescan?.at
  }

  /** No more flushes or rescans. */
  stop(): void {
    this.#stopped = true
    this.#flush?.cancel()
    this.#flush = undefined
    this.#rescan?.timer.cancel()
    this.#rescan = undefined
    this.#candidates.clear()
  }
}
