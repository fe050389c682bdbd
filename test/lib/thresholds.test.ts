import t from 'tap'
import { UsageError } from '../../lib/errors.js'
import type { LatencySummary } from '../../lib/histogram.js'
import type { Summary } from '../../lib/summary.js'
import { evaluateThresholds, parseThreshold, type Threshold } from '../../lib/thresholds.js'
import { emptyErrors } from '../../lib/timeline.js'

function summaryWith(
  fields: Partial<Omit<Summary, 'latency'>> & { latency?: Partial<LatencySummary> } = {},
): Summary {
  const { latency, ...rest } = fields
  return {
    duration: 10,
    peakConcurrency: 1,
    requests: 0,
    sent: 0,
    hits: 0,
    hitsPerSecond: 0,
    errors: 0,
    errorsByKind: emptyErrors(),
    errorRate: 0,
    timeouts: 0,
    dropped: 0,
    statuses: {},
    txBytes: 0,
    rxBytes: 0,
    connects: 0,
    connectMean: 0,
    ...rest,
    latency: { count: 0, min: 0, mean: 0, p50: 0, p90: 0, p95: 0, p99: 0, p999: 0, max: 0, ...latency },
  }
}

/** Whether the one threshold `text` passes on `summary`. */
function passes(text: string, summary: Summary): boolean {
  return evaluateThresholds([parseThreshold(text)], summary)[0]!.passed
}

t.test('parseThreshold', async (t) => {
  const forms: [string, Omit<Threshold, 'source'>][] = [
    ['p95<500ms', { metric: 'p95', operator: '<', value: 500, rate: false }],
    ['p99<=1s', { metric: 'p99', operator: '<=', value: 1000, rate: false }],
    ['errors<1%', { metric: 'errors', operator: '<', value: 0.01, rate: true }],
    ['errors<10', { metric: 'errors', operator: '<', value: 10, rate: false }],
    ['timeouts<5%', { metric: 'timeouts', operator: '<', value: 0.05, rate: true }],
    ['timeouts<5', { metric: 'timeouts', operator: '<', value: 5, rate: false }],
    ['dropped<=2%', { metric: 'dropped', operator: '<=', value: 0.02, rate: true }],
    ['hits/s>100', { metric: 'hits/s', operator: '>', value: 100, rate: false }],
    ['rps>=100', { metric: 'hits/s', operator: '>=', value: 100, rate: false }],
    ['hits>=5000', { metric: 'hits', operator: '>=', value: 5000, rate: false }],
    ['mean<200', { metric: 'mean', operator: '<', value: 200, rate: false }],
    ['avg<200', { metric: 'mean', operator: '<', value: 200, rate: false }],
    ['p99.9<2s', { metric: 'p99.9', operator: '<', value: 2000, rate: false }],
    ['p999<2s', { metric: 'p99.9', operator: '<', value: 2000, rate: false }],
    ['p50<1.5s', { metric: 'p50', operator: '<', value: 1500, rate: false }],
    ['min>250us', { metric: 'min', operator: '>', value: 0.25, rate: false }],
    ['max<3000', { metric: 'max', operator: '<', value: 3000, rate: false }],
    ['p90>0', { metric: 'p90', operator: '>', value: 0, rate: false }],
  ]
  for (const [text, expected] of forms) {
    t.test(`reads "${text}"`, async (t) => {
      t.same(parseThreshold(text), { source: text, ...expected })
    })
  }
  t.test('ignores spaces and letter case around the parts', async (t) => {
    t.same(parseThreshold(' P95 <= 500 MS '), {
      source: ' P95 <= 500 MS ',
      metric: 'p95',
      operator: '<=',
      value: 500,
      rate: false,
    })
    t.same(parseThreshold('Errors < 2 %').value, 0.02)
    t.same(parseThreshold('RPS>=10').metric, 'hits/s')
  })
  t.test('rejects text that is not a threshold, with an example of one', async (t) => {
    for (const bad of [
      '',
      'p95',
      'p95<',
      '<500',
      'p95=500',
      'p95<<500',
      'p95<fast',
      'p95<-5',
      'p95<500 ms ms',
      '95p<1',
      'p95<500min',
    ]) {
      t.throws(
        () => parseThreshold(bad),
        new UsageError(`invalid threshold "${bad}" (expected e.g. p95<500ms, errors<1%, hits/s>100)`),
        JSON.stringify(bad),
      )
    }
  })
  t.test('rejects a percentage on a latency', async (t) => {
    t.throws(
      () => parseThreshold('p95<5%'),
      new UsageError('threshold "p95<5%": p95 is a latency, not a percentage'),
    )
  })
  t.test('rejects a time unit on a count', async (t) => {
    t.throws(
      () => parseThreshold('errors<5ms'),
      new UsageError('threshold "errors<5ms": errors takes a count or a percentage'),
    )
    t.throws(() => parseThreshold('timeouts<1s'), {
      name: 'UsageError',
      message: /timeouts takes a count or a percentage/,
    })
  })
  t.test('rejects any unit on a throughput', async (t) => {
    t.throws(
      () => parseThreshold('hits/s>100%'),
      new UsageError('threshold "hits/s>100%": hits/s takes a plain number'),
    )
    t.throws(() => parseThreshold('rps>5s'), { name: 'UsageError', message: /rps takes a plain number/ })
  })
  t.test('rejects an unknown metric and lists the known ones', async (t) => {
    t.throws(() => parseThreshold('latency<500ms'), {
      name: 'UsageError',
      code: 'STAMPEDE_USAGE',
      message: /^threshold "latency<500ms": unknown metric "latency" \(use p50, .*hits\/s\)$/,
    })
    t.throws(() => parseThreshold('p97<1s'), { message: /unknown metric "p97"/ })
  })
})

