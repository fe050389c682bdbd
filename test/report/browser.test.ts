import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import t from 'tap'
import type { ReportData } from '../../lib/report/model.js'
import { startBendingTarget } from '../harness/bending-target.js'
import { chartsOnPage, launchBrowser, NO_CHROMIUM, openOffline } from '../harness/browser.js'
import { runCli } from '../harness/cli.js'

// Code run inside the page (page.evaluate) sees the browser's globals; they are untyped
// here because the tests are type-checked without the DOM library (it clashes with Node's
// stream types).
// biome-ignore lint/suspicious/noExplicitAny: browser globals inside page.evaluate
declare const document: any, window: any, getComputedStyle: any

/** Screenshots land here (gitignored): a CI run keeps them as artifacts. */
const ARTIFACTS = fileURLToPath(new URL('../../.artifacts/', import.meta.url))

const VIEWPORTS = [
  { name: 'desktop', width: 1280, height: 900 },
  { name: 'phone', width: 390, height: 844, isMobile: true },
]

const numberIn = (text: string | null | undefined): number => Number((text ?? '').replace(/[^0-9.-]/g, ''))

t.test(
  'the HTML report opens offline in a real browser and every chart draws',
  { skip: NO_CHROMIUM },
  async (t) => {
    const target = await startBendingTarget()
    t.teardown(() => target.close())
    const dir = mkdtempSync(join(tmpdir(), 'stampede-report-'))
    const files = { report: join(dir, 'report.html'), json: join(dir, 'result.json') }
    const run = await runCli([
      'rush',
      target.url,
      '--pattern',
      '1-40:6,40:2',
      '--timeout',
      '250ms',
      '--expect-status',
      '200',
      '-T',
      'p95<1s',
      '-T',
      'errors<1%',
      '--report',
      files.report,
      '--json',
      files.json,
      '-q',
    ])
    t.equal(run.code, 99, `errors<1% fails: every 40th answer is a 503 (stderr: ${run.stderr})`)
    const json = JSON.parse(readFileSync(files.json, 'utf8'))
    t.ok(json.summary.hits > 200, `real load (${json.summary.hits} hits)`)
    t.ok(json.summary.timeouts > 0, 'some requests timed out')

    mkdirSync(ARTIFACTS, { recursive: true })
    const browser = await launchBrowser()
    t.teardown(() => browser.close())
    const url = pathToFileURL(files.report).href

    for (const viewport of VIEWPORTS) {
      const { page, requests, errors } = await openOffline(browser, url, viewport)
      await page.waitForFunction(() => document.documentElement.dataset.charts !== undefined, {
        timeout: 15_000,
      })

      t.same(requests, [], `${viewport.name}: no request left the page`)
      t.same(errors, [], `${viewport.name}: no console error`)

      // Every chart has a canvas on which its series' own colours were drawn.
      const charts = await chartsOnPage(page)
      t.same(
        charts.map((chart) => chart.id),
        ['traffic', 'latency', 'bend', 'statuses', 'distribution'],
        'the five charts of a one-region rush',
      )
      for (const chart of charts) {
        t.ok(chart.canvas, `${viewport.name}: ${chart.id} has a canvas`)
        t.ok(
          Math.max(0, ...chart.painted) > 60,
          `${viewport.name}: ${chart.id} drew its series (${chart.painted})`,
        )
        t.ok(chart.width <= viewport.width, `${viewport.name}: ${chart.id} fits the width (${chart.width})`)
      }
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)
      t.ok(overflow <= 0, `${viewport.name}: the page does not scroll sideways (${overflow} px)`)

      // The figures shown are the JSON summary's.
      const embedded = await page.evaluate(
        () => JSON.parse(document.getElementById('stampede-report-data')!.textContent!) as ReportData,
      )
      t.same(embedded.summary, json.summary, 'the embedded data is the --json summary')
      const text = (selector: string) => page.$eval(selector, (element) => element.textContent)
      t.equal(numberIn(await text('[data-figure=requests]')), json.summary.requests, 'requests')
      t.equal(numberIn(await text('[data-summary=hits]')), json.summary.hits, 'hits')
      t.equal(numberIn(await text('[data-summary=timeouts]')), json.summary.timeouts, 'timeouts')
      t.equal(
        numberIn(await text('[data-figure=peak-concurrency]')),
        json.summary.peakConcurrency,
        'peak users',
      )
      for (const name of ['p50', 'p95', 'p99', 'max'] as const) {
        const shown = numberIn(await text(`[data-latency=${name}]`))
        t.ok(
          Math.abs(shown - json.summary.latency[name]) <= 0.5,
          `${name}: ${shown} shows ${json.summary.latency[name]}`,
        )
      }
      // Percentages show two decimals: within half a hundredth of a percent.
      const share = numberIn(await text('[data-figure=failed-share]'))
      t.ok(Math.abs(share - json.summary.errorRate * 100) <= 0.0051, `share of failed requests (${share}%)`)
      const peak = Math.max(...json.timeline.map((point: { hits: number }) => point.hits))
      t.equal(numberIn(await text('[data-figure=peak-hits]')), peak, 'peak hits/s is the busiest second')
      t.equal(numberIn(await text('[data-figure=hits-per-day]')), peak * 86_400, 'extrapolated to a day')
      const hitsColumn = await page.$$eval(
        'table.per-second.traffic tbody tr td:nth-child(3)',
        (cells: { textContent: string | null }[]) => cells.map((cell) => cell.textContent),
      )
      t.equal(hitsColumn.length, json.timeline.length, 'the table has a row per second')
      t.equal(
        hitsColumn.reduce((sum, cell) => sum + numberIn(cell), 0),
        json.summary.hits,
        'its hits add up to the summary',
      )
      t.match(await text('[data-verdict]'), /Failed/)
      const measured = /errors<1%\s*([\d.]+)%\s*fail/.exec((await text('table.thresholds')) ?? '')?.[1]
      t.ok(
        Math.abs(Number(measured) - json.summary.errorRate * 100) <= 0.0051,
        `errors<1% failed with the measured share (${measured}%)`,
      )

      await page.screenshot({ path: join(ARTIFACTS, `report-${viewport.name}.png`), fullPage: true })
      await page.close()
    }
  },
)

