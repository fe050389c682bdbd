/**
 * Time, injected. Every part that reads the time or waits (the engine's parts, the controller,
 * the fake cloud, the emulators) takes a `Clock` or a `Scheduler`, so its tests move time with
 * `ManualClock.advance()` instead of sleeping — a test that sleeps passes or fails with the
 * machine's load. Times are epoch milliseconds: they are compared with times in documents
 * written by other processes and machines.
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number
}

export interface Timer {
  cancel(): void
}

export interface TimerOptions {
  /** False: the timer does not keep the process alive on its own (Node's `unref`). */
  keepAlive?: boolean
}

/** A clock that can also call back later: what a long-running part needs. */
export interface Scheduler extends Clock {
  /** Calls `fn` once, `ms` from now; `ms <= 0`: as soon as the current work is done. */
  after(ms: number, fn: () => void, options?: TimerOptions): Timer
  /** Calls `fn` every `ms`, the first time `ms` from now. */
  every(ms: number, fn: () => void, options?: TimerOptions): Timer
}

/** The machine's clock and Node's timers. */
export const systemClock: Scheduler = {
  now: () => Date.now(),
  after(ms, fn, options) {
    if (ms <= 0) {
      const immediate = setImmediate(fn)
      if (options?.keepAlive === false) immediate.unref()
      return { cancel: () => clearImmediate(immediate) }
    }
    const timer = setTimeout(fn, ms)
    if (options?.keepAlive === false) timer.unref()
    return { cancel: () => clearTimeout(timer) }
  },
  every(ms, fn, options) {
    const timer = setInterval(fn, ms)
    if (options?.keepAlive === false) timer.unref()
    return { cancel: () => clearInterval(timer) }
  },
}

/** Waits `ms` on `clock` (a time already past waits not at all), or until `signal` aborts. */
export function sleepOn(clock: Scheduler, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve()
    const timer = clock.after(Math.max(0, ms), done)
    function done() {
      timer.cancel()
      signal?.removeEventListener('abort', done)
      resolve()
    }
    signal?.addEventListener('abort', done, { once: true })
  })
}

interface Pending {
  at: number
  seq: number
  fn: () => void
  every: number | undefined
  cancelled: boolean
}

/**
 * A clock that only moves when told to. Timers fire in time order (ties in the order they
 * were set) while `advance` moves past them, each with the clock showing its own time.
 */
export class ManualClock implements Scheduler {
  #now: number
  #seq = 0
  #pending: Pending[] = []

  constructor(start = Date.UTC(2026, 0, 1)) {
    this.#now = start
  }

  now(): number {
    return this.#now
  }

  after(ms: number, fn: () => void): Timer {
    return this.#add(Math.max(0, ms), fn, undefined)
  }

  every(ms: number, fn: () => void): Timer {
    return this.#add(Math.max(1, ms), fn, Math.max(1, ms))
  }

  /** Timers set and not yet fired or cancelled. */
  get pending(): number {
    return this.#pending.filter((timer) => !timer.cancelled).length
  }

  /** When the next timer fires, or undefined. */
  get nextAt(): number | undefined {
    return this.#next(Number.POSITIVE_INFINITY)?.at
  }

  /** Moves `ms` forward, firing every timer due on the way (synchronously). */
  advance(ms: number): void {
    const target = this.#now + ms
    for (let timer = this.#next(target); timer; timer = this.#next(target)) this.#fire(timer)
    this.#now = Math.max(this.#now, target)
  }

  /**
   * Moves `ms` forward like `advance`, letting promise callbacks and immediates run after each
   * timer (so work a timer starts — a write, a claim — completes before the next one fires).
   */
  async advanceAsync(ms: number): Promise<void> {
    const target = this.#now + ms
    await settle()
    for (let timer = this.#next(target); timer; timer = this.#next(target)) {
      this.#fire(timer)
      await settle()
    }
    this.#now = Math.max(this.#now, target)
    await settle()
  }

  set(epochMs: number): void {
    this.#now = epochMs
  }

  #add(ms: number, fn: () => void, every: number | undefined): Timer {
    const timer: Pending = { at: this.#now + ms, seq: this.#seq++, fn, every, cancelled: false }
    this.#pending.push(timer)
    return {
      cancel: () => {
        timer.cancelled = true
      },
    }
  }

  #next(until: number): Pending | undefined {
    this.#pending = this.#pending.filter((timer) => !timer.cancelled)
    let next: Pending | undefined
    for (const timer of this.#pending) {
      if (timer.at > until) continue
      if (!next || timer.at < next.at || (timer.at === next.at && timer.seq < next.seq)) next = timer
    }
    return next
  }

  #fire(timer: Pending): void {
    this.#now = Math.max(this.#now, timer.at)
    if (timer.every === undefined) timer.cancelled = true
    else {
      timer.at += timer.every
      timer.seq = this.#seq++
    }
    timer.fn()
  }
}

/** Lets pending promise callbacks and immediates run. */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}
