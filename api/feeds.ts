import type { Couch } from '../lib/couch/client.js'
import { readRush, rushStateOf, watchRush } from '../lib/couch/rushes.js'
import type { RushDoc, RushState, ShardDoc } from '../lib/documents.js'
import { createHistogram, encodeHistogram, type LatencyHistogram, mergeInto } from '../lib/histogram.js'
import type { SecondLatency, SecondRow } from '../lib/report/model.js'
import { SecondsCollector, secondRow } from '../lib/report/seconds.js'
import { type Summary, summarize } from '../lib/summary.js'
import { evaluateThresholds, parseThreshold, type ThresholdResult } from '../lib/thresholds.js'
import type { Point } from '../lib/timeline.js'
import { stepName } from '../lib/transaction/spec.js'
import { stepSummaries, summarizeTransaction, type TransactionSummary } from '../lib/transaction/summary.js'
import { readAgain } from './read-again.js'

/**
 * One merge per rush per API process: the first reader (a status poll, an event stream)
 * starts a `watchRush` over the rush's shards and samples; every other reader of that rush
 * in this process reads its cached seconds, and followers get each second pushed. So a
 * thousand followers, or clients polling every two seconds, cost one merge.
 */
export type FeedEvent =
  | {
      kind: 'second'
      point: Point
      histogram: string
      /** The second's exact percentiles (ms) from its own histogram, for pages that draw them. */
      latency: SecondLatency | null
      /** A transaction's: the second's part histograms, encoded (the iterations', then each step's). */
      parts?: string[]
    }
  | {
      kind: 'end'
      summary: Summary
      state: RushState
      thresholds: ThresholdResult[]
      /** The whole rush's merged histogram, encoded. */
      histogram: string
      /** A transaction's: each step's summary, the iterations', rows exhausted. */
      transaction?: TransactionSummary
      /** A transaction's whole-rush part histograms, encoded (the iterations', then each step's). */
      parts?: string[]
      shards: { id: string; region: string; state: string; reason?: string }[]
    }
  | { kind: 'error'; message: string }

export class RushFeed {
  readonly rush: RushDoc
  readonly points: Point[] = []
  readonly histogram: LatencyHistogram = createHistogram()
  /**
   * A transaction's part histograms merged so far (the iterations', then each step's), so
   * every step's percentiles are exact across engines and regions; absent for one request.
   */
  readonly parts?: LatencyHistogram[]
  /** Each second as the report shows it, its percentiles read from its histogram on arrival. */
  readonly rows: SecondRow[] = []
  /**
   * With several regions, each region's seconds for the report's per-region charts: a
   * second merge per region in the same watch (one histogram of about 190 kB per region
   * kept, the per-second ones are not).
   */
  readonly regions = new Map<string, SecondsCollector>()
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
    if (rush.transaction)
      this.parts = Array.from({ length: rush.transaction.steps.length + 1 }, () => createHistogram())
    if (rush.regions.length > 1)
      for (const region of rush.regions) this.regions.set(region, new SecondsCollector())
    let markReady: () => void = () => {}
    this.ready = new Promise((resolve) => {
      markReady = resolve
    })
    watchRush(
      couch,
      rush.rush,
      (point, histogram, parts) => {
        this.points.push(point)
        const row = secondRow(point, histogram)
        this.rows.push(row)
        mergeInto(this.histogram, histogram)
        parts?.forEach((part, index) => {
          const into = this.parts?.[index]
          if (into) mergeInto(into, part)
        })
        const encoded = encodeHistogram(histogram)
        // The second's histogram travels with it, so followers merge exactly, as a --couch watch does.
        // One event object for every follower: its serialized frame is made once (see the SSE writer).
        const event: FeedEvent = {
          kind: 'second',
          point,
          histogram: encoded,
          latency: row.latency,
          ...(parts && { parts: parts.map(encodeHistogram) }),
        }
        this.#events.push(event)
        for (const listener of this.#listeners) listener(event)
      },
      {
        pollMs,
        signal: this.#stop.signal,
        ...(this.regions.size > 0 && {
          onRegionPoint: (region: string, point: Point, histogram: LatencyHistogram) =>
            this.regions.get(region)?.add(point, histogram),
        }),
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

  /** A transaction's figures so far: each step's summary, the iterations', rows exhausted. */
  transaction(): TransactionSummary | undefined {
    const { transaction } = this.rush
    if (!transaction || !this.parts) return undefined
    return summarizeTransaction(this.points, this.parts, transaction.steps.map(stepName), this.points.length)
  }

  /** The rush's thresholds judged; one naming a step (`login.p95<300ms`) on that step's figures. */
  thresholds(summary = this.summary(), transaction = this.transaction()): ThresholdResult[] {
    const sources = Array.isArray(this.rush.thresholds) ? (this.rush.thresholds as string[]) : []
    return evaluateThresholds(sources.map(parseThreshold), summary, transaction && stepSummaries(transaction))
  }

  end(): FeedEvent & { kind: 'end' } {
    const summary = this.summary()
    const transaction = this.transaction()
    return {
      kind: 'end',
      summary,
      state: this.state,
      thresholds: this.thresholds(summary, transaction),
      histogram: encodeHistogram(this.histogram),
      ...(transaction && { transaction, parts: this.parts!.map(encodeHistogram) }),
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
      const rush = known ?? (await readAgain(() => readRush(this.#couch, id)))
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
