/**
 * The reconcile's CouchDB side, thin: reads engine docs and unfinished shards into plain
 * records, and makes the few writes the executor needs. Each region's documents are read from
 * and written to that region's own CouchDB — where its engines write — so a retirement or a
 * release never races a replica that has not caught up. Every write is conditional on the
 * document still being as the plan saw it (a 409 re-reads; a document that moved on is left).
 */
import type Nano from 'nano'
import { type Couch, updateDoc, viewRows } from '../../lib/couch/client.js'
import type { EngineDoc, ShardDoc } from '../../lib/documents.js'
import { patternDuration } from '../../lib/pattern.js'
import { markLost, requeue } from '../../lib/shard-state.js'
import type { EngineRecord, ShardRecord } from './model.js'

export interface FleetStore {
  /** Engine docs of the region that are not `gone`. */
  engines(region: string): Promise<EngineRecord[]>
  /** Queued, claimed and running shards of the region. */
  shards(region: string): Promise<ShardRecord[]>
  /** Marks an idle engine `draining`; false when it is no longer idle (it got work). */
  markDraining(region: string, instanceId: string, reason: string): Promise<boolean>
  /** Marks the doc `gone`; false when it heartbeated since `seenHeartbeatAt` or is gone already. */
  retireEngine(region: string, instanceId: string, seenHeartbeatAt: number, reason: string): Promise<boolean>
  /** Moves a shard from `from` (held by `engine`) to `to`; false when it moved on by itself. */
  releaseShard(release: {
    region: string
    shard: string
    engine: string | undefined
    from: ShardRecord['state']
    to: 'queued' | 'lost'
    reason: string
    now: number
  }): Promise<boolean>
  /** The fleet database where the lease lives (the home region's). */
  leaseDb(): Nano.DocumentScope<unknown>
}

const LIVE_STATES = ['booting', 'busy', 'draining', 'idle'] as const
const UNFINISHED = ['queued', 'claimed', 'running'] as const

/**
 * A store over one CouchDB per region (`couchOf(region)`), the lease in `home`. In a one-server
 * set-up (tests, the local appliance) every region may map to the same connection.
 */
export function couchStore(home: Couch, couchOf: (region: string) => Couch): FleetStore {
  const fleet = (region: string) => {
    const couch = couchOf(region)
    return couch.db(couch.names.fleet)
  }
  const dispatch = (region: string) => {
    const couch = couchOf(region)
    return couch.db(couch.names.dispatch(region))
  }
  return {
    async engines(region) {
      const rows = await viewRows<unknown, EngineDoc>(fleet(region), 'engines', {
        keys: LIVE_STATES.map((state) => [region, state]),
        reduce: false,
        include_docs: true,
      } as Nano.DocumentViewParams)
      return rows.flatMap((row) => (row.doc ? [toEngineRecord(row.doc)] : []))
    },
    async shards(region) {
      const out: ShardRecord[] = []
      for (const state of UNFINISHED) {
        const rows = await viewRows<unknown, ShardDoc>(dispatch(region), 'demand', {
          startkey: [state],
          endkey: [state, {}],
          reduce: false,
          include_docs: true,
        })
        for (const row of rows) if (row.doc) out.push(toShardRecord(row.doc))
      }
      return out
    },
    async markDraining(region, instanceId, reason) {
      const result = await updateDoc<EngineDoc & { drainReason?: string }>(
        fleet(region),
        `engine:${instanceId}`,
        (current) =>
          current?.state !== 'idle' || current.inUse > 0
            ? undefined
            : { ...current, state: 'draining', drainReason: reason },
      )
      return result.written
    },
    async retireEngine(region, instanceId, seenHeartbeatAt, reason) {
      const result = await updateDoc<EngineDoc & { retiredReason?: string }>(
        fleet(region),
        `engine:${instanceId}`,
        (current) =>
          !current || current.state === 'gone' || current.heartbeatAt > seenHeartbeatAt
            ? undefined
            : { ...current, state: 'gone', inUse: 0, retiredReason: reason },
      )
      return result.written
    },
    async releaseShard({ region, shard, engine, from, to, reason, now }) {
      const result = await updateDoc<ShardDoc>(dispatch(region), shard, (current) => {
        if (!current || current.state !== from || current.engine !== engine) return undefined
        return to === 'queued' ? requeue(current, reason) : markLost(current, reason, now)
      })
      return result.written
    },
    leaseDb: () => home.db(home.names.fleet),
  }
}

function toEngineRecord(doc: EngineDoc & { idleSince?: number }): EngineRecord {
  return {
    instanceId: doc.instanceId,
    region: doc.region,
    state: doc.state,
    capacity: doc.capacity,
    inUse: doc.inUse,
    heartbeatAt: doc.heartbeatAt,
    startedAt: doc.startedAt,
    ...(typeof doc.idleSince === 'number' && { idleSince: doc.idleSince }),
  }
}

function toShardRecord(doc: ShardDoc): ShardRecord {
  return {
    id: doc._id,
    region: doc.region,
    state: doc.state as ShardRecord['state'],
    connections: doc.connections,
    ...(doc.engine !== undefined && { engine: doc.engine }),
    ...(doc.leaseUntil !== undefined && { leaseUntil: doc.leaseUntil }),
    endsAt: doc.startAt + patternDuration(doc.pattern) * 1000,
  }
}
