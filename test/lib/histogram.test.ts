import t from 'tap'
import {
  createHistogram,
  decodeHistogram,
  encodeHistogram,
  type LatencyHistogram,
  mergeInto,
  recordMicros,
  summarizeHistogram,
} from '../../lib/histogram.js'
import { randomInt, seededRandom } from '../helpers/random.js'

const PERCENTILES = [0, 1, 10, 25, 50, 75, 90, 95, 99, 99.9, 99.99, 100]

/** Latencies spread over six orders of magnitude, as real runs have them. */
function latencies(seed: number, count: number): number[] {
  const random = seededRandom(seed)
  return Array.from({ length: count }, () => Math.round(10 ** (1 + random() * 6)))
}

function filled(values: number[]): LatencyHistogram {
  const histogram = createHistogram()
  for (const value of values) recordMicros(histogram, value)
  return histogram
}

/** What the bucket counts say: count, mean and percentiles, for exact comparison. */
function shape(histogram: LatencyHistogram) {
  return {
    count: histogram.totalCount,
    mean: histogram.mean,
    percentiles: PERCENTILES.map((p) => histogram.getValueAtPercentile(p)),
  }
}

t.test(
  'decoding an encoded histogram gives back exactly the same counts, mean and percentiles',
  async (t) => {
    const original = filled(latencies(1, 5000))
    const decoded = decodeHistogram(encodeHistogram(original))
    t.same(shape(decoded), shape(original))
    t.equal(encodeHistogram(decoded), encodeHistogram(original), 'and it encodes to the same text')
  },
)

t.test('decoding an encoded histogram gives back the same min and max', async (t) => {
  // The encoded form holds bucket counts only: a decoded histogram's max is the top of its
  // bucket and its min the bottom, while a histogram that recorded the values keeps the
  // exact extremes. So the max a run reports depends on whether its histograms crossed a
  // process boundary (up to 0.1% apart).
  const original = filled([5_000_001, 9_997_786])
  const decoded = decodeHistogram(encodeHistogram(original))
  // The encoding keeps bucket counts: raw extremes come back as bucket edges, so the
  // summary reports edges on both sides and agrees whatever path a histogram took.
  t.same(summarizeHistogram(decoded), summarizeHistogram(original), 'the summary survives the round trip')
  t.ok(
    Math.abs(decoded.maxValue - original.maxValue) <= original.maxValue * 0.001,
    'max stays within the histogram precision',
  )
})

t.test('an empty histogram survives the round trip empty', async (t) => {
  const decoded = decodeHistogram(encodeHistogram(createHistogram()))
  t.equal(decoded.totalCount, 0)
  t.same(summarizeHistogram(decoded).count, 0)
})

t.test('counts past 2^31 in one bucket survive encoding and merging', async (t) => {
  const big = createHistogram()
  big.recordValueWithCount(1500, 2 ** 32 + 7)
  const decoded = decodeHistogram(encodeHistogram(big))
  t.equal(decoded.totalCount, 2 ** 32 + 7)
  mergeInto(decoded, big)
  t.equal(decoded.totalCount, 2 ** 33 + 14)
  t.equal(decoded.getValueAtPercentile(50), big.getValueAtPercentile(50))
})

t.test('merging two histograms equals one histogram fed all the values', async (t) => {
  const a = latencies(2, 3000)
  const b = latencies(3, 1700).map((v) => v * 3)
  const merged = filled(a)
  mergeInto(merged, filled(b))
  const all = filled([...a, ...b])
  t.same(shape(merged), shape(all))
  t.equal(merged.maxValue, all.maxValue, 'the same max')
  t.equal(merged.minNonZeroValue, all.minNonZeroValue, 'the same min')
})

t.test('merging decoded histograms from many sources equals one histogram fed all the values', async (t) => {
  const random = seededRandom(4)
  const sources = Array.from({ length: 8 }, (_, i) => latencies(10 + i, randomInt(random, 0, 800)))
  const merged = createHistogram()
  for (const values of sources) mergeInto(merged, decodeHistogram(encodeHistogram(filled(values))))
  t.same(shape(merged), shape(filled(sources.flat())))
})

t.test('merging leaves the source unchanged', async (t) => {
  const source = filled([100, 200, 300])
  const before = shape(source)
  mergeInto(filled([5]), source)
  t.same(shape(source), before)
})

t.test('recordMicros rounds to whole microseconds and clamps into the trackable range', async (t) => {
  const histogram = createHistogram()
  recordMicros(histogram, 0)
  recordMicros(histogram, -20)
  recordMicros(histogram, 0.4)
  t.equal(histogram.maxValue, 1, 'zero, negative and sub-microsecond latencies count as 1 µs')
  recordMicros(histogram, 1e13)
  t.equal(histogram.totalCount, 4)
  t.ok(
    histogram.maxValue >= 3_600_000_000 && histogram.maxValue < 3_600_000_000 * 1.001,
    'a huge latency counts as one hour',
  )
  const rounding = createHistogram()
  recordMicros(rounding, 1.6)
  t.equal(rounding.maxValue, 2)
})

t.test('summarizeHistogram', async (t) => {
  t.test('reports an empty histogram as zeros', async (t) => {
    t.same(summarizeHistogram(createHistogram()), {
      count: 0,
      min: 0,
      mean: 0,
      p50: 0,
      p90: 0,
      p95: 0,
      p99: 0,
      p999: 0,
      max: 0,
    })
  })
  t.test('reports percentiles and extremes in milliseconds within the histogram precision', async (t) => {
    // 1 ms, 2 ms … 1000 ms, once each.
    const histogram = filled(Array.from({ length: 1000 }, (_, i) => (i + 1) * 1000))
    const summary = summarizeHistogram(histogram)
    t.equal(summary.count, 1000)
    const expected = { min: 1, mean: 500.5, p50: 500, p90: 900, p95: 950, p99: 990, p999: 999, max: 1000 }
    for (const [name, value] of Object.entries(expected)) {
      const actual = summary[name as keyof typeof expected]
      t.ok(Math.abs(actual - value) <= value * 0.001, `${name} is ${value} ms (got ${actual})`)
    }
  })
  t.test('keeps microsecond detail as fractional milliseconds', async (t) => {
    const summary = summarizeHistogram(filled([250, 250, 250]))
    t.equal(summary.p50, 0.25)
    t.equal(summary.min, 0.25)
    t.equal(summary.max, 0.25)
  })
  t.test('rounds to whole microseconds', async (t) => {
    const summary = summarizeHistogram(filled([1, 2, 4]))
    t.ok(Number.isInteger(summary.mean * 1000), `mean ${summary.mean} ms is whole microseconds`)
  })
})
