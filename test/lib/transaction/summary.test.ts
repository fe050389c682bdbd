import t from 'tap'
import { createHistogram, recordMicros } from '../../../lib/histogram.js'
import { evaluateThresholds, parseThreshold } from '../../../lib/thresholds.js'
import { emptyPoint, type Point } from '../../../lib/timeline.js'
import { stepSummaries, summarizeTransaction } from '../../../lib/transaction/summary.js'

function point(t: number, hits: number, extract = 0): Point {
  const p = emptyPoint(t)
  p.hits = hits
  p.sent = hits
  p.errors.extract = extract
  return p
}

t.test('thresholds may name a step; p99.9 stays a metric', async (t) => {
  t.same(parseThreshold('login.p95<300ms'), {
    source: 'login.p95<300ms',
    metric: 'p95',
    operator: '<',
    value: 300,
    rate: false,
    step: 'login',
  })
  t.equal(parseThreshold('step2.errors<1%').step, 'step2')
  t.equal(parseThreshold('step2.errors<1%').value, 0.01)
  t.equal(parseThreshold('p99.9<5ms').step, undefined)
  t.equal(parseThreshold('p99.9<5ms').metric, 'p99.9')
  t.equal(parseThreshold('login.p99.9<5ms').metric, 'p99.9')
  t.throws(() => parseThreshold('login.nope<5'), /unknown metric "nope"/)
})

t.test(
  'a transaction summary: each step and the iterations from the points inside the timeline',
  async (t) => {
    const histograms = [createHistogram(), createHistogram(), createHistogram()]
    recordMicros(histograms[0]!, 9000)
    recordMicros(histograms[1]!, 2000)
    recordMicros(histograms[2]!, 7000)
    const timeline = [0, 1].map((second) => {
      const whole = point(second, 5)
      whole.steps = [point(second, 3), point(second, 2, second === 1 ? 1 : 0)]
      whole.iterations = point(second, 2)
      whole.exhausted = second
      return whole
    })
    const summary = summarizeTransaction(timeline, histograms, ['login', 'list'], 2)
    t.equal(summary.iterations.hits, 4)
    t.equal(summary.exhausted, 1)
    t.same(
      summary.steps.map((step) => [step.name, step.summary.hits, step.summary.errors]),
      [
        ['login', 6, 0],
        ['list', 4, 1],
      ],
    )
    t.equal(
      summary.steps[1]!.summary.requests,
      4,
      'an extraction failure is a hit that failed, not a lost request',
    )
    const results = evaluateThresholds(
      [parseThreshold('list.errors<10%'), parseThreshold('login.p50<3ms'), parseThreshold('list.p50<3ms')],
      summary.iterations,
      stepSummaries(summary),
    )
    t.same(
      results.map((result) => result.passed),
      [false, true, false],
    )
    t.equal(results[0]!.actual, 0.25)
    t.equal(evaluateThresholds([parseThreshold('gone.p50<1s')], summary.iterations, {})[0]!.passed, false)
  },
)
