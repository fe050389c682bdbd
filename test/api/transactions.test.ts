// biome-ignore-all lint/suspicious/noExplicitAny: JSON answers of the API, read field by field
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { runCli } from '../harness/cli.js'
import { type Shop, startShop } from '../harness/shop.js'
import { BlitzClient } from './blitz-client.js'
import { apiPlane, call } from './harness.js'
import { readEvents } from './sse.js'

/**
 * The "done when" through the API: a four-step transaction (a cookie login with a
 * CSV of users in `unique` mode, a JSON extraction) submitted through v2 and through the
 * command line's --api, on two regions with an engine each; fewer rows than the load wants,
 * so they run out and every row is used exactly once at the target. Then blitz's v1 with
 * steps, variables and xtracts as its clients send them.
 */
const ROWS = 20

/** v2's body for the shop's four steps (the scenario file's shape, the rows inline). */
function shopBody(url: string, rows: number) {
  const request = (path: string, extra: Record<string, unknown> = {}) => ({
    url: `${url}${path}`,
    timeoutMs: 5000,
    expectStatus: '200',
    ...extra,
  })
  return {
    transaction: {
      data: {
        name: 'users.csv',
        mode: 'unique',
        columns: ['user', 'pass'],
        rows: Array.from({ length: rows }, (_, i) => [`u${i}`, `pw-u${i}`]),
      },
      steps: [
        {
          name: 'login',
          request: request('/login', {
            method: 'POST',
            headers: { 'content-type': 'application/x-www-form-urlencoded' },
            body: 'u=#{user}&p=#{pass}',
          }),
          extract: [{ cookie: 'session' }, { json: '$.token', as: 'token' }],
        },
        {
          name: 'list',
          request: request('/items', { headers: { authorization: 'Bearer #{token}' } }),
          extract: [{ json: '$.items[0].id', as: 'item' }],
        },
        { name: 'item', request: request('/items/#{item}') },
        { name: 'logout', request: request('/logout') },
      ],
    },
    pattern: '1-6:2,6:2',
    regions: ['us-east-1', 'eu-west-1'],
    thresholds: ['login.errors<1%', 'item.p99<10s'],
  }
}

/** Each row logged in exactly once; the per-step hits are what the target counted per path. */
function rowsOnceAndStepsAddUp(t: Test, shop: Shop, steps: Record<string, any>, hits: number) {
  t.equal(shop.logins.size, ROWS, 'every row was used')
  t.same(
    [...shop.logins.entries()].filter(([, count]) => count !== 1),
    [],
    'no row was used twice',
  )
  t.equal(shop.refused, 0, 'every step had what it needed (cookie, token, item id)')
  t.same(Object.keys(steps), ['login', 'list', 'item', 'logout'])
  t.equal(steps.login.hits, ROWS, 'login hits = the rows')
  t.equal(steps.login.hits, shop.byRoute.get('POST /login'))
  t.equal(steps.list.hits + steps.item.hits, shop.byRoute.get('GET /items'), 'list + item = GET /items')
  t.equal(steps.logout.hits, shop.byRoute.get('GET /logout'))
  t.equal(
    Object.values(steps).reduce((sum: number, step: any) => sum + step.hits, 0),
    hits,
    'the steps add up to the whole',
  )
}