t.test(
  'a rush that got no response still makes a report that opens cleanly',
  { skip: NO_CHROMIUM },
  async (t) => {
    // A port nothing listens on: every request is refused (connect errors), none answered.
    const target = await startBendingTarget()
    const url = target.url
    await target.close()
    const dir = mkdtempSync(join(tmpdir(), 'stampede-report-'))
    const report = join(dir, 'refused.html')
    const run = await runCli(['rush', url, '--pattern', '2:2', '--workers', '0', '--report', report, '-q'])
    t.equal(run.code, 0, `no thresholds: the rush is done (stderr: ${run.stderr})`)
    const browser = await launchBrowser()
    t.teardown(() => browser.close())
    const { page, requests, errors } = await openOffline(browser, pathToFileURL(report).href, {
      width: 1280,
      height: 900,
    })
    await page.waitForFunction(() => document.documentElement.dataset.charts !== undefined, {
      timeout: 15_000,
    })
    t.same(requests, [])
    t.same(errors, [])
    const empty = await page.$$eval(
      '[data-chart][data-empty]',
      (elements: { dataset: { chart: string } }[]) => elements.map((element) => element.dataset.chart),
    )
    t.same(empty, ['latency', 'bend', 'distribution'], 'charts of latencies say there is nothing to draw')
    const charts = await chartsOnPage(page)
    const traffic = charts.find((chart) => chart.id === 'traffic')!
    t.ok(Math.max(...traffic.painted) > 60, `the errors are drawn (${traffic.painted})`)
    t.match(
      await page.$eval('.highlights', (element: { textContent: string }) => element.textContent),
      /First error at/,
    )
  },
)

