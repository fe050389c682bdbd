import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { monitorEventLoopDelay } from 'node:perf_hooks'

/**
 * The engine's sd_notify client: tells systemd that it is ready, what it is doing, that it
 * is alive (the watchdog) and that it is stopping.
 *
 * Node has no AF_UNIX datagram sockets, so the messages go through `systemd-notify`, spawned
 * once per message with its absolute path (no PATH needed). Since systemd 246 it does not
 * exit until the service manager has processed the message (`BARRIER=1`, sd_notify_barrier),
 * so systemd still sees the sender alive and can attribute it to the unit: the old race of
 * short-lived senders is gone. The sender is a child of the engine, not its main process, so
 * the unit needs `NotifyAccess=all`. Messages go out one at a time, in order.
 *
 * Off systemd (no `NOTIFY_SOCKET`), every call is a no-op.
 */
export interface SdNotifyOptions {
  /** Default: process.env. */
  env?: NodeJS.ProcessEnv
  /** The systemd-notify program; default STAMPEDE_SYSTEMD_NOTIFY, or the first of SYSTEMD_NOTIFY_PATHS that exists. */
  command?: string
  /** A message not confirmed within this is given up (systemd-notify is killed). Default 10 s. */
  timeoutMs?: number
  /** A message could not be delivered (logged by the caller; the engine goes on). */
  onError?: (err: Error) => void
}

export const SYSTEMD_NOTIFY_PATHS = [
  '/usr/bin/systemd-notify',
  '/bin/systemd-notify',
  '/usr/local/bin/systemd-notify',
]

export interface WatchdogOptions {
  /** Whether the engine is healthy (feed alive, …): `true`, or the reason it is not. */
  healthy: () => true | string
  /** Pings every this; default half of systemd's WatchdogSec (WATCHDOG_USEC / 2). */
  intervalMs?: number
  /** The event loop counts as stalled when it was blocked longer than this since the last ping. Default: the interval. */
  maxLoopDelayMs?: number
  /** A ping was skipped, and why (for a log line). */
  onSkip?: (reason: string) => void
}

export interface Watchdog {
  stop(): void
  readonly sent: number
  readonly skipped: number
}

/** Key/value fields → the sd_notify wire form: one `KEY=value` per argument, no newlines. */
export function notifyFields(fields: Record<string, string | number>): string[] {
  return Object.entries(fields).map(([key, value]) => {
    if (!/^[A-Z][A-Z0-9_]*$/.test(key)) throw new Error(`sd_notify: invalid field name "${key}"`)
    return `${key}=${String(value).replace(/[\r\n]+/g, ' ')}`
  })
}

export class SdNotify {
  readonly socket: string | undefined
  readonly #env: NodeJS.ProcessEnv
  readonly #command: string | undefined
  readonly #timeoutMs: number
  readonly #onError: (err: Error) => void
  #queue: Promise<unknown> = Promise.resolve()

