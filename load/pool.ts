import type { ChildProcess } from 'node:child_process'
import { type Scheduler, systemClock, type Timer } from '../lib/clock.js'
import {
  forksToMake,
  keepReturned,
  type PoolCounts,
  planTake,
  respawnDelayMs,
  YOUNG_DEATH_WINDOW_MS,
} from './pool-plan.js'
import type { FromWorker, ToWorker } from './protocol.js'
import { forkWorker } from './run.js'
import type { WarmUpReport } from './warm-up.js'

export type PoolEvent =
  | { type: 'forked'; pid: number | undefined }
  /** Loaded (its modules imported): a run can have it without waiting. */
  | { type: 'warm'; pid: number }
  /** Its warm-up ended (`load/warm-up.ts`): it ran `rounds` rounds, or a job stopped it. */
  | ({ type: 'warmed'; pid: number; failed?: string } & WarmUpReport)
  /** Handed to a run: `cold` of them forked for it because too few were idle. */
  | { type: 'lent'; pids: number[]; cold: number }
  | { type: 'returned'; pid: number; kept: boolean }
  | { type: 'died'; pid: number; state: WorkerState; reason: string }
  | { type: 'closed' }

export type WorkerState = 'warming' | 'idle' | 'lent'

export interface PoolOptions {
  /** Processes kept ready (what `--workers auto` would use for a shard: one per core). */
  size: number
  /** Forks a load process (default `forkWorker`; tests give one that counts). */
  fork?: () => ChildProcess
  clock?: Scheduler
  onEvent?: (event: PoolEvent) => void
  /**
   * Each process, once loaded, runs the load path against a server of its own until it is
   * lent or the rounds end (`load/warm-up.ts`), so that its first shard starts on optimized
   * code (default true).
   */
  warmUp?: boolean
  /** After asking processes to leave (`close`), how long before they are killed. */
  closeGraceMs?: number
}

/**
 * Load processes kept loaded and idle, so that a shard's start does not wait for a fork
 * (0.5–5 s to ready on a busy 2-core machine). A run takes processes (`take`) and sends each
 * its job by message, as it would a fresh one; it hands them back (`give`) once they have
 * reported `done`, and the pool keeps them for the next run. A process that dies, in
 * whichever state, is replaced (with a back-off when they die before loading); `close`
 * disconnects and waits for every process it holds — an idle process exits when its channel
 * closes, and so does every one if this process dies (`worker-main.ts`): none is orphaned.
 * The decisions are `pool-plan.ts`'s.
 */
export class WorkerPool {
  readonly #options: PoolOptions
  readonly #clock: Scheduler
  readonly #fork: () => ChildProcess
  readonly #state = new Map<ChildProcess, WorkerState>()
  readonly #exited = new Map<ChildProcess, Promise<void>>()
  readonly #youngDeaths: number[] = []
  #closing = false
  #respawn: Timer | undefined
  #waiters: Array<() => void> = []

  constructor(options: PoolOptions) {
    this.#options = options
    this.#clock = options.clock ?? systemClock
    this.#fork = options.fork ?? forkWorker
  }

  /** Forks the pool's processes; `ready()` says when they are loaded. */
  start(): void {
    this.#fill()
  }

