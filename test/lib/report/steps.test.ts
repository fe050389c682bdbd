import t from 'tap'
import { createHistogram, mergeInto } from '../../../lib/histogram.js'
import { buildReport, type ReportInput } from '../../../lib/report/build.js'
import { renderCsv } from '../../../lib/report/csv.js'
import { renderReport } from '../../../lib/report/html.js'
import { renderJunit } from '../../../lib/report/junit.js'
import { SecondsCollector } from '../../../lib/report/seconds.js'
import { summarize } from '../../../lib/summary.js'
import { evaluateThresholds, parseThreshold } from '../../../lib/thresholds.js'
import { addPoint, clonePoint } from '../../../lib/timeline.js'
import { stepSummaries, summarizeTransaction } from '../../../lib/transaction/summary.js'
import { second } from './fixture.js'

/**
 * A two-step transaction over three seconds: `login` answers in 10 ms, `items` in 30 ms,
 * `items` fails its status check twice in second 1 and times out once in second 2. The
 * whole second's point is the sum of the steps', as the engines report it.
 */
function transactionInput(thresholds: string[]): ReportInput {
  const names = ['login', 'items']
  const parts = [createHistogram(), createHistogram(), createHistogram()]
  const collector = new SecondsCollector()
  for (let t = 0; t < 3; t++) {
    const login = second(
      t,
      Array.from({ length: 10 }, () => 10),
    )
    const items = second(
      t,
      Array.from({ length: 10 }, () => 30),
      t === 1 ? { errors: { status: 2 } } : t === 2 ? { timeouts: 1 } : {},
    )
    const iterations = second(
      t,
      Array.from({ length: 10 }, () => 40),
    )
    const whole = addPoint(clonePoint(login.point), items.point)
    whole.steps = [login.point, items.point]
    whole.iterations = iterations.point
    const histogram = createHistogram()
    mergeInto(histogram, login.histogram)
    mergeInto(histogram, items.histogram)
    mergeInto(parts[0]!, iterations.histogram)
    mergeInto(parts[1]!, login.histogram)
    mergeInto(parts[2]!, items.histogram)
    collector.add(whole, histogram)
  }
  const summary = summarize(collector.points, collector.histogram, 3)
  const transaction = summarizeTransaction(collector.points, parts, names, 3)
  return {
    model: 'rush',
    url: 'http://127.0.0.1:8080/login',
    pattern: '10:3',
    where: 'in process',
    startedAt: '2026-01-02T03:04:05.678Z',
    cutShort: false,
    summary,
    thresholds: evaluateThresholds(thresholds.map(parseThreshold), summary, stepSummaries(transaction)),
    seconds: collector.rows,
    histogram: collector.histogram,
    transaction,
  }
}

const assets = { script: '', css: '' }

t.test("the model carries each step's summary, its share of an iteration, and the iterations", async (t) => {
  const data = buildReport(transactionInput([]))
  const tx = data.transaction!
  t.same(
    tx.steps.map((step) => step.name),
    ['login', 'items'],
  )
  t.equal(tx.steps[0]!.summary.hits, 30)
  t.equal(tx.steps[1]!.summary.errorsByKind.status, 2)
  t.equal(tx.steps[1]!.summary.timeouts, 1)
  t.equal(tx.iterations.hits, 30, 'iterations: ten a second')
  // 30 × 10 ms against 30 × 30 ms: login takes a quarter of the time in requests.
  t.ok(Math.abs(tx.steps[0]!.share - 0.25) < 0.001, `login share ${tx.steps[0]!.share}`)
  t.ok(Math.abs(tx.steps[0]!.share + tx.steps[1]!.share - 1) < 1e-9, 'shares add up to one')
  t.same(data.seconds[1]!.steps, [
    { hits: 10, errors: 0, timeouts: 0, meanMs: 10 },
    { hits: 10, errors: 2, timeouts: 0, meanMs: 30 },
  ])
  t.equal(data.seconds[1]!.iterations, 10)
  t.equal(buildReport({ ...transactionInput([]), transaction: undefined }).transaction, undefined)
})

t.test('the HTML report shows the step table, the iterations line and per-step percentiles', async (t) => {
  const html = renderReport(buildReport(transactionInput([])), assets)
  const steps = /<table class="steps">[\s\S]*?<\/table>/.exec(html)?.[0] ?? ''
  t.match(steps, /<th scope="col">status failures<\/th>/)
  t.match(
    steps,
    /<span data-step="items">items<\/span><\/th><td>30<\/td><td>2 \(status 2\)<\/td><td>1<\/td><td>2<\/td><td>30\.02<\/td>/,
    'items: hits, errors by kind, timeouts, status failures, p50',
  )
  t.match(steps, /data-step="login">login<\/span><\/th><td>30<\/td><td>0<\/td>[\s\S]*?<td>25%<\/td><\/tr>/)
  t.match(steps, /data-step="\(iterations\)"/)
  t.match(
    html,
    /ran <strong data-figure="iterations">30<\/strong> iterations: <strong data-figure="iterations-complete">30<\/strong> complete \(10\/s; p50 40\.03 ms/,
  )
  const latency = /<table class="step-latency">[\s\S]*?<\/table>/.exec(html)?.[0] ?? ''
  t.match(
    latency,
    /<th scope="row">login<\/th>(<td>10(\.01)?<\/td>){8}<\/tr>/,
    'login: every percentile 10 ms (HDR bucket edges)',
  )
  t.match(html, /data-chart="step-mean"/, 'a chart of each step’s mean per second')
  t.match(html, /<tr><th scope="row">0:01<\/th><td>10<\/td><td>30<\/td><\/tr>/, 'and its table')
  t.notMatch(
    renderReport(buildReport({ ...transactionInput([]), transaction: undefined }), assets),
    /Steps|step-mean/,
  )
})

t.test('step thresholds sit in the verdict and in JUnit as test cases naming their step', async (t) => {
  const data = buildReport(transactionInput(['login.p95<20ms', 'items.errors<1%', 'p99<100ms']))
  t.same(
    data.thresholds.map((row) => [row.threshold, row.step, row.passed]),
    [
      ['login.p95<20ms', 'login', true],
      ['items.errors<1%', 'items', false],
      ['p99<100ms', undefined, true],
    ],
  )
  const html = renderReport(data, assets)
  t.match(html, /<code>items.errors&lt;1%<\/code><\/th><td>[\d.]+%<\/td><td><span class="fail">fail/)
  const xml = renderJunit(data)
  t.match(xml, /tests="4" failures="1"/)
  t.match(
    xml,
    /name="login.p95&lt;20ms"[^>]*>\s*<system-out>step login p95 was 10\.01 ms \(wanted below 20ms\)/,
  )
  t.match(xml, /name="items.errors&lt;1%"[^>]*>\s*<failure type="threshold" message="step items errors was/)
})

t.test('CSV: iterations and four columns per step after the statuses', async (t) => {
  const csv = renderCsv(buildReport(transactionInput([])))
  const [header, , row1] = csv.trim().split('\n')
  t.match(
    header!,
    /,status_200,iterations,login_hits,login_errors,login_timeouts,login_mean_ms,items_hits,items_errors,items_timeouts,items_mean_ms$/,
  )
  t.match(row1!, /,10,10,0,0,10,10,2,0,30$/)
  t.notMatch(renderCsv(buildReport({ ...transactionInput([]), transaction: undefined })), /iterations/)
})
