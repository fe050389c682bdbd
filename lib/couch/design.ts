import { type DocType, VALIDATORS } from '../documents.js'
import { DESIGN_ID } from './names.js'

/**
 * The design documents, one per kind of database. Map functions are ES5 source text;
 * reducers are CouchDB's built-ins (`_sum` over arrays sums element-wise, PouchDB Server
 * agrees), so no JavaScript reduce runs on the server.
 */
export interface DesignDoc {
  _id: string
  _rev?: string
  language: 'javascript'
  views: Record<string, { map: string; reduce?: string }>
  validate_doc_update?: string
}

export type DbKind = 'dispatch' | 'fleet' | 'results'

/** The document types each kind of database accepts. */
export const DOC_TYPES: Record<DbKind, DocType[]> = {
  dispatch: ['shard', 'abort', 'sprint', 'data'],
  fleet: ['engine', 'rush', 'lease'],
  results: ['samples'],
}

/**
 * `validate_doc_update` built from the validators of `lib/documents.ts`: their own source
 * text, so the server rejects exactly what the code rejects, with the same reason.
 * Design documents and deletions (conflict clean-up) pass.
 */
export function validateDocUpdateSource(types: DocType[]): string {
  const table = types.map((type) => `    ${JSON.stringify(type)}: ${VALIDATORS[type].toString()}`).join(',\n')
  return [
    'function (newDoc, oldDoc, userCtx, secObj) {',
    // esbuild's keep-names (tsx, which runs the tests on the TypeScript sources) wraps the
    // validators' inner functions in `__name(fn, "name")`; defined here as the identity, the
    // source runs on the server whichever compiler produced it (tsc emits no such call).
    '  var __name = function (fn) { return fn; };',
    "  if (newDoc._id.indexOf('_design/') === 0 || newDoc._deleted) return;",
    '  var validators = {',
    table,
    '  };',
    '  var check = validators[newDoc.type];',
    "  if (!check) throw({ forbidden: 'unknown document type ' + JSON.stringify(newDoc.type) });",
    '  var reason = check(newDoc, oldDoc && !oldDoc._deleted ? oldDoc : null);',
    '  if (reason) throw({ forbidden: reason });',
    '}',
  ].join('\n')
}

const VIEWS: Record<DbKind, DesignDoc['views']> = {
  dispatch: {
    // Demand: key [state, rush, n], value [shards, connections]; group_level=1 gives the
    // region's demand per state, reduce=false with a state range lists the shards.
    demand: {
      map: "function (doc) { if (doc.type === 'shard') emit([doc.state, doc.rush, doc.n], [1, doc.connections]); }",
      reduce: '_sum',
    },
    // What an engine holds: recovery after a restart, and the controller's lease expiry.
    'by-engine': {
      map: "function (doc) { if (doc.type === 'shard' && doc.engine) emit([doc.engine, doc.state], doc.leaseUntil || 0); }",
    },
    aborts: {
      map: "function (doc) { if (doc.type === 'abort') emit(doc.rush, doc.at); }",
    },
  },
  fleet: {
    // Engines: key [region, state], value [engines, capacity, in use].
    engines: {
      map: "function (doc) { if (doc.type === 'engine') emit([doc.region, doc.state], [1, doc.capacity, doc.inUse]); }",
      reduce: '_sum',
    },
    rushes: {
      map: "function (doc) { if (doc.type === 'rush') emit([doc.state, doc.createdAt], null); }",
      reduce: '_count',
    },
  },
  results: {
    // Merged timeline: key [rush, t], value [sent, hits, errors, timeouts, dropped,
    // latencyCount, latencySum, txBytes, rxBytes]; group_level=2 sums all shards per second.
    // Percentiles come from the histograms (entries view), never from averages.
    timeline: {
      map: [
        'function (doc) {',
        "  if (doc.type !== 'samples') return;",
        '  for (var i = 0; i < doc.entries.length; i++) {',
        '    var e = doc.entries[i], p = e.point, errors = 0;',
        '    for (var kind in p.errors) errors += p.errors[kind];',
        '    emit([e.rush, p.t], [p.sent, p.hits, errors, p.timeouts, p.dropped, p.latencyCount, p.latencySum, p.txBytes, p.rxBytes]);',
        '  }',
        '}',
      ].join('\n'),
      reduce: '_sum',
    },
    // Every entry with its histogram, by [rush, t, shard]: what the CLI merges.
    entries: {
      map: "function (doc) { if (doc.type !== 'samples') return; for (var i = 0; i < doc.entries.length; i++) { var e = doc.entries[i]; emit([e.rush, e.point.t, e.shard], e); } }",
    },
  },
}

export function designDoc(kind: DbKind, withValidation: boolean): DesignDoc {
  const doc: DesignDoc = { _id: DESIGN_ID, language: 'javascript', views: VIEWS[kind] }
  if (withValidation) doc.validate_doc_update = validateDocUpdateSource(DOC_TYPES[kind])
  return doc
}

/** Same content, whatever the revision and the order of keys. */
export function sameDesign(a: Partial<DesignDoc> | undefined, b: DesignDoc): boolean {
  if (!a) return false
  return canonical({ ...a, _rev: undefined }) === canonical({ ...b, _rev: undefined })
}

function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([x], [y]) => (x < y ? -1 : 1)))
      : v,
  )
}
