import type Nano from 'nano'
import type { Scheduler } from '../lib/clock.js'
import { type Couch, tryWrite, viewRows } from '../lib/couch/client.js'
import { type Change, followChanges, type Seq } from '../lib/couch/follow.js'
import { readShard, settleShard } from '../lib/couch/shards.js'
import {
  type AbortDoc,
  docProblem,
  type EngineDoc,
  type EngineState,
  type ShardDoc,
  type SprintDoc,
} from '../lib/documents.js'
import { claim } from '../lib/shard-state.js'
import { peakConnections } from '../lib/workload.js'
import type { WorkerPool } from '../load/pool.js'
import type { AddressPolicy } from '../load/safety.js'
import { defaultCores, openFileLimit, planWorkers } from '../load/workers.js'
import type { AbortTracker } from './aborts.js'
import { ClaimScheduler } from './claim-scheduler.js'
import { claimOrder, claimState, decideShard, type EngineView, headStartMs } from './decide.js'
import { DrainDeadline, type HeldShard, planDrain } from './drain.js'
import type { Identity } from './identity.js'
import type { Logger } from './log.js'
import { Registration } from './registration.js'
import type { SampleWriter } from './samples.js'
import { ShardRun } from './shard-run.js'
import { SprintRunner } from './sprint-run.js'
import type { WriteStats } from './write-stats.js'

/** What the engine does, for tests and benchmarks to wait on (`EngineOptions.onEvent`). */
export type EngineEvent =
  | { type: 'following'; since: Seq }
  | { type: 'claimed'; shard: string }
  | { type: 'claim-lost'; shard: string }
  | { type: 'stopping'; shard: string; reason: string }
  | { type: 'finished'; shard: string; state: string }
  | { type: 'recovered'; shard: string; state: string }
  | { type: 'draining'; reason: string }
  | { type: 'released'; shard: string }
  | { type: 'skipped'; doc: string; reason: string }
  | { type: 'gone' }

/** Everything a session needs, resolved before it begins (identity read, crash recovered). */
export interface SessionParts {
  couch: Couch
  clock: Scheduler
  identity: Identity
  /** The engine doc as first written (checkpoint included). */
  doc: EngineDoc
  samples: SampleWriter
  aborts: AbortTracker
  stats: WriteStats
  capacity: number
  policy: AddressPolicy
  workers: number | 'auto'
  /** Load processes kept ready for the shards (absent: each shard forks its own). */
  pool?: WorkerPool
  heartbeatMs: number
  leaseMs: number
  feedHeartbeatMs: number | undefined
  log: Logger
  event: (event: EngineEvent) => void
}

/**
 * A registered engine at work: follows its region's dispatch feed from its checkpoint,
 * decides about each shard (`decideShard`), claims with the shard's `_rev` when the claim
 * scheduler says so, runs what it holds, heartbeats (`Registration`), and drains. Built by
 * `Engine.start()` once everything it needs is known: no field is ever unset.
 */
export class EngineSession {
  readonly #parts: SessionParts
  readonly #dispatch: Nano.DocumentScope<unknown>
  /** Malformed documents already logged (a queue scan meets them again). */
  readonly #skipped = new Set<string>()
  readonly #runs = new Map<string, ShardRun>()
  readonly #stop = new AbortController()
  readonly #registration: Registration
  readonly #claims: ClaimScheduler
  #serial: Promise<unknown> = Promise.resolve()
  #following: Promise<void> | undefined
  #draining = false
  // What the engine doc says: draining once the drain is planned (or the controller marked it),
  // so a heartbeat between the signal and the plan cannot announce a plan not yet made.
  #saysDraining = false
  readonly #sprints: SprintRunner
  #drain: { deadline: DrainDeadline; done: Promise<void> } | undefined

