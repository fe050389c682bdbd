import type { SampleEntry, ShardDoc } from './documents.js'
import { createHistogram, decodeHistogram, type LatencyHistogram, mergeInto } from './histogram.js'
import { isFinal } from './shard-state.js'
import { addPoint, clonePoint, emptyPoint, type Point } from './timeline.js'

export interface MergedSecond {
  point: Point
  histogram: LatencyHistogram
  /**
   * Transactions: the second's part histograms merged index by index (the iterations', then
   * each step's), as `LoadResult.parts`. Absent when no entry of the second had any.
   */
  parts?: LatencyHistogram[]
}

interface ShardProgress {
  /** Highest second reported. */
  last: number
  /** Seconds the shard will ever report, once it is final (undefined: unknown or still running). */
  final: boolean
  seconds?: number
}

/**
 * Merges the sample entries of a rush's shards (any engines, any regions, arriving in any
 * order and possibly twice) into one timeline, emitting each second once, in order, as
 * soon as it is complete: every shard has reported it, or will never report it.
 * A finished shard says how many seconds it reported (`totals.seconds`), so a shard
 * whose final state replicated ahead of its last samples still holds its seconds back.
 */
export class TimelineAssembler {
  readonly #pending = new Map<number, MergedSecond>()
  readonly #seen = new Set<string>()
  readonly #shards = new Map<string, ShardProgress>()
  #next = 0

  constructor(shardIds: Iterable<string>) {
    for (const id of shardIds) this.#shards.set(id, { last: -1, final: false })
  }

  /** The next second to be emitted. */
  get next(): number {
    return this.#next
  }

  add(entry: SampleEntry): void {
    const key = `${entry.shard}\u0000${entry.point.t}`
    const progress = this.#shards.get(entry.shard)
    if (!progress || this.#seen.has(key) || entry.point.t < this.#next) return
    this.#seen.add(key)
    progress.last = Math.max(progress.last, entry.point.t)
    const histogram = decodeHistogram(entry.histogram)
    const pending = this.#pending.get(entry.point.t)
    if (pending) {
      addPoint(pending.point, entry.point)
      mergeInto(pending.histogram, histogram)
      if (entry.parts) pending.parts = addParts(pending.parts, entry.parts)
    } else {
      const second: MergedSecond = { point: clonePoint(entry.point), histogram }
      if (entry.parts) second.parts = addParts(undefined, entry.parts)
      this.#pending.set(entry.point.t, second)
    }
  }

  /** Tells the shard's current state (and, once done, how many seconds it reported). */
  shard(doc: Pick<ShardDoc, '_id' | 'state' | 'totals'>): void {
    const progress = this.#shards.get(doc._id)
    if (!progress) return
    progress.final = isFinal(doc.state)
    progress.seconds = doc.totals?.seconds
  }

  #reported(progress: ShardProgress, t: number): boolean {
    if (progress.last >= t) return true
    if (!progress.final) return false
    return progress.seconds === undefined || t >= progress.seconds
  }

  /** Every shard is final and every second it reported has been emitted. */
  get complete(): boolean {
    for (const progress of this.#shards.values()) {
      if (!progress.final) return false
      if (progress.seconds !== undefined && progress.last < progress.seconds - 1) return false
    }
    return this.#pending.size === 0
  }

  /** Emits the seconds that are complete, in order. */
  drain(): MergedSecond[] {
    const out: MergedSecond[] = []
    for (;;) {
      const t = this.#next
      for (const progress of this.#shards.values()) if (!this.#reported(progress, t)) return out
      const pending = this.#pending.get(t)
      if (pending) {
        this.#pending.delete(t)
        out.push(pending)
      } else if (this.#pending.size > 0) {
        // Every shard went past t without a word about it (cut short): keep the timeline dense.
        out.push({ point: emptyPoint(t), histogram: createHistogram() })
      } else {
        return out
      }
      this.#next = t + 1
    }
  }
}

/** Decodes `encoded` and adds it into `into` index by index (created when undefined). */
export function addParts(into: LatencyHistogram[] | undefined, encoded: string[]): LatencyHistogram[] {
  const merged = into ?? []
  encoded.forEach((part, index) => {
    const histogram = decodeHistogram(part)
    const target = merged[index]
    if (target) mergeInto(target, histogram)
    else merged[index] = histogram
  })
  return merged
}
