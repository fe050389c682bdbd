import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { migrate } from '../../controller/migrate.js'
import { getDoc, statusOf } from '../../lib/couch/client.js'
import { newRush, splitRush } from '../../lib/split.js'
import { cleanups, couchCredentials, couchEnv, startCouch, uniquePrefix, waitFor } from '../harness/couch.js'

const MAIN = fileURLToPath(new URL('../../dist/controller/main.js', import.meta.url))

t.test('migrate creates everything once; a second run changes nothing', async (t) => {
  const later = cleanups(t)
  const server = await startCouch()
  later(() => server.stop())
  const topology = { prefix: server.prefix, regions: [{ name: 'us-east-1', url: server.url }] }
  const credentials = couchCredentials ? { credentials: couchCredentials } : {}
  const lines: string[] = []
  const first = await migrate(topology, { ...credentials, report: (line) => lines.push(line) })
  t.same(
    first.map((a) => a.kind).sort(),
    ['create-db', 'create-db', 'create-db', 'put-design', 'put-design', 'put-design'],
    'three databases, three design documents',
  )
  t.ok(
    lines.every((line) => line.startsWith('us-east-1: ')),
    'every change is reported',
  )
  t.same(await migrate(topology, credentials), [], 'the second run plans nothing')

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
  const credentials = couchCredentials ? { credentials: couchCredentials } : {}
  const first = await migrate(topology, credentials)
  t.equal(
    first.filter((x) => x.kind === 'put-replication').length,
    8,
    'four databases pulled by each of two regions',
  )
  t.same(
    (await migrate(topology, credentials)).filter((x) => x.kind !== 'warn'),
    [],
    'the second run changes nothing',
  )
  if (couchCredentials) {
    // The other side refuses anonymous requests: the replicator must carry the credentials,
    // as CouchDB 3 takes them (a header, not the URL, which CouchDB would show in its logs).
    const doc = await getDoc<{ source: { url: string; headers: Record<string, string> } }>(
      a.couch.db('_replicator'),
      `stampede.${prefix}.${prefix}-fleet.from.eu-west-1`,
    )
    t.same(doc?.source, {
      url: `${b.url}/${prefix}-fleet`,
      headers: {
        Authorization: `Basic ${Buffer.from(`${couchCredentials.username}:${couchCredentials.password}`).toString('base64')}`,
      },
    })
  }
  // A valid document each way (validators, where installed, accept it), each awaited by id
  // on the other side: both directions replicate, through servers that want credentials.
  const rush = (id: string) =>
    newRush(
      {
        model: 'rush',
        request: { method: 'GET', url: 'http://127.0.0.1:9/', headers: {}, timeoutMs: 1000 },
        pattern: [{ start: 1, end: 1, duration: 1 }],
        regions: ['us-east-1', 'eu-west-1'],
      },
      id,
      0,
    )
  await a.couch.db(`${prefix}-fleet`).insert(rush('from-a') as never)
  await b.couch.db(`${prefix}-fleet`).insert(rush('from-b') as never)
  const seen = await waitFor("each region holding the other's rush", async () => {
    const [inB, inA] = await Promise.all([
      getDoc<object>(b.couch.db(`${prefix}-fleet`), 'rush:from-a'),
      getDoc<object>(a.couch.db(`${prefix}-fleet`), 'rush:from-b'),
    ])
    return inB && inA && { inB, inA }
  })
  t.match(seen.inB, { _id: 'rush:from-a', type: 'rush' }, 'us-east-1 → eu-west-1')
  t.match(seen.inA, { _id: 'rush:from-b', type: 'rush' }, 'eu-west-1 → us-east-1')
})

t.test('the controller command line: one-line errors, exit 2 on bad input', async (t) => {
  if (!existsSync(MAIN)) throw new Error('build first: npx tsc -p .')
  const dir = mkdtempSync(join(tmpdir(), 'stampede-topology-'))
  const run = (...args: string[]) =>
    new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = execFile(process.execPath, [MAIN, ...args], (_, stdout, stderr) =>
        resolve({ status: child.exitCode, stdout, stderr }),
      )
    })
  const bad = [
    ['not JSON', '{', /is not JSON/],
    ['no regions', '{"regions": []}', /non-empty list/],
    [
      'credentials in a URL',
      '{"regions": [{"name": "us-east-1", "url": "http://admin:secret@127.0.0.1:5984"}]}',
      /not in the URL/,
    ],
  ] as const
  const files = bad.map(([what, content]) => {
    const file = join(dir, `${what.replace(/\W/g, '-')}.json`)
    writeFileSync(file, content)
    return file
  })
  // Independent processes, started at once: each is mostly a Node start-up (seconds on a
  // busy machine), and each exit status and message is its own.
  const [help, missing, unknown, ...results] = await Promise.all([
    run('migrate', '--help'),
    run('migrate', '--topology', join(dir, 'missing.json')),
    run('frobnicate'),
    ...files.map((file) => run('migrate', '--topology', file)),
  ])
  t.equal(help!.status, 0)
  t.match(help!.stdout, /--topology FILE/)
  for (const [i, [what, , reason]] of bad.entries()) {
    const result = results[i]!
    t.equal(result.status, 2, `${what}: exit 2`)
    t.match(result.stderr, reason, `${what}: says why`)
    t.equal(result.stderr.trim().split('\n').length, 1, `${what}: one line`)
  }
  t.equal(missing!.status, 2)
  t.equal(unknown!.status, 2)
})

t.test(
  'stampede-controller migrate reads its credentials from the environment; without them it is refused',
  async (t) => {
    if (!existsSync(MAIN)) throw new Error('build first: npx tsc -p .')
    const later = cleanups(t)
    const server = await startCouch()
    later(() => server.stop())
    const file = join(mkdtempSync(join(tmpdir(), 'stampede-topology-')), 'regions.json')
    writeFileSync(
      file,
      JSON.stringify({ prefix: server.prefix, regions: [{ name: 'us-east-1', url: server.url }] }),
    )
    // Asynchronous: the test's CouchDB proxy runs in this process and must keep answering.
    const run = (env: NodeJS.ProcessEnv) =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        const child = execFile(
          process.execPath,
          [MAIN, 'migrate', '--topology', file],
          { env },
          (_, stdout, stderr) => resolve({ code: child.exitCode, stdout, stderr }),
        )
      })
    const anonymous = { ...process.env }
    delete anonymous.STAMPEDE_COUCH_USER
    delete anonymous.STAMPEDE_COUCH_PASSWORD
    delete anonymous.STAMPEDE_COUCH_CREDENTIALS_FILE
    if (server.credentials) {
      const refused = await run(anonymous)
      t.equal(refused.code, 1, 'no credentials: the migration fails')
      t.match(refused.stderr, /^stampede-controller: .*HTTP 401/, 'and says the server refused it')
      t.equal(refused.stderr.trim().split('\n').length, 1, 'in one line')
      t.equal(
        await server.couch.server.db
          .list()
          .then((dbs) => dbs.filter((db) => db.startsWith(server.prefix)).length),
        0,
        'nothing was created',
      )
    }
    const done = await run({ ...anonymous, ...couchEnv() })
    t.equal(done.code, 0, 'with STAMPEDE_COUCH_USER/PASSWORD it migrates', { stderr: done.stderr })
    t.match(done.stdout, /6 changes made/)
  },
)
