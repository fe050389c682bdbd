/**
 * Faults of the metadata service (IMDSv2, the project's emulator): it hangs (accepts, never
 * answers) or refuses (nothing listens) when the engine boots — the engine exits 1 within a
 * bound, with one line saying why; and a spot interruption notice mid-rush — the engine drains
 * and exits within the two-minute warning, the rush ends with the stopped shard's reason, every
 * second it reported counted once.
 */
import t from 'tap'
import { startImds } from '../../emulators/imds.js'
import { getDoc } from '../../lib/couch/client.js'
import { submitRush } from '../../lib/couch/rushes.js'
import type { EngineDoc, ShardDoc } from '../../lib/documents.js'
import { runCli } from '../harness/cli.js'
import { cleanups, freePort, startCouch } from '../harness/couch.js'
import { auditSamples, range, runsPerShard, spawnEngine, twice, watchToEnd } from '../harness/faults.js'
import { figures } from '../harness/figures.js'
import { startGatedTarget } from '../harness/gated-target.js'
import { migrateRegions } from '../harness/plane.js'

const record = figures(t, 'metadata')
const instance = {
  instanceId: 'i-0fa17ed0000000001',
  region: 'us-east-1',
  az: 'us-east-1b',
  instanceType: 'c7i.large',
}
/**
 * The engine's defaults: 5 tries of 1 s, back-off 200 ms doubling (3 s in all), so an engine
 * gives up after about 8 s; 20 s leaves room for a start-up on a busy machine.
 */
const EXIT_BOUND_MS = 20_000

t.test('the metadata service hangs or refuses at boot: exit 1 within the bound, one line why', async (t) => {
  const hanging = await startImds(instance)
  t.teardown(() => hanging.close())
  hanging.hang()
  const closedPort = await freePort()
  const cases = [
    { mode: 'hangs', endpoint: hanging.url },
    { mode: 'refuses', endpoint: `http://127.0.0.1:${closedPort}` },
  ]
  const runs = cases.map(({ mode, endpoint }) => {
    const startedAt = Date.now()
    const engine = spawnEngine([
      '--identity',
      'imds',
      '--couch',
      'http://127.0.0.1:9',
      '--imds-endpoint',
      endpoint,
    ])
    t.teardown(() => engine.kill())
    return { mode, startedAt, engine }
  })
  for (const { mode, startedAt, engine } of runs) {
    const exit = await engine.exited
    const took = exit.at - startedAt
    t.equal(exit.code, 1, `${mode}: exit 1`)
    t.ok(took < EXIT_BOUND_MS, `${mode}: exited after ${took} ms (bound ${EXIT_BOUND_MS} ms)`)
    t.equal(engine.stderr.length, 1, `${mode}: one line on stderr`)
    t.match(
      engine.stderr[0],
      /^stampede-engine: no identity from the EC2 metadata service at http:\/\/127\.0\.0\.1:\d+\/ after 5 tries \(1000 ms timeout each\): .+/,
      `${mode}: it names the service, the tries and the last error`,
    )
    t.notMatch(engine.stderr[0], /\n| {4}at /, `${mode}: no stack trace`)
    record({
      fault: `the metadata service ${mode} at boot`,
      strikes: 'from the first request (engine defaults: 5 tries, 1 s each, back-off from 200 ms)',
      outcome: `exit 1 with one line: "${engine.stderr[0]!.replace(/\d{4,5}/g, 'PORT').slice(0, 90)}…"`,
      recoverMs: took,
      extra: { 'bound ms': EXIT_BOUND_MS },
    })
  }
})

