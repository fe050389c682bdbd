import { replicationId } from '../../controller/migrate.js'
import { getDoc, updateDoc } from '../../lib/couch/client.js'
import type { TestCouch } from './couch.js'

/** What keepReplicating returns. */
export interface ReplicationKeeper {
  /** Twins started so far. */
  readonly restarted: number
  /** Stops probing; resolves once the probe in progress has ended. */
  stop(): Promise<void>
}

interface Pull {
  /** The replication document's id (the first one; twins add `.restart<n>`). */
  id: string
  db: string
  from: string
  to: string
  generation: number
  restartedAt: number
}

/**
 * Keeps a test plane's replications of `prefix` going once a partition heals, as an
 * operator's watchdog would. Only for PouchDB Server: its replicator (PouchDB 7.3.1) sometimes
 * never resumes a live replication after network errors — the document stays `triggered` and
 * the replication sends nothing again (apache/pouchdb#9063, #8462; seen here after a partition
 * heals: one replication in eight with refused connections, more with dropped packets, and
 * on a machine three times oversubscribed a restarted one stalled again). CouchDB 3's
 * replication scheduler restarts a failed job by itself: against a real CouchDB
 * (`COUCHDB_URL`) this does nothing, so the test proves that recovery unaided.
 *
 * At once it restarts every replication. Then, until `stop()`, it proves each one live: every
 * `everyMs` each region updates a probe document of its own (`_design/probe-<region>`, which
 * engines, views and the tests' comparisons skip) in each database it replicates, and a
 * replication whose target has not received an update older than `graceMs` is restarted.
 *
 * A stalled replication is left in place: deleting a document whose replication is live
 * crashes PouchDB Server (its replicator then reads the deleted document, unhandled). A
 * restart is a twin `<id>.restart<n>` whose description differs by one field (PouchDB Server
 * starts no replication whose description equals a running one's); all share the checkpoints,
 * so the twin starts where the stalled one stopped.
 */
export async function keepReplicating(
  servers: Record<string, TestCouch>,
  prefix: string,
  options: { everyMs?: number; graceMs?: number } = {},
): Promise<ReplicationKeeper> {
  const everyMs = options.everyMs ?? 1000
  const graceMs = options.graceMs ?? 10_000
  let restarted = 0
  if (process.env.COUCHDB_URL)
    return {
      restarted,
      stop: async () => {},
    }
  const pulls = pullsOf(servers, prefix)
  const restart = async (pull: Pull) => {
    const replicator = servers[pull.to]!.couch.db('_replicator')
    const original = await getDoc<Record<string, unknown>>(replicator, pull.id)
    if (!original) return
    pull.generation++
    pull.restartedAt = Date.now()
    // The description without the replicator's own bookkeeping (`_id`, `_rev`, `_replication_*`).
    const description = Object.fromEntries(Object.entries(original).filter(([key]) => !key.startsWith('_')))
    await replicator.insert({
      ...description,
      _id: `${pull.id}.restart${pull.generation}`,
      restarted: pull.generation,
    } as never)
    restarted++
  }
  for (const pull of pulls) await restart(pull)

  // Per source database (region and name): the probe numbers written, and when.
  const written = new Map<string, { n: number; at: number }[]>()
  let n = 0
  const probe = async () => {
    n++
    const now = Date.now()
    for (const source of new Set(pulls.map((pull) => `${pull.from}\u0000${pull.db}`))) {
      const [from, db] = source.split('\u0000') as [string, string]
      await updateDoc(servers[from]!.couch.db(db), `_design/probe-${from}`, () => ({
        _id: `_design/probe-${from}`,
        n,
      }))
      written.set(source, [...(written.get(source) ?? []), { n, at: now }])
    }
    for (const pull of pulls) {
      const due = (written.get(`${pull.from}\u0000${pull.db}`) ?? []).filter((w) => w.at <= now - graceMs)
      const owed = due.at(-1)?.n ?? 0
      if (owed === 0 || now - pull.restartedAt < graceMs) continue
      const seen = await getDoc<{ n: number }>(
        servers[pull.to]!.couch.db(pull.db),
        `_design/probe-${pull.from}`,
      )
      if ((seen?.n ?? 0) < owed) await restart(pull)
    }
  }
  let stopped = false
  let running: Promise<void> = Promise.resolve()
  let timer: NodeJS.Timeout | undefined
  const tick = () => {
    running = probe()
      // A server busy or stopping: the next tick tries again.
      .catch(() => {})
      .finally(() => {
        if (!stopped) timer = setTimeout(tick, everyMs)
      })
  }
  tick()
  return {
    get restarted() {
      return restarted
    },
    async stop() {
      stopped = true
      clearTimeout(timer)
      await running
    },
  }
}

/**
 * Every pull of the plane: each region's databases from each other region, under the ids
 * `migrate` gives their replication documents (`replicationId`).
 */
function pullsOf(servers: Record<string, TestCouch>, prefix: string): Pull[] {
  const regions = Object.keys(servers)
  return regions.flatMap((to) =>
    regions
      .filter((from) => from !== to)
      .flatMap((from) =>
        servers[to]!.couch.names.all(regions).map((db) => ({
          id: replicationId(prefix, db, from),
          db,
          from,
          to,
          generation: 0,
          restartedAt: 0,
        })),
      ),
  )
}