t.test('evaluateThresholds', async (t) => {
  t.test('judges a latency at the boundary by its operator', async (t) => {
    const summary = summaryWith({ latency: { p95: 500 } })
    t.notOk(passes('p95<500ms', summary), 'p95 of 500 ms fails p95<500ms')
    t.ok(passes('p95<=500ms', summary), 'p95 of 500 ms passes p95<=500ms')
    t.ok(passes('p95<500.001', summary))
    t.notOk(passes('p95>500', summary))
    t.ok(passes('p95>=500', summary))
    t.ok(passes('p95<0.6s', summary))
  })
  t.test('reads each latency metric from its own field', async (t) => {
    const summary = summaryWith({
      latency: { min: 1, mean: 2, p50: 3, p90: 4, p95: 5, p99: 6, p999: 7, max: 8 },
    })
    const actuals = evaluateThresholds(
      ['min<0', 'mean<0', 'avg<0', 'p50<0', 'p90<0', 'p95<0', 'p99<0', 'p99.9<0', 'p999<0', 'max<0'].map(
        parseThreshold,
      ),
      summary,
    ).map((result) => result.actual)
    t.same(actuals, [1, 2, 2, 3, 4, 5, 6, 7, 7, 8])
  })
  t.test('judges a latency in seconds as milliseconds', async (t) => {
    t.ok(passes('p99<=1s', summaryWith({ latency: { p99: 1000 } })))
    t.notOk(passes('p99<=1s', summaryWith({ latency: { p99: 1000.001 } })))
    t.notOk(passes('p99.9<2s', summaryWith({ latency: { p999: 2000 } })))
    t.ok(passes('p99.9<2s', summaryWith({ latency: { p999: 1999.999 } })))
  })
  t.test('judges errors as a share of requests with a percentage', async (t) => {
    t.notOk(
      passes('errors<1%', summaryWith({ requests: 100, errors: 1, errorRate: 1 / 100 })),
      '1 error in 100 fails errors<1%',
    )
    t.ok(
      passes('errors<=1%', summaryWith({ requests: 100, errors: 1, errorRate: 1 / 100 })),
      '1 error in 100 passes errors<=1%',
    )
    t.ok(passes('errors<1%', summaryWith({ requests: 1000, errors: 9, errorRate: 9 / 1000 })))
    const result = evaluateThresholds(
      [parseThreshold('errors<1%')],
      summaryWith({ requests: 200, errors: 3, errorRate: 3 / 200 }),
    )[0]!
    t.equal(result.actual, 0.015, 'the actual value is the share, 0..1')
    t.notOk(result.passed)
  })
  t.test('judges errors as a count without a percentage', async (t) => {
    const summary = summaryWith({ requests: 100000, errors: 10, errorRate: 10 / 100000 })
    t.notOk(passes('errors<10', summary), '10 errors fail errors<10, however many requests')
    t.ok(passes('errors<=10', summary))
    t.ok(passes('errors<11', summary))
  })
  t.test('judges a percentage exactly at the boundary however the percentage is written', async (t) => {
    // 7 errors in 1000 requests is exactly 0.7%; 11 in 1000 exactly 1.1%.
    const seven = summaryWith({ requests: 1000, errors: 7, errorRate: 7 / 1000 })
    t.ok(passes('errors<=0.7%', seven), '7 in 1000 passes errors<=0.7%')
    t.notOk(passes('errors<0.7%', seven), '7 in 1000 fails errors<0.7%')
    const eleven = summaryWith({ requests: 1000, errors: 11, errorRate: 11 / 1000 })
    t.notOk(passes('errors<1.1%', eleven), '11 in 1000 fails errors<1.1%')
    t.ok(passes('errors<=1.1%', eleven), '11 in 1000 passes errors<=1.1%')
  })
  t.test('judges timeouts as a share of requests, dropped as a share of all that were due', async (t) => {
    const summary = summaryWith({ requests: 100, timeouts: 5, dropped: 11.111111111111111 })
    const [timeouts, dropped] = evaluateThresholds(
      [parseThreshold('timeouts<5%'), parseThreshold('dropped<=10%')],
      summary,
    )
    t.equal(timeouts!.actual, 0.05)
    t.notOk(timeouts!.passed, '5 timeouts in 100 fail timeouts<5%')
    t.equal(Number(dropped!.actual.toFixed(12)), 0.1)
    t.ok(dropped!.passed, 'dropped that make 10% of all that were due pass dropped<=10%')
  })
  t.test('judges timeouts and dropped as counts without a percentage', async (t) => {
    const summary = summaryWith({ requests: 90, timeouts: 5, dropped: 10 })
    t.notOk(passes('timeouts<5', summary))
    t.ok(passes('timeouts<6', summary))
    t.ok(passes('dropped<=10', summary))
  })
  t.test('judges shares of an empty run as zero', async (t) => {
    const empty = summaryWith()
    t.ok(passes('errors<1%', empty))
    t.ok(passes('timeouts<1%', empty))
    t.ok(passes('dropped<1%', empty))
  })
  t.test('judges throughput at the boundary', async (t) => {
    const summary = summaryWith({ hits: 1000, hitsPerSecond: 100 })
    t.notOk(passes('hits/s>100', summary), '100 hits/s fail hits/s>100')
    t.ok(passes('rps>=100', summary), '100 hits/s pass rps>=100')
    t.ok(passes('hits>=1000', summary))
    t.notOk(passes('hits>1000', summary))
  })
  t.test('returns one result per threshold, in order, with the threshold and the actual value', async (t) => {
    const thresholds = ['p95<500ms', 'errors<10', 'hits/s>100'].map(parseThreshold)
    const results = evaluateThresholds(
      thresholds,
      summaryWith({ errors: 3, hitsPerSecond: 50, latency: { p95: 200 } }),
    )
    t.same(results, [
      { threshold: thresholds[0], actual: 200, passed: true },
      { threshold: thresholds[1], actual: 3, passed: true },
      { threshold: thresholds[2], actual: 50, passed: false },
    ])
    t.same(evaluateThresholds([], summaryWith()), [])
  })
})
