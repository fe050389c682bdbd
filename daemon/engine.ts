import { randomBytes } from 'node:crypto'
import {
  bulkWrite,
  type Couch,
  getDoc,
  tryWrite,
  updateDoc,
  updateSeq,
  viewRows,
} from '../lib/couch/client.js'
import { type Change, FEED_MAX_BACKOFF_MS, followChanges, type Seq, sleep } from '../lib/couch/follow.js'
import { readShard, settleShard } from '../lib/couch/shards.js'
import { type AbortDoc, type EngineDoc, type EngineState, engineId, type ShardDoc } from '../lib/documents.js'
import type { AddressPolicy } from '../load/safety.js'
import { claimOrder, claimState, decideShard, type EngineView, headStartMs } from './decide.js'
import { type HeldShard, planDrain } from './drain.js'
import type { Identity, IdentitySource } from './identity.js'
import type { Logger } from './log.js'
import { SampleWriter } from './samples.js'
import { ShardRun } from './shard-run.js'

export interface EngineOptions {
  couch: Couch
  identity: IdentitySource
  version: string
  /** Most concurrent connections over all its shards. */
  capacity: number
  policy: AddressPolicy
  /** Load processes per shard ('auto': one per core); 0 runs the load in this process. */
  workers: number | 'auto'
  log: Logger
  heartbeatMs?: number
  leaseMs?: number
  sampleIntervalMs?: number
  feedHeartbeatMs?: number
  /** Notified of what the engine does (tests and benchmarks wait on it). */
  onEvent?: (event: EngineEvent) => void
}

export type EngineEvent =
  | { type: 'following'; since: Seq }
  | { type: 'claimed'; shard: string }
  | { type: 'claim-lost'; shard: string }
  | { type: 'stopping'; shard: string; reason: string }
  | { type: 'finished'; shard: string; state: string }
  | { type: 'recovered'; shard: string; state: string }
  | { type: 'draining'; reason: string }
  | { type: 'released'; shard: string }
  | { type: 'gone' }

export interface DrainOptions {
  /** From now until running shards are stopped; shards that cannot end by then are stopped at once. */
  timeoutMs: number
  /** Why the engine leaves (`SIGTERM`, `spot interruption …`): logged, and in stopped shards' reason. */
  reason: string
}

export interface EngineStats {
  /** Write requests, all databases together. */
  writes: number
  startedAt: number
}

/**
 * The engine daemon's supervisor: registers in fleet, follows its region's dispatch feed
 * from its checkpoint, claims shards with their `_rev`, runs them, writes samples and
 * heartbeats, and hands back what it held when it restarts or stops.
 */
export class Engine {
  readonly #options: EngineOptions
  readonly #runs = new Map<string, ShardRun>()
  readonly #aborted = new Set<string>()
  readonly #stop = new AbortController()
  #identity!: Identity
  #doc!: EngineDoc
  #samples!: SampleWriter
  #serial: Promise<unknown> = Promise.resolve()
  #checkpoint: Seq | null = null
  #timer: NodeJS.Timeout | undefined
  /** Shards the last changes made claimable, claimed together once the feed's batch is handled. */
  readonly #candidates = new Map<string, ShardDoc>()
  #flushScheduled = false
  /** A rescan of the queue for deferred shards (see `SPREAD`): when, and its timer. */
  #rescan: { at: number; timer: NodeJS.Timeout } | undefined
  #following: Promise<void> | undefined
  #draining = false
  /** Set before the last write ('gone'): a heartbeat still in flight must not write after it. */
  #gone = false
  #feedAliveAt: number | undefined
  #drain: { deadline: number; reason: string; hurry: AbortController; done: Promise<void> } | undefined
  readonly stats: EngineStats = { writes: 0, startedAt: Date.now() }

  constructor(options: EngineOptions) {
    this.#options = options
  }

  get instanceId(): string {
    return this.#identity.instanceId
  }

  get running(): string[] {
    return [...this.#runs.keys()]
  }

  get #dispatch() {
    return this.#options.couch.db(this.#options.couch.names.dispatch(this.#identity.region))
  }

