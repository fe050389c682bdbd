/**
 * The controller's lease: one document (`lease:controller`) in the fleet database of the home
 * region. Its `_rev` is the lock: taking the lease, writing intent and releasing it are all
 * writes that name the revision last read, so two runs can never both believe they hold it —
 * the loser of any race gets a 409. The holder id and expiry say who holds it and until when;
 * an expired lease (a run that died) is taken over by the next run.
 *
 * The document also carries the controller's state between runs (the launch ledger and idle
 * times): written with the same `_rev`, so only the holder can change it.
 */

import type Nano from 'nano'
import type { Clock } from '../../lib/clock.js'
import { couchFailure, getDoc, statusOf } from '../../lib/couch/client.js'
import type { LeaseDoc } from '../../lib/documents.js'
import { StampedeError } from '../../lib/errors.js'
import { type ControllerState, emptyState } from './model.js'

export const LEASE_ID = 'lease:controller'

type Db = Nano.DocumentScope<unknown>

/** Another run holds the lease: this one must not act. */
export class LeaseHeldError extends StampedeError {
  readonly holder: string
  readonly expiresAt: number
  constructor(holder: string, expiresAt: number) {
    super('STAMPEDE_LEASE_HELD', `lease held by ${holder} until ${new Date(expiresAt).toISOString()}`)
    this.name = 'LeaseHeldError'
    this.holder = holder
    this.expiresAt = expiresAt
  }
}

/** The lease was taken over while this run held it (it outlived its expiry): stop acting. */
export class LeaseLostError extends StampedeError {
  constructor(holder: string) {
    super(
      'STAMPEDE_LEASE_LOST',
      `lease lost: ${holder} no longer holds ${LEASE_ID} (another run took it over)`,
    )
    this.name = 'LeaseLostError'
  }
}

export interface LeaseOptions {
  holder: string
  ttlMs: number
  clock: Clock
}

/** A held lease. Every write names the revision this holder last wrote. */
export class Lease {
  #doc: LeaseDoc
  readonly #db: Db
  readonly #options: LeaseOptions

  constructor(db: Db, doc: LeaseDoc, options: LeaseOptions) {
    this.#db = db
    this.#doc = doc
    this.#options = options
  }

  get holder(): string {
    return this.#doc.holder
  }

  get expiresAt(): number {
    return this.#doc.expiresAt
  }

  state(): ControllerState {
    return parseState(this.#doc.state)
  }

  /** Writes the state (intent before acting, outcomes after) and extends the lease. */
  async save(state: ControllerState): Promise<void> {
    await this.#write({ ...this.#doc, state, expiresAt: this.#options.clock.now() + this.#options.ttlMs })
  }

  /** Ends the lease now (the next run need not wait for the expiry), keeping the state. */
  async release(state?: ControllerState): Promise<void> {
    await this.#write({ ...this.#doc, ...(state && { state }), expiresAt: this.#options.clock.now() })
  }

  async #write(next: LeaseDoc): Promise<void> {
    try {
      const response = await this.#db.insert(next as Nano.MaybeDocument)
      this.#doc = { ...next, _rev: response.rev }
    } catch (err) {
      if (statusOf(err) === 409) throw new LeaseLostError(this.#doc.holder)
      throw couchFailure(err, `writing ${LEASE_ID}`)
    }
  }
}

/** Takes the lease, or throws `LeaseHeldError` naming who holds it. */
export async function acquireLease(db: Db, options: LeaseOptions): Promise<Lease> {
  const now = options.clock.now()
  const current = await getDoc<LeaseDoc>(db, LEASE_ID)
  if (current && current.holder !== options.holder && current.expiresAt > now) {
    throw new LeaseHeldError(current.holder, current.expiresAt)
  }
  const next: LeaseDoc = {
    _id: LEASE_ID,
    ...(current?._rev !== undefined && { _rev: current._rev }),
    type: 'lease',
    holder: options.holder,
    acquiredAt: now,
    expiresAt: now + options.ttlMs,
    state: current?.state ?? emptyState(),
  }
  try {
    const response = await db.insert(next as Nano.MaybeDocument)
    return new Lease(db, { ...next, _rev: response.rev }, options)
  } catch (err) {
    if (statusOf(err) !== 409) throw couchFailure(err, `taking ${LEASE_ID}`)
    // Someone wrote between our read and our write: they hold it now.
    const winner = await getDoc<LeaseDoc>(db, LEASE_ID)
    throw new LeaseHeldError(winner?.holder ?? 'another run', winner?.expiresAt ?? now + options.ttlMs)
  }
}

/** The state without taking the lease (`--dry-run` plans from it and writes nothing). */
export async function readLeaseState(
  db: Db,
): Promise<{ state: ControllerState; holder?: string; expiresAt?: number }> {
  const doc = await getDoc<LeaseDoc>(db, LEASE_ID)
  return {
    state: parseState(doc?.state),
    ...(doc && { holder: doc.holder, expiresAt: doc.expiresAt }),
  }
}

/** A stored state, defensively: a field that is missing or malformed starts empty. */
export function parseState(value: unknown): ControllerState {
  const state = emptyState()
  if (!value || typeof value !== 'object') return state
  const v = value as Partial<ControllerState>
  if (v.generations && typeof v.generations === 'object') {
    for (const [region, n] of Object.entries(v.generations))
      if (Number.isInteger(n)) state.generations[region] = n
  }
  if (Array.isArray(v.launches)) {
    state.launches = v.launches.filter(
      (l) =>
        l &&
        typeof l.region === 'string' &&
        typeof l.clientToken === 'string' &&
        Number.isInteger(l.count) &&
        (l.status === 'requested' || l.status === 'launched'),
    )
  }
  if (v.idleSince && typeof v.idleSince === 'object') {
    for (const [id, at] of Object.entries(v.idleSince)) if (typeof at === 'number') state.idleSince[id] = at
  }
  return state
}
