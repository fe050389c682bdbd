/**
 * The harness's own promise: a test CouchDB refuses every request without the credentials,
 * so a process that a test starts without them fails the test instead of passing by luck.
 */
import t from 'tap'
import { getDoc } from '../../lib/couch/client.js'
import type { EngineDoc } from '../../lib/documents.js'
import { engineArgs, fleetDoc, spawnEngine } from '../daemon/engine-process.js'
import { runCli } from './cli.js'
import { cleanups, couchCredentials, startCouch, waitFor } from './couch.js'
import { queueRush } from './fleet.js'
import { migrateRegions } from './plane.js'

if (!couchCredentials) {
  t.plan(0, 'COUCHDB_URL names a CouchDB without credentials (admin party): nothing to refuse')
} else {
  t.test('a test CouchDB refuses anonymous requests and a wrong password, of every kind', async (t) => {
    const later = cleanups(t)
    const server = await startCouch()
    later(() => server.stop())
    const db = `${server.prefix}-anon`
    const wrong = `Basic ${Buffer.from(`${couchCredentials!.username}:wrong`).toString('base64')}`
    for (const authorization of [undefined, wrong]) {
      for (const [method, path, body] of [
        ['GET', '/', undefined],
        ['GET', '/_all_dbs', undefined],
        ['PUT', `/${db}`, undefined],
        ['POST', `/${db}`, '{"_id":"x"}'],
        ['GET', `/${db}/_changes?feed=continuous`, undefined],
        ['POST', '/_replicate', '{"source":"a","target":"b"}'],
      ] as const) {
        const response = await fetch(`${server.url}${path}`, {
          method,
          ...(body !== undefined && { body, headers: { 'Content-Type': 'application/json' } }),
          ...(authorization && { headers: { Authorization: authorization } }),
        })
        t.equal(response.status, 401, `${authorization ? 'wrong password' : 'anonymous'}: ${method} ${path}`)
        t.match(await response.json(), { error: 'unauthorized', reason: String })
      }
    }
    t.notOk((await server.couch.server.db.list()).includes(db), 'the anonymous PUT created nothing')
    t.match(await server.couch.server.request({ path: '' }), {}, 'the credentials are let in')
  })

  t.test('a process started without the credentials fails; with them it works', async (t) => {
    const later = cleanups(t)
    const server = await startCouch()
    later(() => server.stop())
    await migrateRegions({ 'us-east-1': server }, server.prefix)
    const couchArgs = ['--couch', server.url, '--prefix', server.prefix]

    const rush = await queueRush(server.couch, {
      regions: ['us-east-1'],
      users: 1,
      seconds: 1,
      startAt: Date.now() + 3_600_000,
    })
    const anonymous = await runCli(['status', rush, ...couchArgs], { couchCredentials: false })
    t.equal(anonymous.code, 1, 'stampede status without credentials: exit 1')
    t.match(anonymous.stderr, /HTTP 401/, 'it says the server refused it')
    t.equal(anonymous.stderr.trim().split('\n').length, 1, 'in one line')
    const status = await runCli(['status', rush, ...couchArgs])
    t.equal(status.code, 0, 'with the harness’s credentials it works', { stderr: status.stderr })
    t.match(status.stdout, /queued/)

    const noCredentials = { STAMPEDE_COUCH_USER: undefined, STAMPEDE_COUCH_PASSWORD: undefined }
    const refused = spawnEngine(
      engineArgs(server, ['--instance-id', 'anon', '--region', 'us-east-1']),
      noCredentials,
    )
    later(() => refused.kill())
    const exit = await refused.exited
    t.equal(exit.code, 1, 'an engine without credentials exits 1')
    t.match(refused.stderr.join('\n'), /HTTP 401/)
    t.equal(await fleetDoc(server, 'anon'), undefined, 'and registered nothing')

    const engine = spawnEngine(engineArgs(server, ['--instance-id', 'cred', '--region', 'us-east-1']))
    later(() => engine.kill())
    const doc = await waitFor('the engine with credentials registered', () =>
      getDoc<EngineDoc>(server.couch.db(server.couch.names.fleet), 'engine:cred'),
    )
    t.equal(doc.state, 'idle')
  })
}
