import { randomBytes } from 'node:crypto'
import { type Scheduler, systemClock } from '../lib/clock.js'
import { bulkWrite, type Couch, getDoc, updateSeq } from '../lib/couch/client.js'
import { FEED_MAX_BACKOFF_MS } from '../lib/couch/follow.js'
import { type EngineDoc, engineId } from '../lib/documents.js'
import { WorkerPool } from '../load/pool.js'
import type { AddressPolicy } from '../load/safety.js'
import { defaultCores } from '../load/workers.js'
import { AbortTracker } from './aborts.js'
import type { IdentitySource } from './identity.js'
import type { Logger } from './log.js'
import { recoverShards } from './recovery.js'
import { SampleWriter } from './samples.js'
import { type EngineEvent, EngineSession } from './session.js'
import { WriteStats } from './write-stats.js'

export interface EngineOptions {
  couch: Couch
  identity: IdentitySource
  version: string
  /** Most concurrent connections over all its shards. */
  capacity: number
  policy: AddressPolicy
  /** Load processes per shard ('auto': one per core); 0 runs the load in this process. */
  workers: number | 'auto'
  /**
   * Keep that many load processes loaded between shards (default true; one per core with
   * 'auto'): a shard takes them instead of forking (`load/pool.ts`).
   */
  workerPool?: boolean
  /** The pool's processes warm up their load path while idle (default true; `load/warm-up.ts`). */
  warmUp?: boolean
  log: Logger
  heartbeatMs?: number
  leaseMs?: number
  sampleIntervalMs?: number
  feedHeartbeatMs?: number
  /** Notified of what the engine does (tests and benchmarks wait on it). */
  onEvent?: (event: EngineEvent) => void
  /** Time and timers (tests inject a `ManualClock`). */
  clock?: Scheduler
}

export interface DrainOptions {
  /** From now until running shards are stopped; shards that cannot end by then are stopped at once. */
  timeoutMs: number
  /** Why the engine leaves (`SIGTERM`, `spot interruption …`): logged, and in stopped shards' reason. */
  reason: string
}

/**
 * The engine daemon's supervisor, composed of small parts: it reads its identity, recovers
 * what it held before a crash (`recoverShards`), loads the known aborts (`AbortTracker`),
 * registers, and hands over to an `EngineSession` — which follows the dispatch feed, claims
 * (`ClaimScheduler`), runs shards (`ShardRun`), heartbeats (`Registration`) and drains
 * (`planDrain`, `DrainDeadline`). Time comes from the injected clock.
 */
export class Engine {
  readonly #options: EngineOptions
  readonly #clock: Scheduler
  readonly stats: WriteStats
  #started: { instanceId: string; session: EngineSession; samples: SampleWriter } | undefined
  #pool: WorkerPool | undefined
  #feedAliveAt: number | undefined

