import type { Couch } from '../lib/couch/client.js'
import { readRush, rushStateOf, watchRush } from '../lib/couch/rushes.js'
import type { RushDoc, RushState, ShardDoc } from '../lib/documents.js'
import { createHistogram, encodeHistogram, type LatencyHistogram, mergeInto } from '../lib/histogram.js'
import { type Summary, summarize } from '../lib/summary.js'
import { evaluateThresholds, parseThreshold, type ThresholdResult } from '../lib/thresholds.js'
import type { Point } from '../lib/timeline.js'

/**
 * One merge per rush per API process: the first reader (a status poll, an event stream)
 * starts a `watchRush` over the rush's shards and samples; every other reader of that rush
 * in this process reads its cached seconds, and followers get each second pushed. So a
 * thousand followers, or clients polling every two seconds, cost one merge.
 */
export type FeedEvent =
  | { kind: 'second'; point: Point; histogram: string }
  | {
      kind: 'end'
      summary: Summary
      state: RushState
      thresholds: ThresholdResult[]
      /** The whole rush's merged histogram, encoded. */
      histogram: string
      shards: { id: string; region: string; state: string; reason?: string }[]
    }
  | { kind: 'error'; message: string }

export class RushFeed {
  readonly rush: RushDoc
  readonly points: Point[] = []
  readonly histogram: LatencyHistogram = createHistogram()
  shards: ShardDoc[] = []
  finished = false
  failure?: string
  /** Resolves after the first read (so a first status is not empty for want of a read). */
  readonly ready: Promise<void>
  readonly #listeners = new Set<(event: FeedEvent) => void>()
  readonly #events: FeedEvent[] = []
  #stop = new AbortController()
  #lastUse: number

  constructor(couch: Couch, rush: RushDoc, pollMs: number, now: number) {
    this.rush = rush
    this.#lastUse = now
    let markReady: () => void = () => {}
    this.ready = new Promise((resolve) => {
      markReady = resolve
    })
    watchRush(
      couch,
      rush.rush,
      (point, histogram) => {
        this.points.push(point)
        mergeInto(this.histogram, histogram)
        const encoded = encodeHistogram(histogram)
        // The second's histogram travels with it, so followers merge exactly, as a --couch watch does.
        // One event object for every follower: its serialized frame is made once (see the SSE writer).
        const event: FeedEvent = { kind: 'second', point, histogram: encoded }
        this.#events.push(event)
        for (const listener of this.#listeners) listener(event)
      },
      {
        pollMs,
        signal: this.#stop.signal,
        onShards: (shards) => {
          this.shards = shards
          queueMicrotask(markReady)
        },
      },
    ).then(
      (result) => {
        this.shards = result.shards
        this.finished = !this.#stop.signal.aborted
        markReady()
        if (this.finished) {
          const end = this.end()
          for (const listener of this.#listeners) listener(end)
        }
      },
      (err: Error) => {
        this.failure = err.message
        markReady()
        for (const listener of this.#listeners) listener({ kind: 'error', message: err.message })
      },
    )
  }

  get state(): RushState {
    return rushStateOf(this.rush, this.shards)
  }

  summary(): Summary {
    return summarize(this.points, this.histogram, this.points.length)
  }

  thresholds(summary = this.summary()): ThresholdResult[] {
    const sources = Array.isArray(this.rush.thresholds) ? (this.rush.thresholds as string[]) : []
    return evaluateThresholds(sources.map(parseThreshold), summary)
  }

  end(): FeedEvent & { kind: 'end' } {
    const summary = this.summary()
    return {
      kind: 'end',
      summary,
      state: this.state,
      thresholds: this.thresholds(summary),
      histogram: encodeHistogram(this.histogram),
      shards: this.shards.map(({ _id, region, state, reason }) => ({
        id: _id,
        region,
        state,
        ...(reason !== undefined && { reason }),
      })),
    }
  }

  /** The `second` events so far, in order (a resumed follower replays them). */
  get seconds(): readonly FeedEvent[] {
    return this.#events
  }

  /** Calls `listener` with each new second, then the end; returns the unsubscribe. */
  subscribe(listener: (event: FeedEvent) => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  get followers(): number {
    return this.#listeners.size
  }

  touch(now: number): void {
    this.#lastUse = now
  }

  get lastUse(): number {
    return this.#lastUse
  }

  stop(): void {
    this.#stop.abort()
  }
}

export interface FeedOptions {
  pollMs: number
  /** A finished rush's merge is kept this long after its last reader. */
  keepMs: number
  clock: () => number
}

export class Feeds {
  readonly #couch: Couch
  readonly #feeds = new Map<string, RushFeed>()
  readonly #options: FeedOptions

  constructor(couch: Couch, options: FeedOptions) {
    this.#couch = couch
    this.#options = options
  }

  /** The rush's feed, started on first use; throws STAMPEDE_RUSH_NOT_FOUND for an unknown id. */
  async feed(id: string, known?: RushDoc): Promise<RushFeed> {
    const now = this.#options.clock()
    this.#sweep(now)
    let feed = this.#feeds.get(id)
    if (!feed || feed.failure !== undefined) {
      const rush = known ?? (await readRush(this.#couch, id))
      feed = this.#feeds.get(id)
      if (!feed || feed.failure !== undefined) {
        feed = new RushFeed(this.#couch, rush, this.#options.pollMs, now)
        this.#feeds.set(id, feed)
      }
    }
    feed.touch(now)
    await feed.ready
    return feed
  }

  get size(): number {
    return this.#feeds.size
  }

  /** Forgets finished (or failed) merges nobody read for `keepMs`. */
  #sweep(now: number): void {
    for (const [id, feed] of this.#feeds) {
      const idle = now - feed.lastUse > this.#options.keepMs
      if ((feed.finished || feed.failure !== undefined) && idle && feed.followers === 0)
        this.#feeds.delete(id)
    }
  }

  close(): void {
    for (const feed of this.#feeds.values()) feed.stop()
    this.#feeds.clear()
  }
}
