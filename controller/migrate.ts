import { type Couch, connectCouch, couchFailure, getDoc, statusOf } from '../lib/couch/client.js'
import { basicAuth, type Credentials } from '../lib/couch/credentials.js'
import { type DbKind, type DesignDoc, designDoc, sameDesign } from '../lib/couch/design.js'
import { DESIGN_ID, dbNames } from '../lib/couch/names.js'
import type { Topology } from './topology.js'

/**
 * `migrate`: every database in every region, the design documents, and continuous
 * pull replication of every database from every other region. Observe, plan (pure), apply;
 * a second run plans nothing.
 */

export type Validation = 'auto' | 'on' | 'off'

export interface ReplicationDoc {
  _id: string
  _rev?: string
  source: string | { url: string; headers: Record<string, string> }
  target: string | { url: string; headers: Record<string, string> }
  continuous: true
}

export interface RegionState {
  region: string
  url: string
  pouchdbServer: boolean
  databases: Set<string>
  designs: Map<string, Partial<DesignDoc> | undefined>
  replications: Map<string, ReplicationDoc | undefined>
}

export type Action =
  | { kind: 'create-db'; region: string; db: string }
  | { kind: 'put-design'; region: string; db: string; doc: DesignDoc; update: boolean }
  | { kind: 'put-replication'; region: string; doc: ReplicationDoc; replace?: string }
  | { kind: 'warn'; region: string; message: string }

function kindOf(db: string, prefix: string): DbKind {
  return db.startsWith(`${prefix}-dispatch-`) ? 'dispatch' : db === `${prefix}-fleet` ? 'fleet' : 'results'
}

export function replicationId(prefix: string, db: string, from: string): string {
  return `stampede.${prefix}.${db}.from.${from}`
}

function endpoint(url: string, db: string, credentials?: Credentials): ReplicationDoc['source'] {
  const plain = `${url}/${db}`
  const authorization = basicAuth(credentials)
  return authorization ? { url: plain, headers: { Authorization: authorization } } : plain
}

const sameReplication = (a: ReplicationDoc | undefined, b: ReplicationDoc) =>
  !!a &&
  JSON.stringify([a.source, a.target, a.continuous]) === JSON.stringify([b.source, b.target, b.continuous])

/** What must change so the topology is as it should be; empty when it already is. */
export function planMigration(
  topology: Topology,
  states: RegionState[],
  options: { validation?: Validation; credentials?: Credentials } = {},
): Action[] {
  const names = dbNames(topology.prefix)
  const regions = topology.regions.map((region) => region.name)
  const wanted = names.all(regions)
  const actions: Action[] = []
  for (const state of states) {
    // PouchDB Server 4.2's validation plugin rewrites `_revisions` of replicated writes,
    // so any validate_doc_update silently drops replicated updates: off there when replicating.
    const validation =
      options.validation === 'on' ||
      (options.validation !== 'off' && !(state.pouchdbServer && topology.regions.length > 1))
    if (!validation && options.validation !== 'off') {
      actions.push({
        kind: 'warn',
        region: state.region,
        message: 'PouchDB Server drops replicated updates under validate_doc_update: validation left out',
      })
    }
    for (const db of wanted) {
      if (!state.databases.has(db)) actions.push({ kind: 'create-db', region: state.region, db })
      const doc = designDoc(kindOf(db, topology.prefix), validation)
      const current = state.designs.get(db)
      if (!sameDesign(current, doc))
        actions.push({ kind: 'put-design', region: state.region, db, doc, update: !!current })
    }
    for (const other of topology.regions) {
      if (other.name === state.region) continue
      for (const db of wanted) {
        const doc: ReplicationDoc = {
          _id: replicationId(topology.prefix, db, other.name),
          source: endpoint(other.url, db, options.credentials),
          target: endpoint(state.url, db, options.credentials),
          continuous: true,
        }
        const current = state.replications.get(doc._id)
        if (!sameReplication(current, doc)) {
          actions.push({
            kind: 'put-replication',
            region: state.region,
            doc,
            ...(current?._rev && { replace: current._rev }),
          })
        }
      }
    }
  }
  return actions
}