  get #fleet() {
    return this.#options.couch.db(this.#options.couch.names.fleet)
  }

  async start(): Promise<void> {
    const { couch, log } = this.#options
    this.#identity = await this.#options.identity.identify()
    const { instanceId, region } = this.#identity
    const bootId = randomBytes(6).toString('hex')
    this.#samples = new SampleWriter({
      engine: instanceId,
      region,
      bootId,
      intervalMs: this.#options.sampleIntervalMs,
      write: (docs) => bulkWrite(couch.db(couch.names.results), docs),
      onError: (err) =>
        log.warn({ err: (err as Error).message }, 'writing samples failed; retrying with the next batch'),
    })
    const previous = await getDoc<EngineDoc>(this.#fleet, engineId(instanceId))
    await this.#recover()
    // Aborts written before this start: the feed resumes after them.
    for (const row of await viewRows(this.#dispatch, 'aborts', {})) this.#aborted.add(String(row.key))
    // The first start follows from now on (the queue is scanned below): that is its checkpoint.
    const since = previous?.checkpoint ?? (await updateSeq(this.#dispatch))
    this.#checkpoint = since
    const now = Date.now()
    this.#doc = {
      _id: engineId(instanceId),
      type: 'engine',
      instanceId,
      region,
      az: this.#identity.az,
      version: this.#options.version,
      state: 'idle',
      capacity: this.#options.capacity,
      inUse: 0,
      checkpoint: since,
      heartbeatAt: now,
      startedAt: now,
      bootId,
    }
    if (this.#identity.instanceType) this.#doc.instanceType = this.#identity.instanceType
    await this.#saveEngine()
    await this.#serialized(() => this.#scanQueued())
    this.#samples.start()
    this.#timer = setInterval(() => void this.#tickEngineDoc(), this.#heartbeatMs)
    this.#following = followChanges<ShardDoc | AbortDoc>({
      couch,
      db: couch.names.dispatch(region),
      since,
      signal: this.#stop.signal,
      heartbeatMs: this.#options.feedHeartbeatMs,
      onChange: (change) => this.#serialized(() => this.#handle(change)),
      onError: (err, wait) => log.warn({ err: err.message, retryInMs: wait }, 'dispatch feed interrupted'),
      onAlive: () => {
        this.#feedAliveAt = Date.now()
      },
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
  health(now = Date.now()): true | string {
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
   * closer (a second SIGTERM: stop now).
   */
  drain(options: DrainOptions): Promise<void> {
    const deadline = Date.now() + Math.max(0, options.timeoutMs)
    if (this.#drain) {
      if (deadline < this.#drain.deadline) {
        this.#drain.deadline = deadline
        this.#drain.reason = options.reason
        this.#drain.hurry.abort()
      }
      return this.#drain.done
    }
    const state = { deadline, reason: options.reason, hurry: new AbortController(), done: Promise.resolve() }
    this.#drain = state
    state.done = this.#drainUntil(options.reason)
    return state.done
  }

  async #drainUntil(reason: string): Promise<void> {
    const { log } = this.#options
    const drain = this.#drain!
    this.#draining = true
    log.info({ reason, timeoutMs: drain.deadline - Date.now(), shards: this.running }, 'draining')
    this.#event({ type: 'draining', reason })
    await this.#saveEngine().catch((err) =>
      log.warn({ err: (err as Error).message }, 'could not mark the engine draining'),
    )
    // A claim in flight lands in #runs first; no claim comes after (draining).
    await this.#serial
    for (const step of planDrain(this.#held(), drain.deadline)) {
      const run = this.#runs.get(step.shard)
      if (!run) continue
      let action = step.action
      if (action === 'release') {
        if (run.release()) {
          this.#event({ type: 'released', shard: run.id })
          continue
        }
        // Too late to hand back: it has just started, so the finish-or-stop rule applies.
        action = planDrain([{ id: run.id, phase: 'running', endsAt: run.endsAt }], drain.deadline)[0]!.action
      }
      if (action === 'stop') {
        this.#event({ type: 'stopping', shard: run.id, reason: 'draining' })
        run.stop('engine stopping', `${reason}; cannot finish before the drain deadline`)
      }
    }
    while (this.#runs.size > 0 && Date.now() < drain.deadline) {
      // Aborted either way: by a closer deadline, or once the runs end (its timer must not keep the process).
      drain.hurry = new AbortController()
      const finished = Promise.allSettled([...this.#runs.values()].map((run) => run.done))
      await Promise.race([finished, sleep(drain.deadline - Date.now(), drain.hurry.signal)])
      drain.hurry.abort()
      await settle()
    }
    for (const run of this.#runs.values()) {
      this.#event({ type: 'stopping', shard: run.id, reason: 'drain deadline' })
      run.stop('engine stopping', `${drain.reason}; drain deadline reached`)
    }
    await Promise.allSettled([...this.#runs.values()].map((run) => run.done))
    this.#stop.abort()
    await this.#following
    await this.#serial
    clearInterval(this.#timer)
    clearTimeout(this.#rescan?.timer)
    this.#rescan = undefined
    await this.#samples.stop()
    this.stats.writes += this.#samples.writes
    this.#samples.writes = 0
    this.#gone = true
    try {
      await this.#saveEngine('gone')
    } catch (err) {
      // CouchDB unreachable: the garbage collector retires the doc once heartbeats stop.
      log.warn({ err: (err as Error).message }, 'could not mark the engine gone')
    }
    log.info({ instanceId: this.instanceId, reason }, 'engine gone')
    this.#event({ type: 'gone' })
  }

  #held(): HeldShard[] {
    return [...this.#runs.values()].map((run) => ({ id: run.id, phase: run.phase, endsAt: run.endsAt }))
  }

  get #heartbeatMs(): number {
    return this.#options.heartbeatMs ?? 10_000
  }

  #serialized<T>(task: () => Promise<T>): Promise<T> {
    const next = this.#serial.then(task)
    this.#serial = next.catch((err) =>
      this.#options.log.error({ err: (err as Error).message }, 'engine task failed'),
    )
    return next
  }

  #event(event: EngineEvent): void {
    this.#options.onEvent?.(event)
  }

  /**
   * After a crash: shards this engine claimed but never started go back to the queue;
   * shards it was running are marked lost (never re-run: their seconds were partly sent).
   */
  async #recover(): Promise<void> {
    const { instanceId } = this.#identity
    const rows = await viewRows(this.#dispatch, 'by-engine', {
      startkey: [instanceId],
      endkey: [instanceId, {}],
    })
    for (const row of rows) {
      const [, state] = row.key as [string, string]
      if (state !== 'claimed' && state !== 'running') continue
      const written = await updateDoc<ShardDoc>(this.#dispatch, row.id, (shard) => {
        this.stats.writes++
        if (!shard || shard.engine !== instanceId || (shard.state !== 'claimed' && shard.state !== 'running'))
          return undefined
        if (shard.state === 'claimed') {
          const { engine, claimedAt, leaseUntil, ...rest } = shard
          return { ...rest, state: 'queued' }
        }
        const { leaseUntil, ...rest } = shard
        return { ...rest, state: 'lost', reason: 'engine restarted', finishedAt: Date.now() }
      })
      if (written) {
        this.#options.log.info({ shard: row.id, state: written.state }, 'recovered shard held before restart')
        this.#event({ type: 'recovered', shard: row.id, state: written.state })
      }
    }
  }

  /** Queued shards of the region: at start (the feed starts from the checkpoint) and when capacity frees up. */
  async #scanQueued(): Promise<void> {
    const rows = await viewRows<unknown, ShardDoc>(this.#dispatch, 'demand', {
      reduce: false,
      include_docs: true,
      startkey: ['queued'],
      endkey: ['queued', {}],
    })
    for (const row of rows) if (row.doc) await this.#handleShard(row.doc)
    await this.#claimCandidates()
  }

  async #handle(change: Change<ShardDoc | AbortDoc>): Promise<void> {
    const doc = change.doc
    if (doc && !change.deleted) {
      if (doc.type === 'abort') this.#handleAbort(doc)
      else if (doc.type === 'shard') await this.#handleShard(doc)
    }
    // A claimable shard is claimed once the batch is handled (#flushSoon). Should the engine
    // die first, its restart scans the queue anyway.
    this.#checkpoint = change.seq
  }

  /**
   * Claims the candidates once the changes that arrive together are handled: a rush's
   * shards are written in one `_bulk_docs` but reach the continuous feed line by line, so
   * a shard of a rush with several waits `COLLECT_MS` for its siblings; then they are tried
   * in this engine's own order (`claimOrder`) rather than all engines racing for the first.
   */
  #flushSoon(collect: boolean): void {
    if (this.#flushScheduled) return
    this.#flushScheduled = true
    const flush = () => {
      this.#flushScheduled = false
      if (this.#candidates.size > 0) void this.#serialized(() => this.#claimCandidates())
    }
    if (collect) setTimeout(flush, COLLECT_MS)
    else setImmediate(flush)
  }

  /**
   * Tries the candidates in this engine's order, deciding again before each (a claim just
   * made defers the rest of its rush). Every claim after the first re-reads the shard first:
   * another engine has likely taken it meanwhile, and a read is cheaper than a losing write.
   */
  async #claimCandidates(): Promise<void> {
    const batch = claimOrder(this.#identity.instanceId, [...this.#candidates.values()])
    this.#candidates.clear()
    let tried = 0
    for (const candidate of batch) {
      if (this.#stop.signal.aborted) return
      let shard = candidate
      if (tried > 0) {
        const current = await this.#current(shard._id)
        if (!current) continue
        shard = current
      }
      const decision = this.#decide(shard)
      if (decision.kind === 'defer') this.#rescanAt(decision.until)
      if (decision.kind !== 'claim') continue
      tried++
      await this.#claim(shard)
    }
  }

  /** The shard as it stands (the conflict rule applied, and written back when needed). */
  async #current(id: string, seen?: ShardDoc): Promise<ShardDoc | undefined> {
    const read = await readShard(this.#dispatch, id, seen && !seen._conflicts ? seen : undefined)
    if (!read) return undefined
    if (read.conflict) {
      this.stats.writes++
      await settleShard(this.#dispatch, read)
    }
    return read.doc
  }

  #decide(shard: ShardDoc) {
    const held = new Map<string, number>()
    for (const run of this.#runs.values()) {
      const since = run.shard.claimedAt ?? 0
      const known = held.get(run.shard.rush)
      if (known === undefined || since < known) held.set(run.shard.rush, since)
    }
    const view: EngineView = {
      instanceId: this.#identity.instanceId,
      region: this.#identity.region,
      running: new Set(this.#runs.keys()),
      held,
      free: this.#options.capacity - this.#inUse(),
      aborted: this.#aborted,
      draining: this.#draining,
      now: Date.now(),
    }
    return decideShard(shard, view)
  }

  /** Scans the queue again at `at` (the earliest asked for wins). */
  #rescanAt(at: number): void {
    if (this.#rescan && this.#rescan.at <= at) return
    clearTimeout(this.#rescan?.timer)
    const timer = setTimeout(
      () => {
        this.#rescan = undefined
        if (this.#draining || this.#stop.signal.aborted) return
        void this.#serialized(() => this.#scanQueued())
      },
      Math.max(0, at - Date.now()) + 5,
    )
    timer.unref()
    this.#rescan = { at, timer }
  }

  #handleAbort(abort: AbortDoc): void {
    this.#aborted.add(abort.rush)
    for (const run of this.#runs.values()) {
      if (run.shard.rush === abort.rush) {
        this.#event({ type: 'stopping', shard: run.id, reason: 'aborted' })
        run.stop('aborted')
      }
    }
  }

  /** A shard seen in the feed or the queue: stop a run, or note a candidate to claim. */
  async #handleShard(seen: ShardDoc): Promise<void> {
    const shard = await this.#current(seen._id, seen)
    if (!shard) return
    const decision = this.#decide(shard)
    if (decision.kind === 'claim') {
      this.#candidates.set(shard._id, shard)
      this.#flushSoon(shard.share.of > 1)
      return
    }
    // Claimed by another engine (or aborted) since it became a candidate.
    this.#candidates.delete(shard._id)
    if (decision.kind === 'stop') {
      this.#event({ type: 'stopping', shard: shard._id, reason: decision.reason })
      this.#runs.get(shard._id)?.stop(decision.reason === 'aborted' ? 'aborted' : 'claim lost')
    } else if (decision.kind === 'defer') {
      this.#rescanAt(decision.until)
    }
  }

  /**
   * Claims with the shard's `_rev`: a conflict means another engine won; move on. A shard
   * starting within the run's head start is claimed directly as `running` (`claimState`).
   */
  async #claim(shard: ShardDoc): Promise<void> {
    const { instanceId } = this.#identity
    const now = Date.now()
    const state = claimState(shard.startAt, now, headStartMs(this.#options.workers))
    const claimed: ShardDoc = {
      ...shard,
      state,
      engine: instanceId,
      claimedAt: now,
      leaseUntil: now + (this.#options.leaseMs ?? 30_000),
    }
    if (state === 'running') claimed.startedAt = now
    this.stats.writes++
    const rev = await tryWrite(this.#dispatch, claimed)
    if (!rev) {
      this.#options.log.debug({ shard: shard._id }, 'claim lost to another engine')
      this.#event({ type: 'claim-lost', shard: shard._id })
      return
    }
    this.#options.log.info({ shard: shard._id, startInMs: shard.startAt - now, state }, 'shard claimed')
    this.#event({ type: 'claimed', shard: shard._id })
    const run = new ShardRun(
      {
        db: this.#dispatch,
        instanceId,
        policy: this.#options.policy,
        workers: this.#options.workers,
        leaseMs: this.#options.leaseMs ?? 30_000,
        samples: this.#samples,
        log: this.#options.log,
        wrote: () => {
          this.stats.writes++
        },
      },
      { ...claimed, _rev: rev },
    )
    this.#runs.set(shard._id, run)
    void run.done
      .catch((err) =>
        this.#options.log.error({ shard: shard._id, err: (err as Error).message }, 'shard run failed'),
      )
      .finally(() => {
        this.#runs.delete(shard._id)
        this.#event({ type: 'finished', shard: shard._id, state: run.shard.state })
        // Room again: look for queued work the feed went past while this engine was full.
        if (!this.#draining) void this.#serialized(() => this.#scanQueued())
      })
  }

  #inUse(): number {
    let total = 0
    for (const run of this.#runs.values()) total += run.shard.connections
    return total
  }

  /**
   * The heartbeat, every heartbeatMs, carrying the checkpoint: the only periodic write of
   * the engine doc. After a crash the engine replays at most a heartbeat's worth of changes,
   * which is harmless (every decision is idempotent: a claim needs the shard `queued` and
   * its current `_rev`).
   */
  async #tickEngineDoc(): Promise<void> {
    try {
      await this.#saveEngine()
    } catch (err) {
      this.#options.log.warn({ err: (err as Error).message }, 'heartbeat failed')
    }
  }

  async #saveEngine(state?: EngineState): Promise<void> {
    const checkpoint = this.#checkpoint ?? this.#doc.checkpoint
    const next: EngineDoc = {
      ...this.#doc,
      state: state ?? (this.#draining ? 'draining' : this.#runs.size > 0 ? 'busy' : 'idle'),
      inUse: this.#inUse(),
      checkpoint,
      heartbeatAt: Date.now(),
    }
    const written = await updateDoc<EngineDoc>(this.#fleet, next._id, (current) => {
      // A heartbeat that lost a conflict to the final 'gone' would otherwise retry and put
      // 'draining' back over it.
      if (state === undefined && this.#gone) return undefined
      this.stats.writes++
      if (state === undefined && current?.state === 'draining' && !this.#draining) {
        // The controller chose this idle engine for scale-in: claim nothing more. Its
        // instance's termination (SIGTERM) then drains and ends the process.
        this.#draining = true
        this.#options.log.info('draining: the controller marked this engine for scale-in')
        this.#event({ type: 'draining', reason: 'marked by the controller for scale-in' })
      }
      return {
        ...next,
        ...(state === undefined && this.#draining && { state: 'draining' as const }),
        _rev: current?._rev,
      }
    })
    this.#doc = written ?? next
  }

  /** Writes per second so far, all databases together. */
  writesPerSecond(): number {
    const seconds = (Date.now() - this.stats.startedAt) / 1000
    return seconds > 0 ? (this.stats.writes + this.#samples.writes) / seconds : 0
  }
}

/** How long a claimable shard of a multi-shard rush waits for its siblings from the feed. */
const COLLECT_MS = 10

/** Lets pending promise callbacks (a finished run leaving #runs) run first. */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}