t.test(
  "a transaction's report shows its step table, per-step percentiles and step thresholds",
  { skip: NO_CHROMIUM },
  async (t) => {
    const target = await startBendingTarget()
    t.teardown(() => target.close())
    const dir = mkdtempSync(join(tmpdir(), 'stampede-report-'))
    const files = { report: join(dir, 'steps.html'), json: join(dir, 'steps.json') }
    // Two URLs in a row: a transaction of two steps (step1, step2), blitz's way.
    const run = await runCli([
      'rush',
      '--pattern',
      '2:3',
      '--workers',
      '0',
      '-T',
      'step1.p95<5s',
      '-T',
      'step2.errors<=100%',
      '--report',
      files.report,
      '--json',
      files.json,
      '-q',
      new URL('/one', target.url).href,
      new URL('/two', target.url).href,
    ])
    t.equal(run.code, 0, `the step thresholds hold (stderr: ${run.stderr})`)
    const json = JSON.parse(readFileSync(files.json, 'utf8'))
    const steps = json.transaction.steps as {
      name: string
      summary: { hits: number; latency: { p95: number } }
    }[]
    t.same(
      steps.map((step) => step.name),
      ['step1', 'step2'],
    )
    t.ok(steps[0]!.summary.hits > 0, `real load (${steps[0]!.summary.hits} step1 hits)`)

    const browser = await launchBrowser()
    t.teardown(() => browser.close())
    for (const viewport of VIEWPORTS) {
      const { page, requests, errors } = await openOffline(
        browser,
        pathToFileURL(files.report).href,
        viewport,
      )
      await page.waitForFunction(() => document.documentElement.dataset.charts !== undefined, {
        timeout: 15_000,
      })
      t.same(requests, [], `${viewport.name}: no request left the page`)
      t.same(errors, [], `${viewport.name}: no console error`)
      const charts = await chartsOnPage(page)
      t.same(
        charts.map((chart) => chart.id),
        ['traffic', 'latency', 'bend', 'statuses', 'step-mean', 'distribution'],
        'a chart of the steps’ means',
      )
      const stepMean = charts.find((chart) => chart.id === 'step-mean')!
      t.ok(
        Math.max(0, ...stepMean.painted) > 60,
        `${viewport.name}: step-mean drew its series (${stepMean.painted})`,
      )
      const rows = (await page.$$eval(
        'table.steps tbody tr',
        (trs: { children: { textContent: string }[] }[]) =>
          trs.map((tr) => [...tr.children].map((cell) => cell.textContent)),
      )) as string[][]
      t.same(
        rows.map((row) => row[0]),
        ['step1', 'step2', '(iterations)'],
        `${viewport.name}: a row per step and the iterations`,
      )
      for (const [index, step] of steps.entries()) {
        t.equal(numberIn(rows[index]![1]), step.summary.hits, `${step.name}: hits as --json says`)
        t.ok(
          Math.abs(numberIn(rows[index]![6]) - step.summary.latency.p95) <= 0.5,
          `${step.name}: p95 ${rows[index]![6]} shows ${step.summary.latency.p95}`,
        )
      }
      const shares = rows.slice(0, 2).map((row) => numberIn(row[9]))
      t.ok(Math.abs(shares[0]! + shares[1]! - 100) <= 0.02, `the shares add up (${shares})`)
      t.match(
        await page.$eval('table.thresholds', (element: { textContent: string }) => element.textContent),
        /step1\.p95<5s\s*[\d.]+ ms\s*pass/,
        'the step threshold in the verdict, measured in ms',
      )
      t.equal(
        await page.$$eval('table.step-latency tbody tr', (trs: unknown[]) => trs.length),
        2,
        'per-step percentiles',
      )
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)
      t.ok(overflow <= 0, `${viewport.name}: the page does not scroll sideways (${overflow} px)`)
      await page.screenshot({ path: join(ARTIFACTS, `report-steps-${viewport.name}.png`), fullPage: true })
      await page.close()
    }
  },
)
