import { type Clock, systemClock } from '../lib/clock.js'
import type { DrainOptions } from './engine.js'
import { type MetadataReader, type SpotNotice, watchSpotInterruption } from './imds-identity.js'
import type { Logger } from './log.js'

/** Drains end this long before a spot interruption: the final writes must land before the host goes. */
export const SPOT_MARGIN_MS = 10_000

export interface LifecycleOptions {
  log: Logger
  /** The drain bound for a signal; a spot notice can shorten it. */
  drainMs: number
  /** Default SIGTERM and SIGINT. */
  signals?: NodeJS.Signals[]
  /** Told once, when the engine starts to leave (sd_notify STOPPING=1). */
  onLeaving?: (reason: string) => void
  /** For the time left before a spot interruption (default the system clock). */
  clock?: Clock
}

interface Drainable {
  drain(options: DrainOptions): Promise<void>
}

/**
 * Why and when the engine leaves. Signal handlers are installed at once (a SIGTERM during
 * boot is kept, not fatal); the spot watcher polls the metadata service. The first request
 * drains the engine with the drain bound; a later one can only shorten it (a second signal:
 * at once).
 */
export class Lifecycle {
  readonly #options: LifecycleOptions
  readonly #signals: NodeJS.Signals[]
  readonly #watching = new AbortController()
  readonly #first: Promise<void>
  #resolveFirst!: () => void
  #engine: Drainable | undefined
  #pending: DrainOptions[] = []
  #drained: Promise<void> | undefined
  #signalsSeen = 0
  #reason: string | undefined

  constructor(options: LifecycleOptions) {
    this.#options = options
    this.#signals = options.signals ?? ['SIGTERM', 'SIGINT']
    this.#first = new Promise((resolve) => {
      this.#resolveFirst = resolve
    })
    for (const signal of this.#signals) process.on(signal, this.#onSignal)
  }

  /** Why the engine was asked to leave, once it was. */
  get reason(): string | undefined {
    return this.#reason
  }

  /** Polls `spot/instance-action` until a notice comes (or `dispose`). */
  watchSpot(client: MetadataReader, intervalMs: number): void {
    let failing = false
    void watchSpotInterruption(client, {
      intervalMs,
      signal: this.#watching.signal,
      onNotice: (notice) => this.#onSpotNotice(notice),
      onError: (err) => {
        // Once per failing streak: a flapping metadata service must not flood the journal.
        if (!failing) this.#options.log.warn({ err: (err as Error).message }, 'spot notice poll failed')
        failing = true
      },
    })
  }

  /** Drains `engine` on the first request (or at once if one came already) and resolves when it is gone. */
  async run(engine: Drainable): Promise<string> {
    this.#engine = engine
    for (const request of this.#pending.splice(0)) this.#drain(request)
    await this.#first
    await this.#drained
    return this.#reason!
  }

  dispose(): void {
    this.#watching.abort()
    for (const signal of this.#signals) process.off(signal, this.#onSignal)
  }

  readonly #onSignal = (signal: NodeJS.Signals): void => {
    this.#signalsSeen++
    if (this.#signalsSeen === 1) this.#request({ reason: signal, timeoutMs: this.#options.drainMs })
    else this.#request({ reason: `second ${signal}`, timeoutMs: 0 })
  }

  #onSpotNotice(notice: SpotNotice): void {
    const untilInterruption = Number.isFinite(notice.at)
      ? notice.at - (this.#options.clock ?? systemClock).now() - SPOT_MARGIN_MS
      : Infinity
    this.#request({
      reason: `spot interruption (${notice.action} at ${notice.time || 'an unknown time'})`,
      timeoutMs: Math.max(0, Math.min(this.#options.drainMs, untilInterruption)),
    })
  }

  #request(request: DrainOptions): void {
    const first = this.#reason === undefined
    if (first) {
      this.#reason = request.reason
      this.#options.log.info({ reason: request.reason, timeoutMs: request.timeoutMs }, 'leaving the fleet')
      this.#options.onLeaving?.(request.reason)
    }
    if (this.#engine) this.#drain(request)
    else this.#pending.push(request)
    if (first) this.#resolveFirst()
  }

  /** Every request goes to drain(): the first starts it, later ones can only bring its deadline closer. */
  #drain(request: DrainOptions): void {
    const done = this.#engine!.drain(request)
    this.#drained ??= done
  }
}
