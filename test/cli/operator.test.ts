import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { getDoc } from '../../lib/couch/client.js'
import { rushStatus } from '../../lib/couch/rushes.js'
import type { ShardDoc } from '../../lib/documents.js'
import { runCli } from '../harness/cli.js'
import { cleanups, startCouch, uniquePrefix, waitFor } from '../harness/couch.js'
import { migrateRegions, startEngine } from '../harness/plane.js'
import { startTarget } from '../harness/target.js'

/** One region (eu-west-1) with its database, `engineCount` engines and a 5 ms target. */
async function appliance(t: Parameters<typeof cleanups>[0], engineCount: number) {
  const later = cleanups(t)
  const prefix = uniquePrefix()
  const couch = await startCouch({ prefix })
  later(() => couch.stop())
  const target = await startTarget(5)
  later(() => target.close())
  await migrateRegions({ 'eu-west-1': couch }, prefix)
  for (let n = 1; n <= engineCount; n++) {
    const engine = await startEngine(couch.url, prefix, `eu-${n}`, 'eu-west-1')
    later(() => engine.engine.stop())
  }
  return { couch, target, couchArgs: ['--couch', couch.url, '--prefix', prefix] }
}

/** The operator's path: the CLI submits to CouchDB, engines run it, the CLI reports. */
t.test('rush --couch runs on the engines and reports the merged result and verdict', async (t) => {
  const { target, couchArgs } = await appliance(t, 2)
  const json = join(mkdtempSync(join(tmpdir(), 'stampede-operator-')), 'out.json')
  const run = await runCli([
    'rush',
    `${target.url}/`,
    '-p',
    '1-6:2',
    ...couchArgs,
    '--regions',
    'eu-west-1',
    '--shards-per-region',
    '2',
    '-T',
    'errors<1%',
    '-T',
    'p50<1ms',
    '--json',
    json,
    '-q',
  ])
  t.equal(run.code, 99, `p50<1ms fails against a 5 ms target (stderr: ${run.stderr})`)
  const report = JSON.parse(readFileSync(json, 'utf8'))
  t.ok(report.summary.hits > 0)
  t.equal(report.summary.hits, target.requests, 'merged hits equal what the target counted')
  // An engine that was late (a busy machine) runs its shard from a later second, and says so.
  const shifts = [...run.stderr.matchAll(/started its pattern (\d+) s after second 0/g)].map((m) =>
    Number(m[1]),
  )
  t.same(
    report.timeline.map((p: { t: number }) => p.t),
    Array.from({ length: 2 + Math.max(0, ...shifts) }, (_, i) => i),
    'every second once',
  )
  t.match(report.where, /shards in eu-west-1/)
  t.match(run.stdout, /PASS\s+errors<1%/)
  t.match(run.stdout, /FAIL\s+p50<1ms/)
  const id = /rush (\S+), 2 shards/.exec(report.where)?.[1]
  t.ok(id, 'the rush id is reported')

  const status = await runCli(['status', id!, ...couchArgs])
  t.equal(status.code, 0, status.stderr)
  t.match(status.stdout, new RegExp(`rush ${id}  done`))
  t.match(status.stdout, /eu-west-1\s+done\s+eu-[12]/)
})

t.test('abort stops a detached rush on its engines', async (t) => {
  const { couch, target, couchArgs } = await appliance(t, 1)

  const submit = await runCli([
    'rush',
    `${target.url}/`,
    '-p',
    '2:120',
    ...couchArgs,
    '--regions',
    'eu-west-1',
    '--detach',
  ])
  t.equal(submit.code, 0, submit.stderr)
  const id = submit.stdout.trim()
  await waitFor('load to reach the target', () => target.requests > 20)
  const abort = await runCli(['abort', id, ...couchArgs])
  t.equal(abort.code, 0, abort.stderr)
  t.equal(abort.stdout.trim(), `rush ${id} aborted`)
  await waitFor('the shard to stop', async () =>
    (await rushStatus(couch.couch, id)).shards.every((s) => s.state === 'aborted'),
  )
  // The engine writes the shard's totals once its run has ended (load stopped, requests in
  // flight answered): from then on nothing can reach the target. A sleep would prove nothing.
  const { shards } = await rushStatus(couch.couch, id)
  const dispatch = couch.couch.db(couch.couch.names.dispatch('eu-west-1'))
  const ended = await waitFor('the aborted run to end and write its totals', async () => {
    const doc = await getDoc<ShardDoc>(dispatch, shards[0]!.id)
    return doc?.totals && doc
  })
  t.equal(ended.state, 'aborted')
  t.ok(ended.totals!.sent < 2 * 120 * 200, 'stopped long before its 120 s')
  t.equal(target.requests, ended.totals!.sent, 'the target saw exactly the requests of the stopped run')

  const missing = await runCli(['status', 'no-such-rush', ...couchArgs])
  t.equal(missing.code, 1)
  t.match(missing.stderr, /no-such-rush/)
  t.equal(missing.stderr.trim().split('\n').length, 1)
})
