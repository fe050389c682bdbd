import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { runCli } from '../harness/cli.js'
import { cleanups, startCouch, uniquePrefix } from '../harness/couch.js'
import { migrateRegions, startEngine } from '../harness/plane.js'
import { startShop } from '../harness/shop.js'

const dir = mkdtempSync(join(tmpdir(), 'stampede-txn-couch-'))
const ROWS = 40
const users = join(dir, 'users.csv')
writeFileSync(users, `user,pass\n${Array.from({ length: ROWS }, (_, i) => `u${i},pw-u${i}`).join('\n')}\n`)

t.test(
  'stampede rush --couch takes a transaction: rows split exactly over two regions, the step table, step thresholds, status',
  async (t) => {
    const later = cleanups(t)
    const prefix = uniquePrefix()
    const east = await startCouch({ prefix })
    later(() => east.stop())
    const west = await startCouch({ prefix })
    later(() => west.stop())
    const shop = await startShop()
    later(() => shop.close())
    await migrateRegions({ 'us-east-1': east, 'us-west-1': west }, prefix)
    const engines = [
      await startEngine(east.url, prefix, 'east-1', 'us-east-1'),
      await startEngine(west.url, prefix, 'west-1', 'us-west-1'),
    ]
    later(() => Promise.all(engines.map((e) => e.engine.stop())))

    const out = join(dir, 'run.json')
    const couch = ['--couch', east.url, '--prefix', prefix]
    const run = await runCli(
      [
        'rush',
        '-p',
        '4:3',
        '-q',
        ...couch,
        '--regions',
        'us-east-1,us-west-1',
        '--json',
        out,
        '-T',
        'login.p95<10s',
        '-T',
        'list.p50<0.001ms',
        '--rows',
        users,
        '--rows-mode',
        'unique',
        '--step',
        'login',
        '-X',
        'POST',
        '-d',
        'u=#{user}&p=#{pass}',
        '-x:c',
        'session',
        '-x:j',
        'token=$.token',
        `${shop.url}/login`,
        '--step',
        'list',
        '-H',
        'authorization: Bearer #{token}',
        '-x:j',
        'item=$.items[0].id',
        `${shop.url}/items`,
        `${shop.url}/items/#{item}`,
        `${shop.url}/logout`,
      ],
      { timeoutMs: 120_000 },
    )
    t.equal(run.code, 99, `a failing step threshold exits 99: ${run.stderr}`)
    t.match(run.stdout, /PASS\s+login\.p95<10s/)
    t.match(run.stdout, /FAIL\s+list\.p50<0\.001ms/)
    t.match(run.stdout, /Steps \(latency in ms/)
    t.match(run.stdout, /^\s+login\s+40\s/m)
    t.match(run.stdout, /Data rows ran out/)
    t.equal(shop.logins.size, ROWS, 'every row logged in')
    t.same(
      [...shop.logins.values()].filter((count) => count !== 1),
      [],
      'no row twice across the two regions',
    )
    t.equal(shop.refused, 0)
    const report = JSON.parse(readFileSync(out, 'utf8'))
    const steps = report.transaction.steps as { name: string; summary: { hits: number } }[]
    t.same(
      steps.map((step) => step.name),
      ['login', 'list', 'step3', 'step4'],
    )
    for (const step of steps) t.equal(step.summary.hits, ROWS, `${step.name}: ${ROWS} hits`)
    t.equal(
      report.summary.hits,
      shop.byRoute.get('POST /login')! + shop.byRoute.get('GET /items')! + shop.byRoute.get('GET /logout')!,
    )
    t.ok(report.transaction.exhausted > 0)

    const id = /rush (\S+) submitted/.exec(run.stderr)?.[1]
    t.ok(id, 'the rush id is on stderr')
    const status = await runCli(['status', id!, ...couch])
    t.equal(status.code, 0, status.stderr)
    t.match(status.stdout, /Steps \(latency in ms/)
    t.match(status.stdout, /^\s+step4\s+40\s/m)
    t.match(status.stdout, /\(data rows ran out: \d+\)/, 'a shard whose rows ran out says so')
    const json = await runCli(['status', id!, ...couch, '--json'])
    t.same(
      JSON.parse(json.stdout).transaction.steps.map(
        (step: { summary: { hits: number } }) => step.summary.hits,
      ),
      [ROWS, ROWS, ROWS, ROWS],
    )
  },
)