  constructor(parts: SessionParts) {
    this.#parts = parts
    const { couch, identity, clock } = parts
    this.#dispatch = couch.db(couch.names.dispatch(identity.region))
    this.#sprints = new SprintRunner({
      couch,
      region: identity.region,
      engine: identity.instanceId,
      policy: parts.policy,
      log: parts.log,
      closed: () => this.#draining,
      clock: () => clock.now(),
    })
    this.#registration = new Registration({
      fleet: couch.db(couch.names.fleet),
      clock,
      doc: parts.doc,
      heartbeatMs: parts.heartbeatMs,
      status: () => ({ draining: this.#saysDraining, held: this.#runs.size, inUse: this.#inUse() }),
      onMarkedDraining: () => {
        this.#draining = true
        this.#saysDraining = true
        this.#parts.event({ type: 'draining', reason: 'marked by the controller for scale-in' })
      },
      wrote: (requests) => parts.stats.count(requests),
      log: parts.log,
    })
    this.#claims = new ClaimScheduler({
      clock,
      onFlush: () => void this.#serialized(() => this.#claimCandidates()),
      onRescan: () => {
        if (this.#draining || this.#stop.signal.aborted) return
        void this.#serialized(() => this.#scanQueued())
      },
    })
  }

  get running(): string[] {
    return [...this.#runs.keys()]
  }

  /**
   * Writes the doc, claims what waits in the queue, starts the heartbeat, the sample writer
   * and the feed from `since`; `onAlive` hears every sign of life of the feed.
   */
  async begin(since: Seq, onAlive: () => void): Promise<void> {
    const { couch, identity, log } = this.#parts
    this.#registration.advance(since)
    await this.#registration.save()
    await this.#serialized(() => this.#scanQueued())
    this.#parts.samples.start()
    this.#registration.start()
    this.#following = followChanges<ShardDoc | AbortDoc | SprintDoc>({
      couch,
      db: couch.names.dispatch(identity.region),
      since,
      signal: this.#stop.signal,
      ...(this.#parts.feedHeartbeatMs !== undefined && { heartbeatMs: this.#parts.feedHeartbeatMs }),
      onChange: (change) => this.#serialized(() => this.#handle(change)),
      onError: (err, wait) => log.warn({ err: err.message, retryInMs: wait }, 'dispatch feed interrupted'),
      onAlive,
    })
  }

  /** See `Engine.drain`. A second call can only bring the deadline closer. */
  drain(timeoutMs: number, reason: string): Promise<void> {
    if (this.#drain) {
      this.#drain.deadline.closer(timeoutMs, reason)
      return this.#drain.done
    }
    const deadline = new DrainDeadline(this.#parts.clock, timeoutMs, reason)
    const drain = { deadline, done: Promise.resolve() }
    this.#drain = drain
    drain.done = this.#drainUntil(deadline, reason)
    return drain.done
  }

  async #drainUntil(drain: DrainDeadline, reason: string): Promise<void> {
    const { log } = this.#parts
    this.#draining = true
    log.info({ reason, timeoutMs: drain.leftMs, shards: this.running }, 'draining')
    this.#parts.event({ type: 'draining', reason })
    // A claim in flight lands in #runs first; no claim comes after (draining).
    await this.#serial
    for (const step of planDrain(this.#held(), drain.deadline)) {
      const run = this.#runs.get(step.shard)
      if (!run) continue
      let action = step.action
      if (action === 'release') {
        if (run.release()) {
          this.#parts.event({ type: 'released', shard: run.id })
          continue
        }
        // Too late to hand back: it has just started, so the finish-or-stop rule applies.
        action = planDrain([{ id: run.id, phase: 'running', endsAt: run.endsAt }], drain.deadline)[0]!.action
      }
      if (action === 'stop') {
        this.#parts.event({ type: 'stopping', shard: run.id, reason: 'draining' })
        run.stop('engine stopping', `${reason}; cannot finish before the drain deadline`)
      }
    }
    // Said once each shard has its plan: whoever sees the engine draining (the controller, an
    // operator's second SIGTERM) sees the plan made, not a plan a later signal could overtake.
    this.#saysDraining = true
    await this.#saveEngine().catch((err) =>
      log.warn({ err: (err as Error).message }, 'could not mark the engine draining'),
    )
    await drain.wait(() =>
      this.#runs.size > 0 ? Promise.allSettled([...this.#runs.values()].map((run) => run.done)) : undefined,
    )
    for (const run of this.#runs.values()) {
      this.#parts.event({ type: 'stopping', shard: run.id, reason: 'drain deadline' })
      run.stop('engine stopping', `${drain.reason}; drain deadline reached`)
    }
    await Promise.allSettled([...this.#runs.values()].map((run) => run.done))
    this.#stop.abort()
    await this.#following
    await this.#serial
    await this.#sprints.idle()
    await this.#registration.stop()
    this.#claims.stop()
    await this.#parts.samples.stop()
    try {
      await this.#saveEngine('gone')
    } catch (err) {
      // CouchDB unreachable: the garbage collector retires the doc once heartbeats stop.
      log.warn({ err: (err as Error).message }, 'could not mark the engine gone')
    }
    log.info({ instanceId: this.#parts.identity.instanceId, reason }, 'engine gone')
    this.#parts.event({ type: 'gone' })
  }

  #held(): HeldShard[] {
    return [...this.#runs.values()].map((run) => ({ id: run.id, phase: run.phase, endsAt: run.endsAt }))
  }

  #serialized<T>(task: () => Promise<T>): Promise<T> {
    const next = this.#serial.then(task)
    this.#serial = next.catch((err) =>
      this.#parts.log.error({ err: (err as Error).message }, 'engine task failed'),
    )
    return next
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

  async #handle(change: Change<ShardDoc | AbortDoc | SprintDoc>): Promise<void> {
    const doc = change.doc
    if (doc && !change.deleted && !change.id.startsWith('_design/') && this.#wellFormed(doc)) {
      if (doc.type === 'abort') this.#handleAbort(doc)
      else if (doc.type === 'shard') await this.#handleShard(doc)
      else if (doc.type === 'sprint') this.#sprints.handle(doc)
    }
    // A claimable shard is claimed once the batch is handled (the claim scheduler). Should the
    // engine die first, its restart scans the queue anyway.
    this.#registration.advance(change.seq)
  }

  /**
   * Tries the candidates in this engine's order, deciding again before each (a claim just
   * made defers the rest of its rush). Every claim after the first re-reads the shard first:
   * another engine has likely taken it meanwhile, and a read is cheaper than a losing write.
   */
  async #claimCandidates(): Promise<void> {
    const batch = claimOrder(this.#parts.identity.instanceId, this.#claims.take())
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
      if (decision.kind === 'defer') this.#claims.deferUntil(decision.until)
      if (decision.kind !== 'claim') continue
      tried++
      await this.#claim(shard)
    }
  }

  /** The shard as it stands (the conflict rule applied, and written back when needed). */
  async #current(id: string, seen?: ShardDoc): Promise<ShardDoc | undefined> {
    const read = await readShard(this.#dispatch, id, seen && !seen._conflicts ? seen : undefined)
    if (!read || !this.#wellFormed(read.doc)) return undefined
    if (read.conflict) {
      this.#parts.stats.count()
      await settleShard(this.#dispatch, read)
    }
    return read.doc
  }

  /**
   * Whether a document of the dispatch feed can be acted on. `validate_doc_update` cannot stop
   * a malformed one that arrives by replication (or a server without it): it is logged with
   * its id and the reason, and skipped — acting on it would throw, and a change that throws is
   * replayed by the feed for ever, so one bad document would stop the engine serving any shard.
   */
  #wellFormed(doc: ShardDoc | AbortDoc | SprintDoc): boolean {
    const problem = docProblem(doc)
    if (problem === null) return true
    const id = String((doc as { _id?: unknown })._id)
    if (!this.#skipped.has(id)) {
      this.#skipped.add(id)
      this.#parts.log.warn({ doc: id, reason: problem }, 'skipping a malformed document')
    }
    this.#parts.event({ type: 'skipped', doc: id, reason: problem })
    return false
  }

  #decide(shard: ShardDoc) {
    const held = new Map<string, number>()
    for (const run of this.#runs.values()) {
      const since = run.shard.claimedAt ?? 0
      const known = held.get(run.shard.rush)
      if (known === undefined || since < known) held.set(run.shard.rush, since)
    }
    const view: EngineView = {
      instanceId: this.#parts.identity.instanceId,
      region: this.#parts.identity.region,
      running: new Set(this.#runs.keys()),
      held,
      free: this.#parts.capacity - this.#inUse(),
      aborted: this.#parts.aborts.rushes,
      draining: this.#draining,
      now: this.#parts.clock.now(),
    }
    return decideShard(shard, view)
  }

  #handleAbort(abort: AbortDoc): void {
    this.#parts.aborts.add(abort.rush)
    for (const run of this.#runs.values()) {
      if (run.shard.rush === abort.rush) {
        this.#parts.event({ type: 'stopping', shard: run.id, reason: 'aborted' })
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
      this.#claims.candidate(shard)
      return
    }
    // Claimed by another engine (or aborted) since it became a candidate.
    this.#claims.forget(shard._id)
    if (decision.kind === 'stop') {
      this.#parts.event({ type: 'stopping', shard: shard._id, reason: decision.reason })
      this.#runs.get(shard._id)?.stop(decision.reason === 'aborted' ? 'aborted' : 'claim lost')
    } else if (decision.kind === 'defer') {
      this.#claims.deferUntil(decision.until)
    }
  }

  /**
   * Claims with the shard's `_rev`: a conflict means another engine won; move on. A shard
   * starting within the run's head start is claimed directly as `running` (`claimState`).
   */
  async #claim(shard: ShardDoc): Promise<void> {
    const { identity, clock, log, leaseMs, workers } = this.#parts
    const { instanceId } = identity
    const now = clock.now()
    const headStart = this.#headStart(shard)
    const state = claimState(shard.startAt, now, headStart)
    const claimed = claim(shard, instanceId, now, leaseMs, state)
    this.#parts.stats.count()
    const rev = await tryWrite(this.#dispatch, claimed)
    if (!rev) {
      log.debug({ shard: shard._id }, 'claim lost to another engine')
      this.#parts.event({ type: 'claim-lost', shard: shard._id })
      return
    }
    log.info({ shard: shard._id, startInMs: shard.startAt - now, state }, 'shard claimed')
    this.#parts.event({ type: 'claimed', shard: shard._id })
    const run = new ShardRun(
      {
        db: this.#dispatch,
        instanceId,
        clock,
        policy: this.#parts.policy,
        workers,
        ...(this.#parts.pool && { pool: this.#parts.pool }),
        headStartMs: headStart,
        leaseMs,
        samples: this.#parts.samples,
        log,
        wrote: () => this.#parts.stats.count(),
      },
      { ...claimed, _rev: rev },
    )
    this.#runs.set(shard._id, run)
    void run.done
      .catch((err) => log.error({ shard: shard._id, err: (err as Error).message }, 'shard run failed'))
      .finally(() => {
        this.#runs.delete(shard._id)
        this.#parts.event({ type: 'finished', shard: shard._id, state: run.shard.state })
        // Room again: look for queued work the feed went past while this engine was full.
        if (!this.#draining) void this.#serialized(() => this.#scanQueued())
      })
  }

  /**
   * The shard's head start: the short one when the pool can give it every load process it
   * will use (a shard bigger than the pool forks the rest, which takes a fork's time).
   */
  #headStart(shard: ShardDoc): number {
    const { workers, pool } = this.#parts
    if (!pool) return headStartMs(workers)
    let needed: number
    try {
      needed = planWorkers({
        requested: workers,
        peakConnections: peakConnections(shard),
        cores: defaultCores(),
        fdLimit: openFileLimit(),
      })
    } catch {
      return headStartMs(workers) // too few processes asked: the run says so
    }
    return headStartMs(workers, needed <= pool.counts.size)
  }

  #inUse(): number {
    let total = 0
    for (const run of this.#runs.values()) total += run.shard.connections
    return total
  }

  #saveEngine(state?: EngineState): Promise<void> {
    return this.#registration.save(state)
  }
}
