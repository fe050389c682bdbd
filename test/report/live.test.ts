import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'
import t from 'tap'
import type { SecondRow } from '../../lib/report/model.js'
import { launchBrowser, NO_CHROMIUM } from '../harness/browser.js'

// biome-ignore lint/suspicious/noExplicitAny: browser globals inside page.evaluate
declare const document: any, window: any

const ROOT = fileURLToPath(new URL('../../', import.meta.url))

function row(t: number, statuses: Record<string, number>): SecondRow {
  const hits = Object.values(statuses).reduce((a, b) => a + b, 0)
  return {
    t,
    users: 10 + t,
    sent: hits,
    hits,
    errors: 0,
    timeouts: 0,
    dropped: 0,
    errorsByKind: {},
    statuses,
    txBytes: 0,
    rxBytes: 0,
    latency: {
      count: hits,
      min: 1,
      mean: 5 + t,
      p50: 4 + t,
      p90: 8 + t,
      p95: 9 + t,
      p99: 12 + t,
      max: 20 + t,
    },
  }
}

/**
 * The seam for a live page: the report's chart modules, mounted once and fed a model
 * that grows second by second, redraw in place; a chart whose series change (a status
 * code seen for the first time) is rebuilt.
 */
t.test('the charts follow a model that grows second by second', { skip: NO_CHROMIUM }, async (t) => {
  const bundle = await build({
    stdin: {
      contents: "import { mountCharts } from './web/report/mount.ts'\nwindow.mountCharts = mountCharts\n",
      resolveDir: ROOT,
      loader: 'ts',
    },
    bundle: true,
    format: 'iife',
    write: false,
    logLevel: 'silent',
  })
  const css = readFileSync(new URL('../../dist/web/report.css', import.meta.url), 'utf8')
  const browser = await launchBrowser()
  t.teardown(() => browser.close())
  const page = await browser.newPage()
  const errors: string[] = []
  page.on('pageerror', (error) => errors.push(String(error)))
  page.on('console', (message) => message.type() === 'error' && errors.push(message.text()))
  await page.setViewport({ width: 900, height: 700 })
  await page.setContent(
    `<style>${css}</style><main><div class="chart" data-chart="traffic"></div><div class="chart" data-chart="statuses"></div></main>` +
      `<script>${bundle.outputFiles[0]!.text}</script>`,
  )
  const rows = Array.from({ length: 10 }, (_, t) => row(t, t < 6 ? { 200: 50 } : { 200: 40, 503: 10 }))
  const steps = await page.evaluate((rows: SecondRow[]) => {
    const model = { seconds: [] as SecondRow[], regions: [], distribution: [] }
    const charts = window.mountCharts(document, model)
    const seen: { seconds: number; traffic: unknown; statuses: string[]; trafficPoints: number }[] = []
    let first: unknown
    for (const next of rows) {
      model.seconds.push(next)
      charts.update(model)
      const traffic = charts.drawn.get('traffic')
      first ??= traffic
      seen.push({
        seconds: model.seconds.length,
        traffic: traffic === first ? 'same chart' : 'new chart',
        trafficPoints: traffic.data[0].length,
        statuses: charts.drawn.get('statuses').series.map((series: { label: string }) => series.label),
      })
    }
    return seen
  }, rows)
  t.same(errors, [])
  t.same(
    steps.map((step) => step.trafficPoints),
    [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
    'a point more each second',
  )
  t.ok(
    steps.every((step) => step.traffic === 'same chart'),
    'the traffic chart is drawn once and its data replaced',
  )
  t.same(steps[5]!.statuses, ['time', 'HTTP 200'])
  t.same(steps[6]!.statuses, ['time', 'HTTP 503', 'HTTP 200'], 'a new status code joins the stack')
})