t.test('transactions through the API: v2, the command line, blitz v1', async (t) => {
  t.setTimeout(400_000)
  const plane = await apiPlane(t, { regions: ['us-east-1', 'eu-west-1'], engines: 1 })
  const { user, key } = await plane.tenant('alice', { maxRunning: 10 })
  const shops: Shop[] = []
  const shop = async () => {
    const started = await startShop()
    shops.push(started)
    return started
  }
  t.teardown(() => Promise.all(shops.map((s) => s.close())))

  t.test('v2: the rush runs on both regions, each unique row once, per-step figures', async (t) => {
    const target = await shop()
    const submitted = await call(plane.url, 'POST', '/api/v2/rushes', {
      key,
      body: shopBody(target.url, ROWS),
    })
    t.equal(submitted.status, 201, JSON.stringify(submitted.body))
    const id = submitted.body.id
    const { events } = await readEvents(
      `${plane.url}/api/v2/rushes/${id}/events`,
      { authorization: `Bearer ${key}` },
      { until: (event) => event.event === 'end' || event.event === 'error' },
    )
    const end = events.at(-1)!
    t.equal(end.event, 'end', JSON.stringify(end.data).slice(0, 300))
    t.equal(end.data.state, 'done', JSON.stringify(end.data.shards))
    const seconds = events.filter((event) => event.event === 'second')
    t.ok(
      seconds.filter((event) => event.data.steps).every((event) => event.data.parts?.length === 5),
      "each second of the transaction carries the iterations' and four steps' histograms",
    )
    t.equal(end.data.parts.length, 5)
    t.equal(end.data.verdict, 'passed', JSON.stringify(end.data.thresholds))
    t.match(end.data.thresholds, [{ threshold: 'login.errors<1%' }, { threshold: 'item.p99<10s' }])

    const view = await call(plane.url, 'GET', `/api/v2/rushes/${id}?timeline=false`, { key })
    t.equal(view.status, 200)
    t.same(view.body.steps, ['login', 'list', 'item', 'logout'])
    t.same(view.body.regions, ['us-east-1', 'eu-west-1'])
    t.equal(view.body.shards.length, 2)
    const summary = view.body.transaction
    t.ok(summary.exhausted > 0, 'the rush says the rows ran out')
    t.equal(
      view.body.shards.reduce((sum: number, shard: any) => sum + (shard.exhausted ?? 0), 0),
      summary.exhausted,
      'the shards count the exhausted iterations the summary shows',
    )
    t.equal(summary.iterations.hits, ROWS, 'every iteration with a row ran its four steps')
    const steps = Object.fromEntries(summary.steps.map((step: any) => [step.name, step.summary]))
    rowsOnceAndStepsAddUp(t, target, steps, view.body.summary.hits)
    t.same(end.data.transaction, summary, 'the end event and the rush agree')
  })

  t.test('refusals: a step on a host not proven, a threshold on no step, a host header', async (t) => {
    const target = await shop()
    const body = shopBody(target.url, 3)
    // localhost is 127.0.0.1 here, but not a host alice proved: the second step is refused.
    const other = target.url.replace('127.0.0.1', 'localhost')
    body.transaction.steps[1]!.request.url = `${other}/items`
    const unproven = await call(plane.url, 'POST', '/api/v2/rushes', { key, body })
    t.equal(unproven.status, 403)
    t.match(unproven.body, { host: 'localhost', uuid: String, detail: /prove that you control localhost/ })
    t.same(target.logins.size, 0, 'nothing ran')
    t.equal(target.byRoute.get('POST /login'), undefined)

    const noStep = await call(plane.url, 'POST', '/api/v2/rushes', {
      key,
      body: { ...shopBody(target.url, 3), thresholds: ['checkout.p95<1s'] },
    })
    t.equal(noStep.status, 400)
    t.match(noStep.body.detail, /no step named checkout \(steps: login, list, item, logout\)/)

    const otherSite = shopBody(target.url, 3)
    ;(otherSite.transaction.steps[2]!.request as any).headers = { host: 'www.example.test' }
    const host = await call(plane.url, 'POST', '/api/v2/rushes', { key, body: otherSite })
    t.equal(host.status, 400)
    t.match(host.body.detail, /host header "www.example.test" must name the URL's host 127.0.0.1:\d+/)

    const both = await call(plane.url, 'POST', '/api/v2/rushes', {
      key,
      body: { ...shopBody(target.url, 3), request: { url: `${target.url}/` } },
    })
    t.equal(both.status, 400)
    t.match(both.body.detail, /exactly one of request .* or transaction/)
    const ragged = shopBody(target.url, 3)
    ragged.transaction.data.rows[1] = ['u1']
    const answer = await call(plane.url, 'POST', '/api/v2/rushes', { key, body: ragged })
    t.equal(answer.status, 400)
    t.match(answer.body.detail, /users.csv: row 2 must hold 2 texts/)
    t.same(
      [...target.byRoute.keys()].filter((route) => !route.startsWith('GET /stampede-')),
      [],
      'the target saw nothing but the proof fetch',
    )
  })

  t.test(
    'a followed redirect stays on the hosts the tenant proved: a hop elsewhere is refused',
    async (t) => {
      const target = await shop()
      const body = shopBody(target.url, 3)
      const [login, list] = body.transaction.steps
      // localhost is this same shop, but a host alice never proved.
      const elsewhere = `${target.url.replace('127.0.0.1', 'localhost')}/items`
      body.transaction.steps = [
        login!,
        { ...list!, name: 'go', request: { ...list!.request, url: `${target.url}/go` }, follow: 1 } as any,
        {
          name: 'away',
          request: { url: `${target.url}/away?to=${encodeURIComponent(elsewhere)}`, timeoutMs: 5000 },
          follow: 1,
        } as any,
      ]
      body.thresholds = []
      const submitted = await call(plane.url, 'POST', '/api/v2/rushes', { key, body })
      t.equal(submitted.status, 201, JSON.stringify(submitted.body))
      const { events } = await readEvents(
        `${plane.url}/api/v2/rushes/${submitted.body.id}/events`,
        { authorization: `Bearer ${key}` },
        { until: (event) => event.event === 'end' || event.event === 'error' },
      )
      t.equal(events.at(-1)!.event, 'end')
      const view = await call(plane.url, 'GET', `/api/v2/rushes/${submitted.body.id}?timeline=false`, { key })
      const steps = Object.fromEntries(
        view.body.transaction.steps.map((step: any) => [step.name, step.summary]),
      )
      t.equal(steps.login.hits, 3, 'each of the 3 rows logged in')
      t.same(steps.go.statuses, { 302: 3, 200: 3 }, 'the hop on the proven host was followed')
      t.equal(target.byRoute.get('GET /items'), 3, 'and reached the target; the hop elsewhere never did')
      t.equal(steps.away.statuses['302'], 3)
      t.equal(steps.away.errorsByKind.refused, 3, 'each hop to localhost refused before any connect')
    },
  )

  t.test("the command line's --api sends the transaction", async (t) => {
    const target = await shop()
    const dir = mkdtempSync(join(tmpdir(), 'stampede-api-tx-'))
    t.teardown(() => rmSync(dir, { recursive: true, force: true }))
    const csv = join(dir, 'users.csv')
    writeFileSync(csv, `user,pass\n${Array.from({ length: ROWS }, (_, i) => `u${i},pw-u${i}`).join('\n')}\n`)
    process.env.STAMPEDE_API_KEY = key
    t.teardown(() => {
      delete process.env.STAMPEDE_API_KEY
    })
    // -t 5s on each step, as v2's body: a busy machine's hiccup must not turn a login into a
    // timeout and break the exact counts (each row logged in once) this test is about.
    const run = await runCli([
      'rush',
      '-p',
      '1-6:2,6:2',
      '--rows',
      csv,
      '--rows-mode',
      'unique',
      '--step',
      'login',
      '-X',
      'POST',
      '-H',
      'content-type: application/x-www-form-urlencoded',
      '-d',
      'u=#{user}&p=#{pass}',
      '-x:c',
      'session',
      '-x:j',
      'token=$.token',
      '-t',
      '5s',
      `${target.url}/login`,
      '--step',
      'list',
      '-H',
      'authorization: Bearer #{token}',
      '-x:j',
      'item=$.items[0].id',
      '-t',
      '5s',
      `${target.url}/items`,
      '--step',
      'item',
      '-t',
      '5s',
      `${target.url}/items/#{item}`,
      '--step',
      'logout',
      '-t',
      '5s',
      `${target.url}/logout`,
      '--api',
      plane.url,
      '--regions',
      'us-east-1,eu-west-1',
      '-T',
      'login.errors<1%',
      '--json',
      '-',
      '-q',
    ])
    t.equal(run.code, 0, run.stderr)
    const report = JSON.parse(run.stdout)
    t.match(report.where, /through the API, 2 shards in us-east-1, eu-west-1/)
    t.equal(report.passed, true)
    t.ok(report.transaction.exhausted > 0, 'the rows ran out and the report says so')
    t.match(run.stderr, /login/, 'the summary shows a table per step')
    const steps = Object.fromEntries(report.transaction.steps.map((step: any) => [step.name, step.summary]))
    rowsOnceAndStepsAddUp(t, target, steps, report.summary.hits)

    const id = /rush (\S+) submitted/.exec(run.stderr)![1]!
    const status = await runCli(['status', id, '--api', plane.url])
    t.equal(status.code, 0, status.stderr)
    t.match(status.stdout, new RegExp(`^\\s+login\\s+${ROWS}\\s`, 'm'), "status prints the rush's step table")
    t.match(status.stdout, new RegExp(`\\(iterations\\)\\s+${ROWS}\\s`))
    t.match(status.stdout, /data rows ran out: \d+/, 'a shard whose rows ran out says so')
  })

  t.test('blitz v1: steps, per-step variables and a cookie xtract as blitz-ruby sends them', async (t) => {
    const target = await shop()
    const client = new BlitzClient(plane.url, user, key)
    // blitz-ruby's parse_cli for:
    //   -p 1-4:3 -v:who list[a,b,c] -X POST -d 'u=#{who}&p=pw-#{who}' -x:c session URL/login
    //   URL/items/7 -T 3000 -s 200 URL/logout
    const job = {
      steps: [
        {
          variables: { who: { type: 'list', entries: ['a', 'b', 'c'] } },
          request: 'POST',
          content: { data: ['u=#{who}&p=pw-#{who}'] },
          xtracts: { session: { type: 'cookie' } },
          url: `${target.url}/login`,
        },
        { url: `${target.url}/items/7` },
        { timeout: 3000, status: 200, url: `${target.url}/logout` },
      ],
      pattern: { iterations: 1, intervals: [{ iterations: 1, start: 1, end: 4, duration: 3 }] },
    }
    const queued = await client.execute(job)
    t.equal(queued.ok, true, JSON.stringify(queued))
    const done = await client.wait(queued.job_id, 500)
    t.equal(done.status, 'completed', JSON.stringify(done).slice(0, 300))
    const timeline = done.result.timeline
    const last = timeline.at(-1)
    t.equal(last.steps.length, 3, 'one {d, c, e, t, a} per step')
    t.same(
      last.steps.map((step: any) => [step.e, step.t, step.a]),
      [
        [0, 0, 0],
        [0, 0, 0],
        [0, 0, 0],
      ],
      'no errors, timeouts or failed asserts in any step',
    )
    t.ok(
      timeline.some((point: any) => point.steps.every((step: any) => step.d > 0)),
      'each step has its own response time',
    )
    t.ok(target.logins.size > 0)
    t.same(
      [...target.logins.keys()].filter((who) => !['a', 'b', 'c'].includes(who)),
      [],
      'the login used the list variable',
    )
    t.equal(target.refused, 0, 'the extracted session cookie went with the next steps')
    const logins = target.byRoute.get('POST /login')!
    t.equal(last.executed, logins + target.byRoute.get('GET /items')! + target.byRoute.get('GET /logout')!)
  })
})
