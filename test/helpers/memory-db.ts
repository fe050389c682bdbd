import type Nano from 'nano'

/**
 * The few calls of a CouchDB database that the engine's parts make (get, insert with `_rev`,
 * view rows), in memory, for unit tests with a fake clock: a write with a stale `_rev` is a
 * 409, a missing document a 404, as CouchDB answers. Not a CouchDB: the thin adapters are
 * tested against PouchDB Server; this only lets a part's timing be tested without a server.
 */
export class MemoryDb {
  readonly docs = new Map<string, Record<string, unknown> & { _id: string; _rev: string }>()
  /** Every write that landed, in order (copies). */
  readonly writes: Array<Record<string, unknown>> = []
  /** Write requests, conflicts included. */
  requests = 0
  /** Rows `view(name)` answers. */
  readonly views = new Map<string, Array<{ id: string; key: unknown; value: unknown; doc?: unknown }>>()
  /** The next writes of this id answer 409 regardless (another writer got there first). */
  readonly conflictNext = new Map<string, number>()
  /** Attachments by `docId/name` (what `attachment.get` answers; missing: 404). */
  readonly attachments = new Map<string, Buffer>()
  /** While set, writes wait for it (a slow server). */
  gate: Promise<void> | undefined

  constructor(readonly name = 'memory') {}

  get scope(): Nano.DocumentScope<unknown> {
    return {
      config: { db: this.name },
      get: async (id: string) => {
        const doc = this.docs.get(id)
        if (!doc) throw Object.assign(new Error('missing'), { statusCode: 404 })
        return structuredClone(doc)
      },
      insert: async (doc: { _id: string; _rev?: string }) => {
        if (this.gate) await this.gate
        this.requests++
        const current = this.docs.get(doc._id)
        const forced = this.conflictNext.get(doc._id) ?? 0
        if (forced > 0) {
          this.conflictNext.set(doc._id, forced - 1)
          throw Object.assign(new Error('conflict'), { statusCode: 409 })
        }
        if ((current?._rev ?? undefined) !== (doc._rev ?? undefined))
          throw Object.assign(new Error('conflict'), { statusCode: 409 })
        const generation = current ? Number(current._rev.split('-')[0]) + 1 : 1
        const rev = `${generation}-x`
        const stored = { ...structuredClone(doc), _rev: rev } as Record<string, unknown> & {
          _id: string
          _rev: string
        }
        this.docs.set(doc._id, stored)
        this.writes.push(structuredClone(stored))
        return { ok: true, id: doc._id, rev }
      },
      view: async (_design: string, view: string) => ({ rows: this.views.get(view) ?? [] }),
      attachment: {
        get: async (id: string, name: string) => {
          const body = this.attachments.get(`${id}/${name}`)
          if (!body) throw Object.assign(new Error('missing'), { statusCode: 404 })
          return Buffer.from(body)
        },
      },
    } as unknown as Nano.DocumentScope<unknown>
  }
}
