import { dueWait } from './due-wait.js'

/** What a DueTimer wakes: an open model's run. */
export interface DueTarget {
  /** The due time came (or nearly: the target checks): send what is due, then `arm` again. */
  due(): void
  /** Whether a turn may sleep: not while something waits for I/O that the sleep would delay. */
  maySleep(): boolean
}

/** What Atomics.wait sleeps on (nothing ever notifies it: only its timeout ends a sleep). */
const sleeper = new Int32Array(new SharedArrayBuffer(4))

/**
 * Wakes an open model at its next due time as load/due-wait.ts decides: a timer while the
 * time is far off, turns of the event loop (each sleeping at most 0.1 ms) once it is close.
 * It also measures how late the event loop comes back to the schedule (`loopLag`), which
 * tells a busy process from a slow target (load/connection-growth.ts).
 *
 * The target is an object whose methods it calls, not a closure: a process runs many
 * models, one after another, and optimized code that calls a closure assumes it is the one
 * it saw — each new run's closures deoptimized the callers at every start (`--trace-deopt`:
 * "wrong call target"). Methods of a class are the same functions in every run.
 */
export class DueTimer {
  /**
   * How late the event loop last came back (ms): the wait of a queued turn, or a timer's
   * lateness past Node's usual 1 ms.
   */
  loopLag = 0
  readonly #target: DueTarget
  #dueAt = Number.POSITIVE_INFINITY
  #timer: NodeJS.Timeout | undefined
  /** When the armed timer fires. */
  #timerAt = Number.POSITIVE_INFINITY
  /** A turn of the event loop is queued. */
  #polling = false
  #pollQueuedAt = 0
  #stopped = false
  readonly #poll = () => this.poll()
  readonly #wake = () => this.wake()

  constructor(target: DueTarget) {
    this.#target = target
  }

  /** Waits for `dueAt` (`performance.now()` time); `now` is the time now. */
  arm(dueAt: number, now: number): void {
    this.#dueAt = dueAt
    const wait = dueWait(dueAt - now)
    if (wait.kind === 'poll') {
      if (!this.#polling) {
        this.#polling = true
        this.#pollQueuedAt = now
        setImmediate(this.#poll)
      }
      return
    }
    // An earlier timer already armed will do: it re-arms.
    const at = now + wait.ms
    if (this.#timer !== undefined && this.#timerAt <= at) return
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timerAt = at
    this.#timer = setTimeout(this.#wake, wait.ms)
  }

  poll(): void {
    this.#polling = false
    if (this.#stopped) return
    let now = performance.now()
    this.loopLag = now - this.#pollQueuedAt
    const wait = dueWait(this.#dueAt - now)
    if (wait.kind === 'poll' && wait.sleepMs > 0 && this.#target.maySleep()) {
      Atomics.wait(sleeper, 0, 0, wait.sleepMs)
      now = performance.now()
    }
    if (now >= this.#dueAt) this.#target.due()
    else this.arm(this.#dueAt, now)
  }

  wake(): void {
    this.loopLag = Math.max(0, performance.now() - this.#timerAt - 1)
    this.#timer = undefined
    this.#timerAt = Number.POSITIVE_INFINITY
    if (!this.#stopped) this.#target.due()
  }

  /** No more wake-ups. */
  stop(): void {
    this.#stopped = true
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
  }
}
