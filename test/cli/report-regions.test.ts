import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import t from 'tap'
import { chartsOnPage, launchBrowser, NO_CHROMIUM, openOffline } from '../harness/browser.js'
import { runCli } from '../harness/cli.js'
import { cleanups, startCouch, uniquePrefix } from '../harness/couch.js'
import { migrateRegions, startEngine } from '../harness/plane.js'
import { reportData } from '../harness/report.js'
import { startTarget } from '../harness/target.js'

// biome-ignore lint/suspicious/noExplicitAny: a browser global inside page.evaluate
declare const document: any

const ARTIFACTS = fileURLToPath(new URL('../../.artifacts/', import.meta.url))

/** The operator's path over two regions: the report splits the rush by region. */
t.test('rush --couch over two regions reports each region; status --report writes the same', async (t) => {
  const later = cleanups(t)
  const prefix = uniquePrefix()
  const east = await startCouch({ prefix })
  later(() => east.stop())
  const west = await startCouch({ prefix })
  later(() => west.stop())
  const target = await startTarget(4)
  later(() => target.close())
  await migrateRegions({ 'us-east-1': east, 'us-west-1': west }, prefix)
  for (const [url, id, region] of [
    [east.url, 'east-1', 'us-east-1'],
    [west.url, 'west-1', 'us-west-1'],
  ] as const) {
    const engine = await startEngine(url, prefix, id, region)
    later(() => engine.engine.stop())
  }
  const dir = mkdtempSync(join(tmpdir(), 'stampede-regions-'))
  const file = (name: string) => join(dir, name)
  const couchArgs = ['--couch', east.url, '--prefix', prefix]
  const run = await runCli([
    'rush',
    `${target.url}/`,
    '-p',
    '2-10:3',
    ...couchArgs,
    '--regions',
    'us-east-1,us-west-1',
    '-T',
    'errors<1%',
    '--report',
    file('rush.html'),
    '--json',
    file('rush.json'),
    '-q',
  ])
  t.equal(run.code, 0, `stderr: ${run.stderr}`)
  const json = JSON.parse(readFileSync(file('rush.json'), 'utf8'))
  const data = reportData(readFileSync(file('rush.html'), 'utf8'))
  t.same(data.summary, json.summary, 'the report shows the merged summary')
  t.same(
    data.regions.map((region) => region.name),
    ['us-east-1', 'us-west-1'],
  )
  t.equal(
    data.regions.reduce((sum, region) => sum + region.summary.hits, 0),
    json.summary.hits,
    "the regions' hits add up to the rush's",
  )
  for (const region of data.regions) {
    t.ok(region.summary.hits > 0, `${region.name} sent load`)
    t.same(
      region.seconds.map((row) => row.t),
      [0, 1, 2],
      `${region.name}: every second once`,
    )
    t.ok(region.summary.latency.p95 > 0)
  }
  for (const [i, row] of data.seconds.entries()) {
    t.equal(
      data.regions.reduce((sum, region) => sum + (region.seconds[i]?.hits ?? 0), 0),
      row.hits,
      `second ${i}: the regions' hits add up`,
    )
  }

  const id = /rush (\S+), 2 shards/.exec(json.where)?.[1]
  const status = await runCli([
    'status',
    id!,
    ...couchArgs,
    '--report',
    file('status.html'),
    '--junit',
    file('j.xml'),
  ])
  t.equal(status.code, 0, status.stderr)
  const reread = reportData(readFileSync(file('status.html'), 'utf8'))
  t.same(reread.summary, data.summary, 'status --report: the same result, read back from CouchDB')
  t.same(reread.regions, data.regions, 'and the same regions')
  t.same(reread.thresholds, data.thresholds, "judged on the rush's own thresholds")
  t.equal(reread.completed, true)
  t.match(
    readFileSync(file('j.xml'), 'utf8'),
    /<testcase classname="stampede.thresholds" name="errors&lt;1%"/,
  )

  if (NO_CHROMIUM) {
    t.comment(`browser check skipped: ${NO_CHROMIUM}`)
    return
  }
  const browser = await launchBrowser()
  later(() => browser.close())
  const { page, requests, errors } = await openOffline(browser, pathToFileURL(file('rush.html')).href, {
    width: 1280,
    height: 900,
  })
  await page.waitForFunction(() => document.documentElement.dataset.charts !== undefined, { timeout: 15_000 })
  t.same(requests, [])
  t.same(errors, [])
  const charts = await chartsOnPage(page)
  t.same(
    charts.map((chart) => chart.id),
    ['traffic', 'latency', 'bend', 'statuses', 'region-hits', 'region-p95', 'distribution'],
  )
  for (const chart of charts) t.ok(Math.max(0, ...chart.painted) > 60, `${chart.id} drew (${chart.painted})`)
  const regionSeries = charts.find((chart) => chart.id === 'region-hits')!.painted.filter((n) => n > 30)
  t.equal(regionSeries.length, 2, 'a line per region')
  mkdirSync(ARTIFACTS, { recursive: true })
  await page.screenshot({ path: join(ARTIFACTS, 'report-regions.png'), fullPage: true })
})
