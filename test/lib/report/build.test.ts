import t from 'tap'
import { createHistogram, mergeInto, recordMicros } from '../../../lib/histogram.js'
import { buildReport, distribution, highlights } from '../../../lib/report/build.js'
import { SecondsCollector, secondRow } from '../../../lib/report/seconds.js'
import { addPoint, clonePoint } from '../../../lib/timeline.js'
import { sampleInput, sampleReport, sampleSeconds, second } from './fixture.js'

t.test("a second's percentiles come from that second's merged histogram, not from averages", async (t) => {
  // Two engines report the same second: one fast, one slow.
  const fast = second(
    7,
    Array.from({ length: 90 }, () => 10),
  )
  const slow = second(
    7,
    Array.from({ length: 10 }, () => 500),
  )
  const merged = { point: addPoint(clonePoint(fast.point), slow.point), histogram: createHistogram() }
  mergeInto(merged.histogram, fast.histogram)
  mergeInto(merged.histogram, slow.histogram)
  const row = secondRow(merged.point, merged.histogram)
  t.equal(row.latency?.count, 100)
  // HDR figures are bucket edges: within 0.1 % (3 significant digits).
  const near = (actual: number | undefined, expected: number, what: string) =>
    t.ok(
      actual !== undefined && Math.abs(actual - expected) <= expected * 0.001,
      `${what}: ${actual} ≈ ${expected}`,
    )
  near(row.latency?.p50, 10, 'p50 of all 100 responses')
  near(row.latency?.p90, 10, 'p90: the 90 fast ones')
  near(row.latency?.p95, 500, 'p95 is a slow response: 10 of 100 are slow')
  near(row.latency?.max, 500, 'max')
  // The mean of the two engines' p95s would say 255 ms; the mean is exact (sum / count).
  t.equal(row.latency?.mean, 59)
  t.equal(row.latency?.min, 10)
  t.equal(row.users, 0)
  t.same(row.statuses, { 200: 100 })
})

t.test('a second without responses has no latency, and its error kinds are the non-zero ones', async (t) => {
  const empty = second(3, [], { errors: { dns: 4 }, timeouts: 2 })
  const row = secondRow(empty.point, empty.histogram)
  t.equal(row.latency, null)
  t.same(row.errorsByKind, { dns: 4 })
  t.equal(row.errors, 4)
  t.equal(row.timeouts, 2)
})

t.test('the collector keeps every second in order and the merged histogram of all', async (t) => {
  const collector = new SecondsCollector()
  const all = createHistogram()
  for (const { point, histogram } of sampleSeconds()) {
    collector.add(point, histogram)
    mergeInto(all, histogram)
  }
  t.same(
    collector.rows.map((row) => row.t),
    [0, 1, 2, 3],
  )
  t.equal(collector.histogram.totalCount, all.totalCount)
  t.equal(collector.histogram.getValueAtPercentile(99), all.getValueAtPercentile(99))
})

t.test(
  'highlights: the first error and timeout with their users, the peak, the share that failed',
  async (t) => {
    const input = sampleInput()
    const h = highlights(input.seconds, input.summary)
    t.same(h.firstError, { t: 2, users: 30, count: 2 }, 'connect errors in second 2')
    t.same(h.firstTimeout, { t: 3, users: 40, count: 5 })
    t.same(h.peakHits, { t: 2, users: 30, count: 240 })
    t.equal(h.hitsPerDay, 240 * 86_400)
    // 720 hits + 2 connect errors + 5 timeouts ended; 2 + 3 (status) + 5 failed.
    t.equal(h.requests, 727)
    t.equal(h.failedRequests, 10)
    t.equal(h.failedShare, 10 / 727)
    const quiet = highlights([], { ...input.summary, errors: 0, requests: 0, errorRate: 0 })
    t.same([quiet.firstError, quiet.firstTimeout, quiet.peakHits, quiet.hitsPerDay], [null, null, null, 0])
  },
)

t.test('the percentile curve rises to the maximum, with the histogram’s own percentiles', async (t) => {
  const histogram = createHistogram()
  for (let i = 1; i <= 10_000; i++) recordMicros(histogram, i * 100)
  const curve = distribution(histogram)
  t.equal(curve[0]?.percentile, 0)
  t.equal(curve.at(-1)?.percentile, 100)
  t.equal(curve.at(-1)?.ms, Math.round(histogram.highestEquivalentValue(histogram.maxValue)) / 1000)
  for (let i = 1; i < curve.length; i++) {
    t.ok(curve[i]!.percentile > curve[i - 1]!.percentile, 'percentiles increase')
    t.ok(curve[i]!.ms >= curve[i - 1]!.ms, 'latency never falls')
  }
  for (const p of [90, 99, 99.9]) {
    const point = curve.find((candidate) => Math.abs(candidate.percentile - p) < 1e-6)
    t.ok(point, `${p} % is on the curve`)
    t.equal(point?.ms, Math.round(histogram.getValueAtPercentile(p)) / 1000)
  }
  t.ok(curve.length < 100, `a few dozen points (${curve.length})`)
  t.same(distribution(createHistogram()), [], 'no responses, no curve')
})

t.test('the report: verdict, thresholds with their measured values, regions only when several', async (t) => {
  const report = sampleReport(['p95<500ms', 'errors<1%'])
  t.equal(report.completed, true)
  t.equal(report.passed, false, 'errors were 1.4 %')
  t.same(
    report.thresholds.map((row) => [row.threshold, row.unit, row.passed]),
    [
      ['p95<500ms', 'ms', true],
      ['errors<1%', 'share', false],
    ],
  )
  t.equal(report.thresholds[1]!.actual, 10 / 727)
  t.same(report.regions, [])
  t.equal(report.seconds.length, 4)
  t.equal(report.summary.hits, 720)

  const unfinished = buildReport({ ...sampleInput(['p95<500ms']), unfinished: 'shard 2 lost' })
  t.equal(unfinished.completed, false)
  t.equal(unfinished.passed, false, 'a rush that did not finish does not pass')

  const input = sampleInput()
  const regional = buildReport({
    ...input,
    regions: [
      { name: 'eu-west-1', summary: input.summary, seconds: input.seconds },
      { name: 'us-east-1', summary: input.summary, seconds: input.seconds },
    ],
  })
  t.same(
    regional.regions.map((region) => region.name),
    ['eu-west-1', 'us-east-1'],
  )
  const single = buildReport({
    ...input,
    regions: [{ name: 'eu-west-1', summary: input.summary, seconds: [] }],
  })
  t.same(single.regions, [], 'one region: the whole rush is that region')
})
