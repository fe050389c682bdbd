import { type Couch, tryWrite } from '../lib/couch/client.js'
import type { SprintDoc } from '../lib/documents.js'
import type { AddressPolicy } from '../load/safety.js'
import { sprint } from '../load/sprint.js'
import type { Logger } from './log.js'

/**
 * Sprints on engines: a `sprint:` document queued in the region's dispatch database is
 * claimed by one engine (its `_rev`: a 409 means another engine took it), run with the
 * engine's own address policy, and its full result written back. A sprint is one request,
 * so it needs no lease: an engine that dies mid-sprint leaves it `running`, and the API
 * reports it as such. Runs beside the feed, never blocking it.
 */
export interface SprintRunnerOptions {
  couch: Couch
  region: string
  engine: string
  policy: AddressPolicy
  log: Logger
  /** Claims nothing more (a draining engine). */
  closed: () => boolean
  clock?: () => number
}

export class SprintRunner {
  readonly #options: SprintRunnerOptions
  readonly #running = new Set<Promise<void>>()

  constructor(options: SprintRunnerOptions) {
    this.#options = options
  }

  /** Called with each sprint document the feed delivers. */
  handle(doc: SprintDoc): void {
    if (doc.state !== 'queued' || doc.region !== this.#options.region || this.#options.closed()) return
    const run = this.#run(doc).catch((err) =>
      this.#options.log.warn({ err: (err as Error).message, sprint: doc.sprint }, 'sprint failed'),
    )
    this.#running.add(run)
    void run.finally(() => this.#running.delete(run))
  }

  /** Resolves when the sprints under way are written back (drain). */
  async idle(): Promise<void> {
    await Promise.all([...this.#running])
  }

  async #run(doc: SprintDoc): Promise<void> {
    const { couch, region, engine, policy } = this.#options
    const clock = this.#options.clock ?? Date.now
    const db = couch.db(couch.names.dispatch(region))
    const claimed: SprintDoc = { ...doc, state: 'running', engine, startedAt: clock() }
    const rev = await tryWrite(db, claimed)
    if (rev === undefined) return // another engine of the region took it
    const result = await sprint(doc.request, policy)
    await tryWrite(db, {
      ...claimed,
      _rev: rev,
      state: result.error ? 'failed' : 'done',
      finishedAt: clock(),
      result,
    })
  }
}
