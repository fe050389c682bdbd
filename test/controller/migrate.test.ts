import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { migrate } from '../../controller/migrate.js'
import { statusOf } from '../../lib/couch/client.js'
import { newRush, splitRush } from '../../lib/split.js'
import { cleanups, startCouch, uniquePrefix, waitFor } from '../harness/couch.js'

const MAIN = fileURLToPath(new URL('../../dist/controller/main.js', import.meta.url))

t.test('migrate creates everything once; a second run changes nothing', async (t) => {
  const later = cleanups(t)
  const server = await startCouch()
  later(() => server.stop())
  const topology = { prefix: server.prefix, regions: [{ name: 'us-east-1', url: server.url }] }
  const lines: string[] = []
  const first = await migrate(topology, { report: (line) => lines.push(line) })
  t.same(
    first.map((a) => a.kind).sort(),
    ['create-db', 'create-db', 'create-db', 'put-design', 'put-design', 'put-design'],
    'three databases, three design documents',
  )
  t.ok(
    lines.every((line) => line.startsWith('us-east-1: ')),
    'every change is reported',
  )
  t.same(await migrate(topology), [], 'the second run plans nothing')

  // The installed validation rejects malformed documents with the validator's reason.
  const dispatch = server.couch.db(`${server.prefix}-dispatch-us-east-1`)
  const rush = newRush(
    {
      model: 'rush',
      request: { method: 'GET', url: 'http://127.0.0.1:9/', headers: {}, timeoutMs: 1000 },
      pattern: [{ start: 1, end: 1, duration: 1 }],
      regions: ['us-east-1'],
    },
    'r1',
    0,
  )
  const shard = splitRush(rush)[0]!
  await dispatch.insert(shard as never)
  const rejected = await dispatch
    .insert({ ...shard, _id: 'shard:r1:1', n: 1, share: { index: 2, of: 1 } } as never)
    .catch((err) => err)
  t.equal(statusOf(rejected), 403)
  t.match((rejected as { reason: string }).reason, /share must be \{index, of\}/)
  const wrongDb = await server.couch
    .db(`${server.prefix}-results`)
    .insert(shard as never)
    .catch((err) => err)
  t.match(
    (wrongDb as { reason: string }).reason,
    /unknown document type "shard"/,
    'a shard has no place in results',
  )
})

t.test('migrate sets up replication between regions, idempotently', async (t) => {
  const later = cleanups(t)
  const prefix = uniquePrefix()
  const a = await startCouch({ prefix })
  later(() => a.stop())
  const b = await startCouch({ prefix })
  later(() => b.stop())
  const topology = {
    prefix,
    regions: [
      { name: 'us-east-1', url: a.url },
      { name: 'eu-west-1', url: b.url },
    ],
  }
  const first = await migrate(topology)
  t.equal(
    first.filter((x) => x.kind === 'put-replication').length,
    8,
    'four databases pulled by each of two regions',
  )
  t.same(
    (await migrate(topology)).filter((x) => x.kind !== 'warn'),
    [],
    'the second run changes nothing',
  )
  await a.couch
    .db(`${prefix}-fleet`)
    .insert({ _id: 'rush:x', type: 'rush' } as never)
    .catch(() => {})
  await b.couch
    .db(`${prefix}-results`)
    .insert({ _id: 'probe', hello: 1 } as never)
    .catch(() => {})
  await waitFor('a write in one region appearing in the other', async () => {
    const info = (await a.couch.db(`${prefix}-results`).info()) as { doc_count: number }
    return info.doc_count >= 2 // the design doc and the probe
  })
  t.pass('replicated')
})

t.test('the controller command line: one-line errors, exit 2 on bad input', async (t) => {
  if (!existsSync(MAIN)) throw new Error('build first: npx tsc -p .')
  const dir = mkdtempSync(join(tmpdir(), 'stampede-topology-'))
  const run = (...args: string[]) => spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8' })
  const help = run('migrate', '--help')
  t.equal(help.status, 0)
  t.match(help.stdout, /--topology FILE/)
  for (const [what, content, reason] of [
    ['not JSON', '{', /is not JSON/],
    ['no regions', '{"regions": []}', /non-empty list/],
    [
      'credentials in a URL',
      '{"regions": [{"name": "us-east-1", "url": "http://admin:secret@127.0.0.1:5984"}]}',
      /not in the URL/,
    ],
  ] as const) {
    const file = join(dir, `${what.replace(/\W/g, '-')}.json`)
    writeFileSync(file, content)
    const result = run('migrate', '--topology', file)
    t.equal(result.status, 2, `${what}: exit 2`)
    t.match(result.stderr, reason, `${what}: says why`)
    t.equal(result.stderr.trim().split('\n').length, 1, `${what}: one line`)
  }
  t.equal(run('migrate', '--topology', join(dir, 'missing.json')).status, 2)
  t.equal(run('frobnicate').status, 2)
})