  constructor(options: SdNotifyOptions = {}) {
    this.#env = options.env ?? process.env
    this.socket = this.#env.NOTIFY_SOCKET || undefined
    this.#command =
      options.command ??
      (this.#env.STAMPEDE_SYSTEMD_NOTIFY || SYSTEMD_NOTIFY_PATHS.find((path) => existsSync(path)))
    this.#timeoutMs = options.timeoutMs ?? 10_000
    this.#onError = options.onError ?? (() => {})
  }

  /** Whether systemd is listening (NOTIFY_SOCKET is set). */
  get enabled(): boolean {
    return this.socket !== undefined
  }

  /** `READY=1`: registered and following the feed. */
  ready(status?: string): Promise<boolean> {
    return this.send(status === undefined ? { READY: 1 } : { READY: 1, STATUS: status })
  }

  /** `STATUS=…`: one line shown by `systemctl status`. */
  status(text: string): Promise<boolean> {
    return this.send({ STATUS: text })
  }

  /** `STOPPING=1`: draining. */
  stopping(status?: string): Promise<boolean> {
    return this.send(status === undefined ? { STOPPING: 1 } : { STOPPING: 1, STATUS: status })
  }

  /** `WATCHDOG=1`: alive. Call only when healthy; `startWatchdog` does that on a timer. */
  watchdog(): Promise<boolean> {
    return this.send({ WATCHDOG: 1 })
  }

  /**
   * The watchdog interval systemd asked for (half of WatchdogSec), when it is meant for this
   * process; undefined when there is no watchdog.
   */
  watchdogIntervalMs(pid = process.pid): number | undefined {
    const usec = Number(this.#env.WATCHDOG_USEC)
    if (!this.enabled || !Number.isFinite(usec) || usec <= 0) return undefined
    const forPid = this.#env.WATCHDOG_PID
    if (forPid && Number(forPid) !== pid) return undefined
    return Math.max(1, Math.floor(usec / 2000))
  }

  /**
   * Pings the watchdog every interval while `healthy()` says so and the event loop was not
   * stalled; otherwise skips, and systemd restarts the engine after WatchdogSec. A blocked
   * event loop cannot ping at all, which is the point. Returns a no-op handle when there
   * is no watchdog.
   */
  startWatchdog(options: WatchdogOptions): Watchdog {
    const intervalMs = options.intervalMs ?? this.watchdogIntervalMs()
    const state = { sent: 0, skipped: 0 }
    if (intervalMs === undefined || !this.enabled) {
      return {
        stop() {},
        get sent() {
          return state.sent
        },
        get skipped() {
          return state.skipped
        },
      }
    }
    const maxDelayMs = options.maxLoopDelayMs ?? intervalMs
    const delay = monitorEventLoopDelay({ resolution: 20 })
    delay.enable()
    // Two measures of a stall: how late this timer fired (a block that spans a ping), and
    // the loop-delay histogram (a shorter block between two pings).
    let last = performance.now()
    const tick = () => {
      const now = performance.now()
      const stalledMs = Math.max(now - last - intervalMs, delay.max / 1e6)
      last = now
      delay.reset()
      const health = options.healthy()
      const reason =
        health !== true
          ? health
          : stalledMs > maxDelayMs
            ? `event loop stalled for ${Math.round(stalledMs)} ms`
            : undefined
      if (reason !== undefined) {
        state.skipped++
        options.onSkip?.(reason)
        return
      }
      state.sent++
      void this.watchdog()
    }
    const timer = setInterval(tick, intervalMs)
    timer.unref()
    return {
      stop() {
        clearInterval(timer)
        delay.disable()
      },
      get sent() {
        return state.sent
      },
      get skipped() {
        return state.skipped
      },
    }
  }

  /** Sends fields as one message, after those before it; resolves true once systemd has it. Never rejects. */
  send(fields: Record<string, string | number>): Promise<boolean> {
    if (!this.enabled) return Promise.resolve(false)
    let args: string[]
    try {
      args = notifyFields(fields)
    } catch (err) {
      this.#onError(err as Error)
      return Promise.resolve(false)
    }
    const next = this.#queue.then(() => this.#spawn(args))
    this.#queue = next
    return next
  }

  #spawn(args: string[]): Promise<boolean> {
    const command = this.#command
    if (!command) {
      this.#onError(
        new Error(
          `NOTIFY_SOCKET is set but systemd-notify was not found (looked in ${SYSTEMD_NOTIFY_PATHS.join(', ')}; set STAMPEDE_SYSTEMD_NOTIFY)`,
        ),
      )
      return Promise.resolve(false)
    }
    return new Promise((resolve) => {
      let stderr = ''
      const child = spawn(command, args, {
        env: { NOTIFY_SOCKET: this.socket },
        stdio: ['ignore', 'ignore', 'pipe'],
      })
      const timer = setTimeout(() => child.kill('SIGKILL'), this.#timeoutMs)
      child.stderr.on('data', (chunk) => (stderr += chunk))
      child.on('error', (err) => {
        clearTimeout(timer)
        this.#onError(new Error(`sd_notify ${args.join(' ')}: cannot run ${command}: ${err.message}`))
        resolve(false)
      })
      child.on('close', (code, signal) => {
        clearTimeout(timer)
        if (code === 0) return resolve(true)
        const why = signal ? `killed after ${this.#timeoutMs} ms` : `exit ${code}`
        this.#onError(
          new Error(`sd_notify ${args.join(' ')}: ${command} failed (${why}) ${stderr.trim()}`.trim()),
        )
        resolve(false)
      })
    })
  }
}
