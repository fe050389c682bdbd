import type Nano from 'nano'
import { type Scheduler, sleepOn } from '../lib/clock.js'
import { tryWrite } from '../lib/couch/client.js'
import { readDataRows } from '../lib/couch/data.js'
import { retryTransient } from '../lib/couch/retry.js'
import { readShard } from '../lib/couch/shards.js'
import type { ShardDoc, ShardState } from '../lib/documents.js'
import { encodeHistogram } from '../lib/histogram.js'
import { patternDuration } from '../lib/pattern.js'
import { requeue } from '../lib/shard-state.js'
import { totalErrors } from '../lib/timeline.js'
import type { TransactionSpec } from '../lib/transaction/spec.js'
import { restoreTransaction } from '../lib/transaction/stored.js'
import type { LoadJob } from '../load/job.js'
import type { WorkerPool } from '../load/pool.js'
import { type LoadResult, runLoad } from '../load/run.js'
import type { AddressPolicy } from '../load/safety.js'
import { headStartMs } from './decide.js'
import type { Logger } from './log.js'
import type { SampleWriter } from './samples.js'

export interface ShardRunContext {
  db: Nano.DocumentScope<unknown>
  instanceId: string
  clock: Scheduler
  policy: AddressPolicy
  workers: number | 'auto'
  /** The engine's load processes kept ready: taken instead of forked (`runLoad`'s `pool`). */
  pool?: WorkerPool
  /** How long before the start to prepare (default `headStartMs` of `workers` and `pool`). */
  headStartMs?: number
  leaseMs: number
  samples: SampleWriter
  log: Logger
  /** Counts a write to the dispatch database. */
  wrote: () => void
  /** Runs the load (default `runLoad`; unit tests give a fake that reports seconds on their clock). */
  load?: typeof runLoad
  /** Back-off of a shard write that failed transiently (tests shorten it). */
  retry?: { attempts: number; baseMs: number }
}

/** Why a run ended early: an abort wins; otherwise the shard is lost to this engine. */
export type StopReason = 'aborted' | 'engine stopping' | 'claim lost'

/**
 * Where a run is: `waiting` for the rush's start (nothing sent yet: it can still be handed
 * back), `starting` (writing `running`), `running` (load is going out), `finished`.
 */
export type RunPhase = 'waiting' | 'starting' | 'running' | 'finished'

/**
 * One claimed shard at work: waits for the rush's common start, runs the load on the
 * rush's clock, renews its lease with progress, and writes the outcome with the final
 * histogram once its samples are written.
 */
export class ShardRun {
  readonly shard: ShardDoc
  readonly done: Promise<void>
  readonly #context: ShardRunContext
  readonly #controller = new AbortController()
  #rev: string
  #stopReason: StopReason | undefined
  #stopDetail: string | undefined
  #released = false
  #phase: RunPhase = 'waiting'
  #progress = -1
  /** Whole seconds after the rush's second 0 at which this shard's pattern began (its load was ready late). */
  #startShift = 0

  /**
   * `claimed` is the shard as the claim wrote it: `claimed`, or already `running` when the
   * claim came within the head start (`claimState`): then the run does not write `running`
   * again, and it cannot be handed back (load may go out at once).
   */
  constructor(context: ShardRunContext, claimed: ShardDoc) {
    this.#context = context
    this.shard = claimed
    this.#rev = claimed._rev!
    if (claimed.state === 'running') this.#phase = 'starting'
    this.done = this.#run()
  }

  get id(): string {
    return this.shard._id
  }

  get phase(): RunPhase {
    return this.#phase
  }

