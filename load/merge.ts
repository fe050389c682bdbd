import { createHistogram, type LatencyHistogram, mergeInto } from '../lib/histogram.js'
import { addPoint, clonePoint, type Point } from '../lib/timeline.js'

/**
 * Merges the per-second reports of several sources (worker processes) into one stream,
 * in order: a second is emitted once every source still running has reported it.
 * Each source reports its seconds in order.
 */
export class SecondMerger {
  readonly #emit: (point: Point, histogram: LatencyHistogram, parts?: LatencyHistogram[]) => void
  readonly #lastReported: number[]
  readonly #finished: boolean[]
  readonly #pending = new Map<
    number,
    { point: Point; histogram: LatencyHistogram; parts: LatencyHistogram[] | undefined }
  >()
  #next = 0

  constructor(
    sources: number,
    emit: (point: Point, histogram: LatencyHistogram, parts?: LatencyHistogram[]) => void,
  ) {
    this.#emit = emit
    this.#lastReported = new Array(sources).fill(-1)
    this.#finished = new Array(sources).fill(false)
  }

  /** `parts`: a transaction's iteration and step histograms, merged index by index. */
  add(source: number, point: Point, histogram: LatencyHistogram, parts?: LatencyHistogram[]): void {
    const pending = this.#pending.get(point.t)
    if (pending) {
      addPoint(pending.point, point)
      mergeInto(pending.histogram, histogram)
      if (parts) pending.parts = mergeParts(pending.parts, parts)
    } else {
      const merged = createHistogram()
      mergeInto(merged, histogram)
      this.#pending.set(point.t, {
        point: clonePoint(point),
        histogram: merged,
        parts: parts ? mergeParts(undefined, parts) : undefined,
      })
    }
    this.#lastReported[source] = point.t
    this.#drain()
  }

  /** The source sends nothing more (it finished, or the run was cut short). */
  finish(source: number): void {
    this.#finished[source] = true
    this.#drain()
  }

  #complete(t: number): boolean {
    return this.#lastReported.every((last, source) => last >= t || this.#finished[source])
  }

  #drain(): void {
    for (;;) {
      const pending = this.#pending.get(this.#next)
      if (!pending) {
        // A gap (no source reported this second) is skipped only once every source is done.
        if (this.#pending.size > 0 && this.#finished.every(Boolean)) {
          this.#next = Math.min(...this.#pending.keys())
          continue
        }
        return
      }
      if (!this.#complete(this.#next)) return
      this.#pending.delete(this.#next)
      this.#next++
      if (pending.parts) this.#emit(pending.point, pending.histogram, pending.parts)
      else this.#emit(pending.point, pending.histogram)
    }
  }
}

/** Adds histograms index by index into `into` (created when undefined). */
export function mergeParts(
  into: LatencyHistogram[] | undefined,
  parts: LatencyHistogram[],
): LatencyHistogram[] {
  const merged = into ?? []
  parts.forEach((part, index) => {
    let target = merged[index]
    if (!target) {
      target = createHistogram()
      merged[index] = target
    }
    mergeInto(target, part)
  })
  return merged
}