export async function observeRegion(couch: Couch, region: string, topology: Topology): Promise<RegionState> {
  const names = dbNames(topology.prefix)
  const regions = topology.regions.map((r) => r.name)
  let welcome: Record<string, unknown>
  let databases: string[]
  try {
    welcome = (await couch.server.request({ path: '' })) as Record<string, unknown>
    databases = await couch.server.db.list()
  } catch (err) {
    throw couchFailure(err, `reaching the CouchDB of ${region} at ${couch.url}`)
  }
  const state: RegionState = {
    region,
    url: couch.url,
    pouchdbServer: 'express-pouchdb' in welcome,
    databases: new Set(databases),
    designs: new Map(),
    replications: new Map(),
  }
  for (const db of names.all(regions)) {
    if (state.databases.has(db)) state.designs.set(db, await getDoc<DesignDoc>(couch.db(db), DESIGN_ID))
  }
  const replicator = couch.db('_replicator')
  for (const other of regions) {
    if (other === region) continue
    for (const db of names.all(regions)) {
      const id = replicationId(topology.prefix, db, other)
      state.replications.set(id, await getDoc<ReplicationDoc>(replicator, id))
    }
  }
  return state
}

export async function applyAction(couch: Couch, action: Action): Promise<void> {
  try {
    switch (action.kind) {
      case 'create-db':
        try {
          await couch.server.db.create(action.db)
        } catch (err) {
          if (statusOf(err) !== 412) throw err // created meanwhile
        }
        return
      case 'put-design': {
        const current = await getDoc<DesignDoc>(couch.db(action.db), DESIGN_ID)
        await couch.db(action.db).insert({ ...action.doc, _rev: current?._rev } as never)
        return
      }
      case 'put-replication': {
        const replicator = couch.db('_replicator')
        // PouchDB Server refuses updates of a triggered replication: replace it.
        if (action.replace) await replicator.destroy(action.doc._id, action.replace)
        await replicator.insert(action.doc as never)
        return
      }
      case 'warn':
        return
    }
  } catch (err) {
    throw couchFailure(err, `${describe(action)}`)
  }
}

export function describe(action: Action): string {
  switch (action.kind) {
    case 'create-db':
      return `${action.region}: create database ${action.db}`
    case 'put-design':
      return `${action.region}: ${action.update ? 'update' : 'install'} design document of ${action.db}`
    case 'put-replication': {
      const source = typeof action.doc.source === 'string' ? action.doc.source : action.doc.source.url
      return `${action.region}: ${action.replace ? 'replace' : 'start'} replication ${action.doc._id} from ${source}`
    }
    case 'warn':
      return `${action.region}: warning: ${action.message}`
  }
}

export interface MigrateOptions {
  credentials?: Credentials
  validation?: Validation
  dryRun?: boolean
  report?: (line: string) => void
}

/** Runs the migration; returns the actions taken (or planned, on a dry run). */
export async function migrate(topology: Topology, options: MigrateOptions = {}): Promise<Action[]> {
  const couches = new Map(
    topology.regions.map((region) => [
      region.name,
      connectCouch(region.url, { prefix: topology.prefix, credentials: options.credentials }),
    ]),
  )
  const states: RegionState[] = []
  for (const region of topology.regions)
    states.push(await observeRegion(couches.get(region.name)!, region.name, topology))
  const actions = planMigration(topology, states, options)
  // Databases first everywhere, so replications never start against a missing one.
  const order = (action: Action) => (action.kind === 'create-db' ? 0 : action.kind === 'put-design' ? 1 : 2)
  for (const action of [...actions].sort((a, b) => order(a) - order(b))) {
    options.report?.(describe(action))
    if (!options.dryRun) await applyAction(couches.get(action.region)!, action)
  }
  return actions
}