  constructor(options: EngineOptions) {
    this.#options = options
    this.#clock = options.clock ?? systemClock
    this.stats = new WriteStats(this.#clock)
  }

  /** The instance id; known once started. */
  get instanceId(): string {
    if (!this.#started) throw new Error('the engine has not started')
    return this.#started.instanceId
  }

  /** Shards held now. */
  get running(): string[] {
    return this.#started?.session.running ?? []
  }

  /** The engine's load processes kept ready, once started (none with `workers: 0` or the pool off). */
  get pool(): WorkerPool | undefined {
    return this.#pool
  }

  async start(): Promise<void> {
    // Forked first: the processes load while the engine reads its identity and registers.
    this.#startPool()
    try {
      await this.#begin()
    } catch (err) {
      await this.#pool?.close()
      throw err
    }
  }

  #startPool(): void {
    const { workers, workerPool, warmUp, log } = this.#options
    if (workers === 0 || workerPool === false) return
    const size = workers === 'auto' ? defaultCores() : workers
    const pool = new WorkerPool({
      size,
      clock: this.#clock,
      ...(warmUp === false && { warmUp }),
      onEvent: (event) => {
        if (event.type === 'died') log.warn(event, 'load process died; forking another')
        else if (event.type === 'warmed' && (event.failed || event.errors > 0))
          log.warn(event, 'load process warm-up failed; it stays cold')
        else if (event.type === 'warmed') log.info(event, 'load process warmed up')
        else if (event.type === 'lent' && event.cold > 0)
          log.info(event, 'too few idle load processes: forked the rest for this shard')
        else log.debug(event, 'load process pool')
      },
    })
    pool.start()
    this.#pool = pool
    void pool.ready().then(() => {
      if (!pool.counts.closing) log.info({ size, pids: pool.pids }, 'load processes ready')
    })
  }

  async #begin(): Promise<void> {
    const { couch, log } = this.#options
    const clock = this.#clock
    const identity = await this.#options.identity.identify()
    const { instanceId, region } = identity
    const dispatch = couch.db(couch.names.dispatch(region))
    const bootId = randomBytes(6).toString('hex')
    const samples = new SampleWriter({
      engine: instanceId,
      region,
      bootId,
      clock,
      intervalMs: this.#options.sampleIntervalMs,
      write: (docs) => bulkWrite(couch.db(couch.names.results), docs),
      onError: (err) =>
        log.warn({ err: (err as Error).message }, 'writing samples failed; retrying with the next batch'),
    })
    const previous = await getDoc<EngineDoc>(couch.db(couch.names.fleet), engineId(instanceId))
    await recoverShards({
      dispatch,
      instanceId,
      clock,
      wrote: (requests) => this.stats.count(requests),
      onRecovered: (shard, state) => {
        log.info({ shard, state }, 'recovered shard held before restart')
        this.#event({ type: 'recovered', shard, state })
      },
    })
    // Aborts written before this start: the feed resumes after them.
    const aborts = new AbortTracker()
    await aborts.load(dispatch)
    // The first start follows from now on (the queue is scanned below): that is its checkpoint.
    const since = previous?.checkpoint ?? (await updateSeq(dispatch))
    const now = clock.now()
    const doc: EngineDoc = {
      _id: engineId(instanceId),
      type: 'engine',
      instanceId,
      region,
      az: identity.az,
      version: this.#options.version,
      state: 'idle',
      capacity: this.#options.capacity,
      inUse: 0,
      checkpoint: since,
      heartbeatAt: now,
      startedAt: now,
      bootId,
    }
    if (identity.instanceType) doc.instanceType = identity.instanceType
    const session = new EngineSession({
      couch,
      clock,
      identity,
      doc,
      samples,
      aborts,
      stats: this.stats,
      capacity: this.#options.capacity,
      policy: this.#options.policy,
      workers: this.#options.workers,
      ...(this.#pool && { pool: this.#pool }),
      heartbeatMs: this.#options.heartbeatMs ?? 10_000,
      leaseMs: this.#options.leaseMs ?? 30_000,
      feedHeartbeatMs: this.#options.feedHeartbeatMs,
      log,
      event: (event) => this.#event(event),
    })
    this.#started = { instanceId, session, samples }
    await session.begin(since, () => {
      this.#feedAliveAt = clock.now()
    })
    log.info(
      { instanceId, region, since, checkpoint: previous?.checkpoint ?? null },
      'engine following dispatch',
    )
    this.#event({ type: 'following', since })
  }

  /**
   * For the systemd watchdog: `true`, or why not. The feed loop must show life — bytes
   * (heartbeats included) or a reconnect attempt — within three feed heartbeats plus the
   * longest back-off. A database that is down is not unhealthy (the loop keeps retrying, and
   * restarting the engine would not help); a loop that stopped trying is.
   */
  health(now = this.#clock.now()): true | string {
    if (this.#feedAliveAt === undefined) return true
    const heartbeat = this.#options.feedHeartbeatMs ?? 10_000
    const allowed = heartbeat * 3 + FEED_MAX_BACKOFF_MS + 1000
    const silent = now - this.#feedAliveAt
    return silent <= allowed ? true : `dispatch feed silent for ${Math.round(silent / 1000)} s`
  }

  /** Drains at once: what is not started goes back to the queue, what runs is stopped (`lost`). */
  async stop(options: { drainMs?: number; reason?: string } = {}): Promise<void> {
    await this.drain({ timeoutMs: options.drainMs ?? 0, reason: options.reason ?? 'stopped' })
  }

  /**
   * Leaves the fleet within `timeoutMs` (see `planDrain`): no more claims, the doc says
   * `draining` at once; shards not started go back to `queued`; running ones finish if they
   * can before the deadline, else they are stopped and marked `lost` with the reason. The
   * feed and the heartbeat go on meanwhile (an abort still stops a finishing shard). Then
   * samples are written and the doc says `gone`. A second call can only bring the deadline
   * closer (a second SIGTERM: stop now). Before `start()` there is nothing to drain.
   */
  async drain(options: DrainOptions): Promise<void> {
    const started = this.#started
    if (!started) return
    await started.session.drain(options.timeoutMs, options.reason)
    // No shard holds a load process any more: let them all go, and wait until they have.
    await this.#pool?.close()
    // Sample writes are counted by the writer; fold them in once it has stopped.
    this.stats.count(started.samples.writes)
    started.samples.writes = 0
  }

  /** Writes per second so far, all databases together. */
  writesPerSecond(): number {
    return this.stats.perSecond(this.#started?.samples.writes ?? 0)
  }

  #event(event: EngineEvent): void {
    this.#options.onEvent?.(event)
  }
}