  get counts(): PoolCounts {
    const counts = { size: this.#options.size, idle: 0, warming: 0, lent: 0, closing: this.#closing }
    for (const state of this.#state.values()) counts[state]++
    return counts
  }

  /** Process ids of every process the pool holds (idle, warming, lent). */
  get pids(): number[] {
    return [...this.#state.keys()].flatMap((child) => (child.pid === undefined ? [] : [child.pid]))
  }

  /** Process ids of the idle ones. */
  get idlePids(): number[] {
    return [...this.#state].flatMap(([child, state]) =>
      state === 'idle' && child.pid !== undefined ? [child.pid] : [],
    )
  }

  /** Resolves when `size` processes are idle (or the pool is closing). */
  ready(): Promise<void> {
    if (this.#full()) return Promise.resolve()
    return new Promise((resolve) => this.#waiters.push(resolve))
  }

  /**
   * `count` processes for a run: the idle ones first, the rest forked now (`planTake`).
   * They are the run's until it hands each back with `give`.
   */
  take(count: number): ChildProcess[] {
    const idle = [...this.#state].filter(([, state]) => state === 'idle').map(([child]) => child)
    const { warm, cold } = planTake(count, this.#closing ? 0 : idle.length)
    const taken = idle.slice(0, warm)
    for (let i = 0; i < cold; i++) taken.push(this.#spawn())
    for (const child of taken) this.#state.set(child, 'lent')
    this.#event({ type: 'lent', pids: taken.map((child) => child.pid ?? -1), cold })
    return taken
  }

  /**
   * A run is done with `child`. `clean`: it reported `done` and is still connected, so it can
   * take another job; otherwise (or when the pool is full or closing) it is stopped, and the
   * pool forks a replacement if it needs one.
   */
  give(child: ChildProcess, clean: boolean): void {
    if (this.#state.get(child) !== 'lent') return
    const kept = keepReturned(this.counts, clean && child.connected)
    if (child.pid !== undefined) this.#event({ type: 'returned', pid: child.pid, kept })
    if (kept) {
      this.#state.set(child, 'idle')
      this.#wake()
      return
    }
    this.#state.delete(child)
    this.#retire(child)
    this.#fill()
  }

  /**
   * Stops forking, asks every process to leave (closing its channel: an idle worker exits at
   * once, one still running stops its load first) and resolves once all have exited; those
   * still there after `closeGraceMs` (default 2 s) are killed.
   */
  async close(): Promise<void> {
    this.#closing = true
    this.#respawn?.cancel()
    this.#wake()
    const exits = [...this.#exited.values()]
    for (const child of [...this.#state.keys()]) this.#retire(child)
    this.#state.clear()
    await Promise.all(exits)
    this.#event({ type: 'closed' })
  }

  #full(): boolean {
    return this.#closing || this.counts.idle >= this.#options.size
  }

  #wake(): void {
    if (!this.#full()) return
    const waiters = this.#waiters
    this.#waiters = []
    for (const wake of waiters) wake()
  }

  #fill(): void {
    if (this.#respawn) return
    const delay = respawnDelayMs(this.#youngDeaths, this.#clock.now())
    if (delay > 0) {
      this.#respawn = this.#clock.after(
        delay,
        () => {
          this.#respawn = undefined
          this.#fill()
        },
        { keepAlive: false },
      )
      return
    }
    for (let n = forksToMake(this.counts); n > 0; n--) this.#state.set(this.#spawn(), 'warming')
  }

  /** Forks one process and follows it for its whole life, whoever holds it. */
  #spawn(): ChildProcess {
    const child = this.#fork()
    this.#event({ type: 'forked', pid: child.pid })
    child.on('message', (message: FromWorker) => {
      if (message.type === 'warmed') {
        const { type, ...report } = message
        if (child.pid !== undefined) this.#event({ type, pid: child.pid, ...report })
        return
      }
      if (message.type !== 'warm' || this.#state.get(child) !== 'warming') return
      this.#state.set(child, 'idle')
      if (child.pid !== undefined) this.#event({ type: 'warm', pid: child.pid })
      if (this.#options.warmUp !== false && child.connected)
        child.send({ type: 'warm-up' } satisfies ToWorker)
      this.#wake()
    })
    // A failed fork ('error' with no pid) is followed by no 'exit' on every Node version.
    let gone: () => void
    const exited = new Promise<void>((resolve) => {
      gone = resolve
    })
    this.#exited.set(child, exited)
    const died = (reason: string) => {
      if (!this.#exited.has(child)) return
      this.#exited.delete(child)
      gone()
      const state = this.#state.get(child)
      if (state === undefined) return // retired: meant to go
      this.#state.delete(child)
      if (state === 'warming') {
        const now = this.#clock.now()
        this.#youngDeaths.push(now)
        while (this.#youngDeaths.length > 0 && now - this.#youngDeaths[0]! >= YOUNG_DEATH_WINDOW_MS)
          this.#youngDeaths.shift()
      }
      this.#event({ type: 'died', pid: child.pid ?? -1, state, reason })
      this.#fill()
    }
    child.on('exit', (code, signal) => died(signal ?? `code ${code}`))
    child.on('error', (err) => {
      if (child.pid === undefined) died(err.message)
    })
    return child
  }

  /** Closes the channel (the worker leaves on its own); kills it if it lingers. */
  #retire(child: ChildProcess): void {
    const exited = this.#exited.get(child)
    if (!exited) return
    if (child.connected) child.disconnect()
    else if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    const timer = this.#clock.after(
      this.#options.closeGraceMs ?? 2000,
      () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
      },
      { keepAlive: false },
    )
    void exited.then(() => timer.cancel())
  }

  #event(event: PoolEvent): void {
    this.#options.onEvent?.(event)
  }
}