t.test(
  'a spot interruption notice mid-rush: drained and gone well within the two-minute warning',
  async (t) => {
    const later = cleanups(t)
    const server = await startCouch()
    later(() => server.stop())
    await migrateRegions({ 'us-east-1': server }, server.prefix)
    const target = await startGatedTarget()
    later(() => target.stop())
    const imds = await startImds(instance)
    later(() => imds.close())
    const engine = spawnEngine(
      [
        '--identity',
        'imds',
        '--couch',
        server.url,
        '--prefix',
        server.prefix,
        '--workers',
        '0',
        '--allow-loopback',
        '--heartbeat-ms',
        '500',
        '--spot-poll',
        '500ms',
        '--log-level',
        'info',
      ],
      { env: { AWS_EC2_METADATA_SERVICE_ENDPOINT: imds.url } },
    )
    later(() => engine.stop())
    await engine.when((l) => l.msg === 'engine following dispatch')
    const id = await submitRush(server.couch, {
      model: 'rush',
      request: { method: 'GET', url: target.url, headers: {}, timeoutMs: 2000 },
      pattern: [{ start: 3, end: 3, duration: 300 }],
      regions: ['us-east-1'],
      shardsPerRegion: 1,
      startLeadMs: 300,
    })
    const shard = `shard:${id}:0`
    await engine.when((l) => l.msg === 'shard running' && l.shard === shard)
    await waitForSecond(server, id, 1)
    // Every answer the target gives from here on would be cut by the stop: give none.
    target.close()
    await waitForSecond(server, id, 3)
    const noticeAt = Date.now()
    const notice = imds.announceSpotInterruption()
    const exit = await engine.exited
    const drainedMs = exit.at - noticeAt
    t.same([exit.code, exit.signal], [0, null], 'exit 0, by itself')
    t.ok(
      exit.at < Date.parse(notice.time) - 10_000,
      `gone ${drainedMs} ms after the notice, before ${notice.time} − 10 s`,
    )
    const doc = await getDoc<EngineDoc>(
      server.couch.db(server.couch.names.fleet),
      `engine:${instance.instanceId}`,
    )
    t.equal(doc?.state, 'gone')
    const stopped = await getDoc<ShardDoc>(server.couch.db(server.couch.names.dispatch('us-east-1')), shard)
    t.equal(stopped?.state, 'lost')
    t.match(stopped?.reason, /spot interruption .*cannot finish before the drain deadline/)
    const seen = await watchToEnd(server.couch, id)
    t.equal(seen.state, 'failed', 'the rush ends, failed (not stuck)')
    t.same(seen.seconds, range(seen.seconds.length), `${seen.seconds.length} seconds reported, each once`)
    t.equal(seen.seconds.length, stopped?.totals?.seconds, 'as many as the shard says it reported')
    t.equal(seen.hits, target.answered, 'merged hits equal what the target answered')
    const status = await runCli(['status', id, '--couch', server.url, '--prefix', server.prefix])
    t.match(status.stdout, /spot interruption/, 'stampede status prints the reason')
    const audit = await auditSamples(server.couch, id)
    t.same([audit.duplicates, audit.gaps], [0, 0], 'no sample written twice, none missing')
    const runs = runsPerShard(engine)
    record({
      fault: 'a spot interruption notice mid-rush (two-minute warning)',
      strikes: 'after second 3 of a 300-s shard; the engine polls every 500 ms',
      outcome: 'drained and exited 0; the shard stopped and marked lost with the reason; rush failed',
      recoverMs: drainedMs,
      secondsReported: seen.seconds.length,
      secondsPlanned: 300,
      shardsRunTwice: twice(runs),
      documentsLost: audit.gaps,
      extra: { 'samples written twice': audit.duplicates, 'warning ms': 120_000 },
    })
  },
)

async function waitForSecond(server: Awaited<ReturnType<typeof startCouch>>, rush: string, t: number) {
  const results = server.couch.db(server.couch.names.results)
  for (const deadline = Date.now() + 30_000; Date.now() < deadline; ) {
    const rows = await results.view('stampede', 'entries', {
      startkey: [rush, t],
      endkey: [rush, {}],
      limit: 1,
    })
    if (rows.rows.length > 0) return
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`no samples of second ${t} within 30 s`)
}
