import { type Scheduler, systemClock, type Timer } from '../lib/clock.js'
import type { BulkResult } from '../lib/couch/client.js'
import type { SampleEntry, SamplesDoc } from '../lib/documents.js'
import { samplesId } from '../lib/documents.js'

export interface SampleWriterOptions {
  engine: string
  region: string
  bootId: string
  /** Writes the batch (`_bulk_docs`); per-document results. */
  write: (docs: SamplesDoc[]) => Promise<BulkResult[]>
  intervalMs?: number
  clock?: Scheduler
  onError?: (err: unknown) => void
}

/**
 * Buffers the per-second entries of all this engine's shards and writes them as one
 * document per interval (one second): never one write per request or per shard. A batch
 * that fails stays queued and goes with the next one; ids are deterministic, so a batch
 * written twice (the first answer lost) comes back as a conflict and counts as written.
 */
export class SampleWriter {
  readonly #options: SampleWriterOptions
  #buffer: SampleEntry[] = []
  #backlog: { doc: SamplesDoc; upTo: number }[] = []
  #k = 0
  #added = 0
  #written = 0
  #writing: Promise<void> | undefined
  #timer: Timer | undefined
  #waiters: { upTo: number; resolve: () => void }[] = []
  /** Write requests made, for the writes-per-second figure. */
  writes = 0

  constructor(options: SampleWriterOptions) {
    this.#options = options
  }

  get #clock(): Scheduler {
    return this.#options.clock ?? systemClock
  }

  start(): void {
    this.#timer ??= this.#clock.every(this.#options.intervalMs ?? 1000, () => void this.#tick())
  }

  add(entry: SampleEntry): void {
    this.#buffer.push(entry)
    this.#added++
  }

  /** Resolves once every entry added so far is written (at the next regular write). */
  flushed(): Promise<void> {
    if (this.#written >= this.#added) return Promise.resolve()
    return new Promise((resolve) => this.#waiters.push({ upTo: this.#added, resolve }))
  }

  /** Writes what is left, now, and stops the timer. */
  async stop(): Promise<void> {
    this.#timer?.cancel()
    this.#timer = undefined
    await this.#writing
    await this.#tick()
  }

  #tick(): Promise<void> {
    if (this.#writing) return this.#writing
    if (this.#buffer.length > 0) {
      const { engine, region, bootId } = this.#options
      const doc: SamplesDoc = {
        _id: samplesId(engine, bootId, this.#k++),
        type: 'samples',
        engine,
        region,
        at: this.#clock.now(),
        entries: this.#buffer,
      }
      this.#buffer = []
      this.#backlog.push({ doc, upTo: this.#added })
    }
    if (this.#backlog.length === 0) return Promise.resolve()
    const batch = this.#backlog
    this.#writing = this.#write(batch).finally(() => {
      this.#writing = undefined
    })
    return this.#writing
  }

  async #write(batch: { doc: SamplesDoc; upTo: number }[]): Promise<void> {
    this.writes++
    try {
      const results = await this.#options.write(batch.map((item) => item.doc))
      const failed = new Set(results.filter((r) => r.error && r.error !== 'conflict').map((r) => r.id))
      this.#backlog = this.#backlog.filter((item) => !batch.includes(item) || failed.has(item.doc._id))
      if (failed.size > 0)
        throw new Error(`${failed.size} sample batches rejected: ${[...failed].join(', ')}`)
    } catch (err) {
      this.#options.onError?.(err)
    }
    // Written up to the oldest batch still queued.
    this.#written =
      this.#backlog.length > 0
        ? this.#backlog[0]!.upTo - this.#backlog[0]!.doc.entries.length
        : this.#added - this.#buffer.length
    this.#waiters = this.#waiters.filter((waiter) => {
      if (waiter.upTo > this.#written) return true
      waiter.resolve()
      return false
    })
  }
}
