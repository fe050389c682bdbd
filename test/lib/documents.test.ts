import t from 'tap'
import { dataDoc } from '../../lib/couch/data.js'
import { validateDocUpdateSource } from '../../lib/couch/design.js'
import { assertValidDoc, docProblem, type ShardDoc, VALIDATORS } from '../../lib/documents.js'
import { newRush, splitRush } from '../../lib/split.js'
import { emptyPoint } from '../../lib/timeline.js'

const rush = newRush(
  {
    model: 'rush',
    request: { method: 'GET', url: 'http://127.0.0.1:9/', headers: {}, timeoutMs: 1000 },
    pattern: [{ start: 1, end: 10, duration: 5 }],
    regions: ['us-east-1', 'eu-west-1'],
    shardsPerRegion: 2,
  },
  'r1',
  1_000_000,
)
const shard = splitRush(rush)[0]!
const engine = {
  _id: 'engine:i-1',
  type: 'engine',
  instanceId: 'i-1',
  region: 'us-east-1',
  az: 'us-east-1a',
  version: '0.1.0',
  state: 'idle',
  capacity: 100,
  inUse: 0,
  checkpoint: null,
  heartbeatAt: 1,
  startedAt: 1,
  bootId: 'b1',
}

/** Runs the installed validate_doc_update source the way CouchDB does: a bare function, no closure. */
function serverSide(types: ('shard' | 'abort' | 'engine' | 'rush' | 'samples' | 'data')[]) {
  const vdu = new Function(`return (${validateDocUpdateSource(types)})`)() as (n: unknown, o: unknown) => void
  return (doc: unknown, old: unknown = null): string | null => {
    try {
      vdu(doc, old)
      return null
    } catch (err) {
      return (err as { forbidden?: string }).forbidden ?? `threw ${String(err)}`
    }
  }
}

t.test('well-formed documents pass in code and on the server', async (t) => {
  const server = serverSide(['shard', 'abort', 'engine', 'rush', 'samples'])
  for (const doc of [rush, shard, engine, { _id: 'abort:r1', type: 'abort', rush: 'r1', at: 5 }]) {
    t.equal(docProblem(doc), null, `${doc._id} passes in code`)
    t.equal(server(doc), null, `${doc._id} passes on the server`)
  }
})

t.test('malformed documents are rejected with the same reason in code and on the server', async (t) => {
  const server = serverSide(['shard', 'abort', 'engine', 'rush', 'samples'])
  const cases: [string, unknown, RegExp][] = [
    ['a shard without a share', { ...shard, share: undefined }, /share must be/],
    ['a share index past its count', { ...shard, share: { index: 4, of: 4 } }, /share must be/],
    ['a claimed shard without an engine', { ...shard, state: 'claimed' }, /needs its engine and leaseUntil/],
    ['a done shard without its histogram', { ...shard, state: 'done' }, /carries its histogram/],
    ['a shard with an unknown state', { ...shard, state: 'sleeping' }, /state must be one of/],
    ['an engine with a bad capacity', { ...engine, capacity: 0 }, /capacity must be a positive integer/],
    ['an engine whose id does not match', { ...engine, _id: 'engine:i-2' }, /_id must be/],
    ['an engine with an object checkpoint', { ...engine, checkpoint: { seq: 1 } }, /checkpoint must be/],
    [
      'a rush with a zero-length interval',
      { ...rush, pattern: [{ start: 1, end: 2, duration: 0 }] },
      /duration must be positive/,
    ],
    ['a rush with an ftp URL', { ...rush, request: { ...rush.request, url: 'ftp://x/' } }, /http\(s\) URL/],
    [
      'samples without entries',
      { _id: 'samples:i-1:b:0', type: 'samples', engine: 'i-1', region: 'r', at: 1, entries: [] },
      /non-empty/,
    ],
    ['a document of no known type', { _id: 'x', type: 'mystery' }, /unknown document type/],
  ]
  for (const [what, doc, reason] of cases) {
    const inCode = docProblem(doc)
    t.match(inCode, reason, `${what}: rejected in code`)
    t.equal(server(doc), inCode, `${what}: the server gives the same reason`)
  }
})

