import t from 'tap'
import { createHistogram, recordMicros } from '../../lib/histogram.js'
import { summarize } from '../../lib/summary.js'
import type { Point } from '../../lib/timeline.js'
import { StepTable } from '../../web/dashboard/steps.js'
import { point } from '../helpers/points.js'

/** A step's point: `hits` responses of `ms` each, and the given failures. */
const step = (t: number, hits: number, ms: number, fields: Parameters<typeof point>[1] = {}): Point =>
  point(t, { hits, latencyCount: hits, latencySum: hits * ms * 1000, ...fields })

function second(t: number, login: Point, items: Point): Point {
  const whole = point(t, { hits: login.hits + items.hits })
  whole.steps = [login, items]
  whole.iterations = step(t, Math.min(login.hits, items.hits), 40)
  return whole
}

t.test('live: counts, exact means and shares add up second by second; no percentiles yet', async (t) => {
  const table = new StepTable(['login', 'items'])
  table.add(second(0, step(0, 10, 10), step(0, 10, 30, { errors: { status: 2 } })))
  table.add(second(1, step(1, 10, 20), step(1, 10, 30, { timeouts: 1, errors: { connect: 1 } })))
  table.add(second(1, step(1, 99, 99), step(1, 99, 99)))
  const [login, items, iterations] = table.lines()
  t.same(login, {
    name: 'login',
    hits: 20,
    errors: 0,
    timeouts: 0,
    statusFailures: 0,
    mean: 15,
    latency: null,
    share: 1 / 3,
  })
  t.same(items, {
    name: 'items',
    hits: 20,
    errors: 3,
    timeouts: 1,
    statusFailures: 2,
    mean: 30,
    latency: null,
    share: 2 / 3,
  })
  t.equal(iterations!.name, '(iterations)')
  t.equal(iterations!.hits, 20, 'a repeated second is not counted twice')
  t.equal(iterations!.share, null)
  t.equal(table.final, false)
})

t.test("final: the rush's own step summaries replace the running counts and bring percentiles", async (t) => {
  const table = new StepTable(['login', 'items'])
  table.add(second(0, step(0, 10, 10), step(0, 10, 30)))
  const histogram = (ms: number, n: number) => {
    const h = createHistogram()
    for (let i = 0; i < n; i++) recordMicros(h, ms * 1000)
    return h
  }
  const summaryOf = (points: Point[], ms: number, n: number) => summarize(points, histogram(ms, n), 2)
  table.finish({
    steps: [
      { name: 'login', summary: summaryOf([step(0, 12, 10)], 10, 12) },
      {
        name: 'items',
        summary: summaryOf([step(0, 12, 30, { timeouts: 3, errors: { status: 1 } })], 30, 12),
      },
    ],
    iterations: summaryOf([step(0, 12, 40)], 40, 12),
  })
  table.add(second(5, step(5, 100, 100), step(5, 100, 100)))
  const [login, items, iterations] = table.lines()
  t.equal(table.final, true)
  t.equal(login!.hits, 12, 'hits from the summary; a late second is ignored')
  t.equal(items!.timeouts, 3)
  t.equal(items!.errors, 1, 'errors apart from timeouts')
  t.equal(items!.statusFailures, 1)
  t.ok(login!.latency && Math.abs(login!.latency.p95 - 10) < 0.1, `login p95 ${login!.latency?.p95}`)
  t.ok(iterations!.latency && Math.abs(iterations!.latency.max - 40) < 0.1)
  t.ok(Math.abs(login!.share! - 0.25) < 0.001, `login share ${login!.share}`)
})
