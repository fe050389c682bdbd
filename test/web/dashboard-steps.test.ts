import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { millis } from '../../lib/report/format.js'
import { apiPlane, call } from '../api/harness.js'
import { runCli } from '../harness/cli.js'
import { reportData } from '../harness/report.js'
import {
  ARTIFACTS,
  chromiumMissing,
  horizontalOverflow,
  launch,
  waitForData,
  watchedPage,
} from './dashboard-harness.js'

/**
 * What the functions handed to the page (page.evaluate, $eval) see there. The type-check
 * program is Node's (no DOM library), so the page's globals are declared here, loosely.
 */
// biome-ignore lint/suspicious/noExplicitAny: browser globals, typed by the browser
declare const document: any

// A rush, a browser and an engine on a machine shared with other tests: more than the default budget.
t.setTimeout(240_000)

const PHONE = { width: 390, height: 844, deviceScaleFactor: 2, isMobile: true, hasTouch: true }

/** The step table as the page shows it: one array of cell texts per row, and its state. */
const stepTable = `(() => ({
  state: document.documentElement.dataset.steps,
  rows: [...document.querySelectorAll('#rush-steps-table tbody tr')].map((row) =>
    [...row.children].map((cell) => cell.textContent)),
}))()`

t.test(
  "a transaction rush: the step table counts live from the stream, then shows the rush's step summaries",
  { skip: chromiumMissing },
  async (t) => {
    const plane = await apiPlane(t, { engines: 1 })
    const { key } = await plane.tenant('alice')
    const target = plane.target.url
    const submitted = await call(plane.url, 'POST', '/api/v2/rushes', {
      key,
      body: {
        transaction: {
          steps: [
            { name: 'login', request: { url: `${target}/delay/5`, timeoutMs: 5000 } },
            // Every answer fails the status check: the table's status failures column fills.
            { name: 'items', request: { url: `${target}/status/503`, timeoutMs: 5000, expectStatus: '200' } },
          ],
        },
        pattern: '2:8',
        regions: ['us-east-1'],
        thresholds: ['login.p95<5s', 'items.errors<1%'],
      },
    })
    t.equal(submitted.status, 201, JSON.stringify(submitted.body))
    const id = submitted.body.id as string

    const browser = await launch(t)
    const { page, problems, foreign } = await watchedPage(browser, plane.url)
    await page.setViewport(PHONE)
    await page.goto(`${plane.url}/#/rush/${encodeURIComponent(id)}`)
    await page.type('#key', key)
    await page.click('#sign-in-form button[type=submit]')
    await waitForData(page, 'view', "v === 'rush'")
    await waitForData(page, 'steps', 'v !== undefined')
    t.same(
      await page.$$eval('#rush-steps-table thead th', (cells) => cells.map((cell) => cell.textContent)),
      [
        'step',
        'hits',
        'errors',
        'timeouts',
        'status failures',
        'mean ms',
        'p50',
        'p95',
        'p99',
        'max',
        'share',
      ],
    )

    // Live: hits grow from the stream's step points before the end; no percentiles yet.
    await page.waitForFunction(
      () => {
        const cell = document.querySelector('#rush-steps-table tr[data-step="login"] td')
        return cell !== null && cell.textContent !== '0'
      },
      { polling: 'mutation', timeout: 90_000 },
    )
    const live = (await page.evaluate(stepTable)) as { state: string; rows: string[][] }
    t.same(
      live.rows.map((row) => row[0]),
      ['login', 'items', '(iterations)'],
    )
    if (live.state === 'live') {
      t.same(live.rows[0]!.slice(6, 10), ['–', '–', '–', '–'], 'no percentiles while it runs')
      t.match(live.rows[0]![5], /^\d/, 'but an exact mean')
    } else t.comment('the rush ended before the first look: the live state was not seen')

    // The end: the rush's own step summaries (percentiles from the merged part histograms).
    await waitForData(page, 'steps', "v === 'final'", 120_000)
    const final = (await page.evaluate(stepTable)) as { state: string; rows: string[][] }
    const view = await call(plane.url, 'GET', `/api/v2/rushes/${id}?timeline=false`, { key })
    const steps = view.body.transaction.steps as {
      name: string
      summary: { hits: number; latency: { p95: number } }
    }[]
    for (const [index, step] of steps.entries()) {
      const row = final.rows[index]!
      t.equal(row[0], step.name)
      t.equal(row[1], step.summary.hits.toLocaleString('en-US'), `${step.name}: hits as the API says`)
      t.equal(row[7], millis(step.summary.latency.p95), `${step.name}: p95 as the API says`)
      t.match(row[10], /%$/, `${step.name}: its share`)
    }
    t.ok(steps[1]!.summary.hits > 0)
    t.equal(final.rows[1]![4], final.rows[1]![1], 'items: every response failed its status check')
    t.match(final.rows[0]![7], /^[\d.]+$/, 'login has a p95')
    // The verdict shows the step thresholds like the others, a latency in ms.
    const verdict = await page.$$eval('#verdict-thresholds tbody tr', (rows) =>
      rows.map((row) => [...row.children].map((cell) => cell.textContent)),
    )
    t.match(verdict, [
      ['login.p95<5s', /ms$/, 'pass'],
      ['items.errors<1%', /%$/, 'fail'],
    ])
    t.equal(await horizontalOverflow(page), 0, 'phone: the step table scrolls in its box, not the page')
    await page.screenshot({ path: join(ARTIFACTS, 'rush-steps-phone.png'), fullPage: true })

    // The same rush's HTML report, from the API and from `status --api --report`: its steps.
    const served = await call(plane.url, 'GET', `/api/v2/rushes/${id}/report.html`, { key })
    t.equal(served.status, 200)
    const dir = mkdtempSync(join(tmpdir(), 'stampede-steps-'))
    process.env.STAMPEDE_API_KEY = key
    t.teardown(() => {
      delete process.env.STAMPEDE_API_KEY
    })
    const status = await runCli(['status', id, '--api', plane.url, '--report', join(dir, 's.html')])
    t.equal(status.code, 0, status.stderr)
    for (const [where, html] of [
      ['report.html', served.body as string],
      ['status --api --report', readFileSync(join(dir, 's.html'), 'utf8')],
    ] as const) {
      const data = reportData(html)
      t.same(
        data.transaction?.steps.map((step) => [step.name, step.summary.hits]),
        steps.map((step) => [step.name, step.summary.hits]),
        `${where}: the rush's steps`,
      )
      t.match(html, /<table class="steps">/, `${where}: the step table`)
    }

    t.same(problems, [], 'no console error, no CSP violation, no failed request')
    t.same(foreign, [], 'no request leaves the API’s origin')
  },
)
