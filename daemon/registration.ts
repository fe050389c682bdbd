import type Nano from 'nano'
import type { Scheduler, Timer } from '../lib/clock.js'
import { updateDoc } from '../lib/couch/client.js'
import type { Seq } from '../lib/couch/follow.js'
import type { EngineDoc, EngineState } from '../lib/documents.js'
import type { Logger } from './log.js'

/** What the engine doc reports, read at each write. */
export interface EngineStatus {
  draining: boolean
  /** Shards held (claimed or running). */
  held: number
  /** Connections its shards hold. */
  inUse: number
}

/**
 * The engine doc to write now (pure): the state follows from what the engine holds unless a
 * state is given (`gone`), and `heartbeatAt` is the time of the write.
 */
export function nextEngineDoc(
  doc: EngineDoc,
  status: EngineStatus,
  checkpoint: Seq,
  now: number,
  state?: EngineState,
): EngineDoc {
  return {
    ...doc,
    state: state ?? (status.draining ? 'draining' : status.held > 0 ? 'busy' : 'idle'),
    inUse: status.inUse,
    checkpoint,
    heartbeatAt: now,
  }
}

/**
 * Whether the stored doc says the controller chose this engine for scale-in (it wrote
 * `draining` over an idle engine) while the engine did not know yet. A state the engine sets
 * itself (`gone`) is not a heartbeat and learns nothing.
 */
export function markedForScaleIn(
  stored: EngineDoc | undefined,
  draining: boolean,
  state: EngineState | undefined,
): boolean {
  return state === undefined && stored?.state === 'draining' && !draining
}

export interface RegistrationOptions {
  fleet: Nano.DocumentScope<unknown>
  clock: Scheduler
  /** The doc as first written at start. */
  doc: EngineDoc
  heartbeatMs: number
  status: () => EngineStatus
  /** The controller marked this engine for scale-in (see `markedForScaleIn`). */
  onMarkedDraining: () => void
  /** Counts write requests. */
  wrote: (requests: number) => void
  log: Logger
}

/**
 * The engine's registration in fleet: its doc, written at start, every `heartbeatMs` (the
 * heartbeat, which carries the feed checkpoint: the only periodic write of the engine doc) and
 * on each change of state. After a crash the engine replays at most a heartbeat's worth of
 * changes, which is harmless (every decision is idempotent: a claim needs the shard `queued`
 * and its current `_rev`).
 */
export class Registration {
  readonly #options: RegistrationOptions
  #doc: EngineDoc
  #checkpoint: Seq
  #timer: Timer | undefined
  /** The heartbeat write in flight, if any. */
  #beating: Promise<void> | undefined

  constructor(options: RegistrationOptions) {
    this.#options = options
    this.#doc = options.doc
    this.#checkpoint = options.doc.checkpoint ?? 0
  }

  get doc(): EngineDoc {
    return this.#doc
  }

  /** The feed's checkpoint: the last change fully handled. Written with the next heartbeat. */
  get checkpoint(): Seq {
    return this.#checkpoint
  }

  advance(seq: Seq): void {
    this.#checkpoint = seq
  }

  /** Starts the heartbeat. */
  start(): void {
    this.#timer ??= this.#options.clock.every(this.#options.heartbeatMs, () => this.#beat())
  }

  /**
   * Stops the heartbeat and waits for a beat in flight: one that landed after the final write
   * (`gone`) would overwrite it with the state the engine had.
   */
  async stop(): Promise<void> {
    this.#timer?.cancel()
    this.#timer = undefined
    await this.#beating
  }

  /** Writes the doc now, on top of the stored one; `state` overrides the state it follows from. */
  async save(state?: EngineState): Promise<void> {
    const { clock, fleet, log } = this.#options
    const status = this.#options.status()
    const next = nextEngineDoc(this.#doc, status, this.#checkpoint, clock.now(), state)
    const result = await updateDoc<EngineDoc>(fleet, next._id, (current) => ({
      ...next,
      ...(markedForScaleIn(current, status.draining, state) && { state: 'draining' as const }),
      _rev: current?._rev,
    }))
    this.#options.wrote(result.requests)
    this.#doc = result.doc ?? next
    if (result.written && this.#doc.state === 'draining' && !this.#options.status().draining) {
      // The controller chose this idle engine for scale-in: claim nothing more. Its
      // instance's termination (SIGTERM) then drains and ends the process.
      log.info('draining: the controller marked this engine for scale-in')
      this.#options.onMarkedDraining()
    }
  }

  #beat(): void {
    // A slow write (a busy CouchDB) is not doubled by the next beat.
    if (this.#beating) return
    this.#beating = this.save()
      .catch((err) => this.#options.log.warn({ err: (err as Error).message }, 'heartbeat failed'))
      .finally(() => {
        this.#beating = undefined
      })
  }
}