  /** Epoch ms at which the shard's pattern ends (later when its start was shifted). */
  get endsAt(): number {
    return this.shard.startAt + (this.#startShift + patternDuration(this.shard.pattern)) * 1000
  }

  /** Stops the run; `detail` goes into the shard's `reason` after the stop reason. */
  stop(reason: StopReason, detail?: string): void {
    if (this.#controller.signal.aborted) return
    this.#stopReason = reason
    this.#stopDetail = detail
    this.#controller.abort()
  }

  /**
   * Hands the shard back to the queue if it has not started (nothing was sent, so another
   * engine may run it in full). False when it is too late: the run has started or ended.
   */
  release(): boolean {
    if (this.#phase !== 'waiting' || this.#controller.signal.aborted) return false
    this.#released = true
    this.#controller.abort()
    return true
  }

  async #run(): Promise<void> {
    const { log } = this.#context
    const signal = this.#controller.signal
    const shard = this.shard
    // Getting the load ready takes a moment (forking load processes, more without a pool):
    // start preparing ahead of second 0; runLoad holds the load until startAt.
    const claimedRunning = this.#phase === 'starting'
    // A transaction's data rows are read while waiting for the start (they may be megabytes).
    const transaction = this.#transaction(signal)
    transaction.catch(() => {})
    await sleepOn(
      this.#context.clock,
      shard.startAt -
        (this.#context.headStartMs ?? headStartMs(this.#context.workers, this.#context.pool !== undefined)) -
        this.#context.clock.now(),
      signal,
    )
    /** When preparing began: how long getting the load ready takes is logged (`headStartMs`). */
    const wokeAt = this.#context.clock.now()
    if (this.#released) {
      await this.#handBack()
      this.#phase = 'finished'
      return
    }
    let result: LoadResult | undefined
    let failure: Error | undefined
    let spec: TransactionSpec | undefined
    try {
      spec = await transaction
    } catch (err) {
      // Nothing was sent: the shard fails with the reason (its rows never came, or were wrong).
      if (!signal.aborted) {
        failure = err as Error
        log.warn({ shard: shard._id, err: failure.message }, 'no data rows for the transaction')
      }
    }
    if (!signal.aborted && !failure) this.#phase = 'starting'
    let running = false
    if (!signal.aborted && !failure) {
      try {
        running = claimedRunning || (await this.#write('running', { startedAt: this.#context.clock.now() }))
      } catch (err) {
        // Transient failures were retried (#put): CouchDB stayed unreachable. Nothing was sent.
        failure = err as Error
        log.warn({ shard: shard._id, err: failure.message }, 'could not mark the shard running')
      }
    }
    if (running) {
      this.#phase = 'running'
      log.info(
        { shard: shard._id, lateMs: Math.max(0, this.#context.clock.now() - shard.startAt) },
        'shard running',
      )
      const renewal = this.#context.clock.every(renewEveryMs(this.#context.leaseMs), () => void this.#renew())
      try {
        result = await (this.#context.load ?? runLoad)(this.#job(spec), {
          workers: this.#context.workers,
          ...(this.#context.pool && { pool: this.#context.pool }),
          signal,
          // The rush's clock is absolute: every engine starts second 0 at the same instant.
          // One whose load is ready a little late joins in progress; later than that, it runs
          // its whole pattern from a later whole second (its seconds still line up with the
          // others'), and says so in the shard (load/run.ts `lateStart`).
          startAtEpoch: shard.startAt,
          onStart: ({ startShift, join, lateMs }) => {
            this.#startShift = startShift
            const now = this.#context.clock.now()
            log.info(
              { shard: shard._id, readyMs: now - wokeAt, aheadMs: shard.startAt - now, startShift },
              'load ready',
            )
            if (join && lateMs > 0)
              log.info(
                { shard: shard._id, lateMs: Math.round(lateMs) },
                'load ready after the rush started: it joins in progress (what was due before is dropped)',
              )
            if (startShift > 0)
              log.warn(
                {
                  shard: shard._id,
                  startShift,
                  lateMs: Math.round(this.#context.clock.now() - shard.startAt),
                },
                'load ready after the rush started: the pattern starts at a later second',
              )
          },
          onSecond: (point, histogram, parts) => {
            this.#progress = point.t
            this.#context.samples.add({
              rush: shard.rush,
              shard: shard._id,
              point,
              histogram: encodeHistogram(histogram),
              ...(parts && { parts: parts.map(encodeHistogram) }),
            })
          },
        })
      } catch (err) {
        failure = err as Error
        log.warn({ shard: shard._id, err: failure.message }, 'shard failed')
      } finally {
        renewal.cancel()
      }
    }
    // Samples first: a reader that sees the shard finished may count on its seconds.
    await this.#context.samples.flushed()
    const state: ShardState = failure
      ? 'failed'
      : this.#stopReason === 'aborted'
        ? 'aborted'
        : this.#stopReason
          ? 'lost'
          : 'done'
    const final: Partial<ShardDoc> = { finishedAt: this.#context.clock.now() }
    if (this.#startShift > 0) final.startShift = this.#startShift
    if (failure) final.reason = failure.message
    else if (this.#stopReason)
      final.reason = this.#stopDetail ? `${this.#stopReason}: ${this.#stopDetail}` : this.#stopReason
    if (result) {
      final.histogram = encodeHistogram(result.histogram)
      let errors = 0
      let exhausted = 0
      for (const point of result.timeline) {
        errors += totalErrors(point.errors) + point.timeouts
        exhausted += point.exhausted ?? 0
      }
      final.totals = {
        sent: result.summary.sent,
        hits: result.summary.hits,
        errors,
        seconds: result.timeline.length,
      }
      if (exhausted > 0) final.totals.exhausted = exhausted
    }
    await this.#write(state, final)
    this.#phase = 'finished'
    log.info({ shard: shard._id, state, hits: final.totals?.hits }, 'shard finished')
  }

  /**
   * Back to `queued` without engine or lease, on top of the latest revision. An abort or
   * another holder that got there first is left as it is.
   */
  async #handBack(): Promise<void> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const base = attempt === 0 ? { ...this.shard, _rev: this.#rev } : await this.#reread()
      if (base?.state !== 'claimed' || base.engine !== this.#context.instanceId) return
      if (await this.#put(requeue(base))) {
        this.#context.log.info({ shard: base._id }, 'shard handed back to the queue')
        return
      }
    }
    this.#context.log.warn({ shard: this.shard._id }, 'handing the shard back kept conflicting')
  }

  #job(transaction: TransactionSpec | undefined): LoadJob {
    const { model, request, pattern, share, maxInFlight, pipelining } = this.shard
    const job: LoadJob = { model, request, pattern, share, policy: this.#context.policy }
    if (maxInFlight !== undefined) job.maxInFlight = maxInFlight
    if (pipelining !== undefined) job.pipelining = pipelining
    // The shard's share nests into its load processes' (load/run.ts): `unique` rows stay
    // exact across regions, engines and processes (lib/transaction/rows.ts).
    if (transaction) job.transaction = transaction
    return job
  }

  /**
   * The shard's transaction with its data rows, read from this region's `data:<rush>`: polled
   * until it arrives, at most `DATA_WAIT_MS` past the rush's start (or past now, for a shard
   * claimed late: it gets the same wait).
   */
  async #transaction(signal: AbortSignal): Promise<TransactionSpec | undefined> {
    const stored = this.shard.transaction
    if (!stored) return undefined
    if (!stored.data) return restoreTransaction(stored)
    const { clock, db, retry } = this.#context
    const deadline = Math.max(this.shard.startAt, clock.now()) + DATA_WAIT_MS
    for (;;) {
      const rows = await retryTransient(() => readDataRows(db, this.shard.rush), retry)
      if (rows) return restoreTransaction(stored, rows)
      if (signal.aborted) return undefined
      if (clock.now() > deadline)
        throw new Error(
          `the data rows of rush ${this.shard.rush} (data:${this.shard.rush}) did not reach this region`,
        )
      await sleepOn(clock, 250, signal)
    }
  }

  async #renew(): Promise<void> {
    if (this.#controller.signal.aborted) return
    try {
      await this.#write('running', {})
    } catch (err) {
      // Retried already; the next renewal (a third of the lease later) tries again.
      this.#context.log.warn({ shard: this.shard._id, err: (err as Error).message }, 'lease renewal failed')
    }
  }

  /**
   * Writes this engine's view of the shard on top of the latest revision. On a conflict it
   * reads again: an abort (or the shard held by someone else) stops the run and is kept —
   * the final write then only adds the histogram to an aborted shard. False: not written.
   */
  async #write(state: ShardState, fields: Partial<ShardDoc>): Promise<boolean> {
    const { instanceId, leaseMs, log } = this.#context
    for (let attempt = 0; attempt < 5; attempt++) {
      const base = attempt === 0 ? { ...this.shard, _rev: this.#rev } : await this.#reread()
      if (!base) return false
      const final = state !== 'running'
      if (base.state === 'aborted' || (base.engine !== undefined && base.engine !== instanceId)) {
        this.stop(base.state === 'aborted' ? 'aborted' : 'claim lost')
        if (!final || base.state !== 'aborted') return false
        // Keep the abort; record what ran.
        const rev = await this.#put({ ...base, ...fields, state: 'aborted' })
        if (rev) return true
        continue
      }
      const next: ShardDoc = { ...base, ...fields, state, engine: instanceId }
      if (state === 'running') {
        next.leaseUntil = this.#context.clock.now() + leaseMs
        if (this.#progress >= 0) next.progress = this.#progress
        if (this.#startShift > 0) next.startShift = this.#startShift
      } else {
        delete next.leaseUntil
      }
      const rev = await this.#put(next)
      if (rev) return true
    }
    log.warn({ shard: this.shard._id, state }, 'shard write kept conflicting')
    return false
  }

  /**
   * One write with the known `_rev`. A transient failure (a closed keep-alive socket, a
   * reset, 5xx) is repeated with back-off; a 409 is not (undefined: the caller re-reads).
   * A write that landed although its answer was lost comes back 409 on the retry: the
   * caller re-reads, finds its own state and writes it once more.
   */
  async #put(doc: ShardDoc): Promise<string | undefined> {
    const { log, retry } = this.#context
    const rev = await retryTransient(
      () => {
        this.#context.wrote()
        return tryWrite(this.#context.db, doc)
      },
      {
        ...(retry && { attempts: retry.attempts, baseMs: retry.baseMs }),
        onRetry: (err, attempt, waitMs) =>
          log.warn(
            { shard: doc._id, state: doc.state, attempt, retryInMs: waitMs, err: (err as Error).message },
            'shard write failed; retrying',
          ),
      },
    )
    if (rev) {
      this.#rev = rev
      Object.assign(this.shard, doc, { _rev: rev })
    }
    return rev
  }

  async #reread(): Promise<ShardDoc | undefined> {
    const read = await retryTransient(() => readShard(this.#context.db, this.shard._id), this.#context.retry)
    if (read) this.#rev = read.doc._rev!
    return read?.doc
  }
}

/**
 * How long past the rush's start an engine waits for a transaction's `data:<rush>` to reach
 * its region (replication may deliver the shard first) before the shard fails.
 */
export const DATA_WAIT_MS = 30_000

/** A running shard renews its lease every third of it (at most ten times a second): two renewals may fail before it expires. */
export function renewEveryMs(leaseMs: number): number {
  return Math.max(100, leaseMs / 3)
}