t.test('fields fixed at creation cannot change', async (t) => {
  const server = serverSide(['shard'])
  const moved: ShardDoc = { ...shard, region: 'eu-west-1' }
  t.match(docProblem(moved, shard), /cannot change/)
  t.match(server(moved, shard), /cannot change/)
  t.equal(server({ ...shard, state: 'aborted' }, shard), null, 'a state change is fine')
})

t.test('a database accepts only its own document types; deletions and design docs pass', async (t) => {
  const dispatch = serverSide(['shard', 'abort'])
  t.match(dispatch(engine), /unknown document type "engine"/)
  t.equal(dispatch({ _id: 'shard:r1:0', _deleted: true }), null)
  t.equal(dispatch({ _id: '_design/x', views: {} }), null)
})

t.test('assertValidDoc throws a coded error naming the document', async (t) => {
  t.throws(() => assertValidDoc({ ...shard, connections: -1 }), {
    code: 'STAMPEDE_INVALID_DOC',
    message: /shard:r1:0.*connections/,
  })
})

t.test('validators are plain ES5 that an old JavaScript engine runs', async (t) => {
  for (const [type, validator] of Object.entries(VALIDATORS)) {
    const source = validator.toString()
    t.notMatch(source, /=>|`|\bconst\b|\blet\b|\?\.|\?\?|\.\.\./, `${type} uses no ES2015+ syntax`)
    // `__name(…)` is esbuild's keep-names call (tsx loads these sources): validate_doc_update
    // defines it, so it is the one helper allowed; tsc's output has none.
    t.notMatch(source, /\b__(?!name\()\w+|require\(|import\b/, `${type} refers to no other helper or module`)
  }
})

t.test('a transaction rush, its shards and its data document pass in code and on the server', async (t) => {
  const server = serverSide(['shard', 'rush', 'data', 'samples'])
  const step = { request: { method: 'GET', url: 'http://127.0.0.1:9/#{user}', headers: {}, timeoutMs: 1000 } }
  const txRush = newRush(
    {
      model: 'rush',
      request: step.request,
      transaction: {
        steps: [step, step],
        data: { name: 'u.csv', mode: 'unique', table: { columns: ['user'], rows: [['a'], ['b']] } },
      },
      pattern: [{ start: 1, end: 10, duration: 5 }],
      regions: ['us-east-1'],
    },
    'r2',
    1,
  )
  const txShard = splitRush(txRush)[0]!
  const data = dataDoc('r2', txRush.transaction!.data!, Buffer.from('[["a"],["b"]]'))
  const samples = {
    _id: 'samples:i-1:b:0',
    type: 'samples',
    engine: 'i-1',
    region: 'r',
    at: 1,
    entries: [{ rush: 'r2', shard: txShard._id, point: emptyPoint(0), histogram: 'x', parts: ['y', 'z'] }],
  }
  for (const doc of [txRush, txShard, data, samples]) {
    t.equal(docProblem(doc), null, `${doc._id} passes in code`)
    t.equal(server(doc), null, `${doc._id} passes on the server`)
  }
  const cases: [string, unknown, RegExp][] = [
    [
      'a shard that copies the table',
      {
        ...txShard,
        transaction: { ...txShard.transaction, data: { ...txShard.transaction!.data, table: { rows: [] } } },
      },
      /the rows are in data:<rush>/,
    ],
    [
      'a rush with no steps',
      { ...txRush, transaction: { steps: [] } },
      /transaction.steps must be a non-empty list/,
    ],
    ['a data document of another rush', { ...data, _id: 'data:r3' }, /_id must be "data:" \+ rush/],
    ['a data document without a row count', { ...data, rows: -1 }, /rows must be a row count/],
    [
      'samples with parts not a list',
      { ...samples, entries: [{ ...samples.entries[0], parts: 5 }] },
      /parts must be/,
    ],
  ]
  for (const [what, doc, reason] of cases) {
    const inCode = docProblem(doc)
    t.match(inCode, reason, `${what}: rejected in code`)
    t.equal(server(doc), inCode, `${what}: the server gives the same reason`)
  }
  t.match(docProblem({ ...data, rows: 3 }, data), /written once/)
})
