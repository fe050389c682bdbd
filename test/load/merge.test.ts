import t from 'tap'
import { createHistogram, type LatencyHistogram, recordMicros } from '../../lib/histogram.js'
import type { Point } from '../../lib/timeline.js'
import { SecondMerger } from '../../load/merge.js'
import { point } from '../helpers/points.js'

function histogramOf(...micros: number[]): LatencyHistogram {
  const histogram = createHistogram()
  for (const value of micros) recordMicros(histogram, value)
  return histogram
}

/** A merger over `sources` that records what it emits. */
function merger(sources: number) {
  const emitted: { point: Point; histogram: LatencyHistogram }[] = []
  const merge = new SecondMerger(sources, (point, histogram) => emitted.push({ point, histogram }))
  const seconds = () => emitted.map((e) => e.point.t)
  return { merge, emitted, seconds }
}

t.test('a second is emitted only once every source has reported it', async (t) => {
  const { merge, seconds } = merger(3)
  merge.add(0, point(0), histogramOf())
  merge.add(1, point(0), histogramOf())
  t.same(seconds(), [], 'two of three sources are not enough')
  merge.add(2, point(0), histogramOf())
  t.same(seconds(), [0])
})

t.test('seconds are emitted in order, however far ahead one source runs', async (t) => {
  const { merge, seconds } = merger(2)
  for (let s = 0; s < 4; s++) merge.add(0, point(s), histogramOf())
  t.same(seconds(), [], 'the slow source holds every second back')
  merge.add(1, point(0), histogramOf())
  t.same(seconds(), [0])
  merge.add(1, point(1), histogramOf())
  merge.add(1, point(2), histogramOf())
  t.same(seconds(), [0, 1, 2])
  merge.add(1, point(3), histogramOf())
  t.same(seconds(), [0, 1, 2, 3])
})

t.test('each second is emitted exactly once', async (t) => {
  const { merge, seconds } = merger(2)
  merge.add(0, point(0), histogramOf())
  merge.add(1, point(0), histogramOf())
  merge.finish(0)
  merge.finish(1)
  merge.finish(1)
  t.same(seconds(), [0])
})

t.test('the merged point adds up the sources and the histograms merge', async (t) => {
  const { merge, emitted } = merger(2)
  merge.add(
    0,
    point(0, {
      hits: 2,
      sent: 3,
      statuses: { 200: 2 },
      errors: { connect: 1 },
      latencyCount: 2,
      latencySum: 300,
      latencyMin: 100,
      latencyMax: 200,
    }),
    histogramOf(100, 200),
  )
  merge.add(
    1,
    point(0, {
      hits: 1,
      sent: 1,
      statuses: { 200: 1 },
      latencyCount: 1,
      latencySum: 50,
      latencyMin: 50,
      latencyMax: 50,
    }),
    histogramOf(50),
  )
  t.equal(emitted.length, 1)
  const { point: merged, histogram } = emitted[0]!
  t.same(
    merged,
    point(0, {
      hits: 3,
      sent: 4,
      statuses: { 200: 3 },
      errors: { connect: 1 },
      latencyCount: 3,
      latencySum: 350,
      latencyMin: 50,
      latencyMax: 200,
    }),
  )
  t.equal(histogram.totalCount, 3)
  t.equal(histogram.minNonZeroValue, 50)
  t.equal(histogram.maxValue, 200)
})

t.test('the merger does not change what the sources handed it', async (t) => {
  const { merge } = merger(2)
  const first = point(0, { hits: 2, statuses: { 200: 2 } })
  const histogram = histogramOf(100, 100)
  merge.add(0, first, histogram)
  merge.add(1, point(0, { hits: 5, statuses: { 200: 5 } }), histogramOf(7))
  t.same(first, point(0, { hits: 2, statuses: { 200: 2 } }))
  t.equal(histogram.totalCount, 2)
})

t.test('a finished source no longer holds the others back', async (t) => {
  const { merge, seconds, emitted } = merger(3)
  merge.add(0, point(0, { hits: 1 }), histogramOf(10))
  merge.add(1, point(0, { hits: 1 }), histogramOf(10))
  merge.add(0, point(1, { hits: 1 }), histogramOf(10))
  merge.add(1, point(1, { hits: 1 }), histogramOf(10))
  t.same(seconds(), [])
  merge.finish(2)
  t.same(seconds(), [0, 1], 'finishing the silent source releases the seconds the others reported')
  t.same(
    emitted.map((e) => e.point.hits),
    [2, 2],
  )
  merge.add(0, point(2), histogramOf())
  t.same(seconds(), [0, 1], 'a running source that has not reported still holds a second back')
  merge.add(1, point(2), histogramOf())
  t.same(seconds(), [0, 1, 2])
})

t.test('a source cut short counts for the seconds it reported, then stops counting', async (t) => {
  const { merge, emitted } = merger(2)
  merge.add(0, point(0, { hits: 1 }), histogramOf(10))
  merge.add(0, point(1, { hits: 1 }), histogramOf(10))
  merge.finish(0)
  t.same(emitted, [], 'the other source still holds second 0')
  merge.add(1, point(0, { hits: 10 }), histogramOf(10))
  merge.add(1, point(1, { hits: 10 }), histogramOf(10))
  merge.add(1, point(2, { hits: 10 }), histogramOf(10))
  t.same(
    emitted.map((e) => [e.point.t, e.point.hits]),
    [
      [0, 11],
      [1, 11],
      [2, 10],
    ],
  )
})

t.test('a second no source reported is skipped once every source has finished', async (t) => {
  const { merge, seconds } = merger(2)
  merge.add(0, point(0), histogramOf())
  merge.add(1, point(0), histogramOf())
  merge.add(0, point(2), histogramOf())
  merge.add(1, point(3), histogramOf())
  t.same(seconds(), [0], 'second 1 is missing')
  merge.finish(0)
  t.same(seconds(), [0])
  merge.finish(1)
  t.same(seconds(), [0, 2, 3])
})

t.test('nothing is emitted when no source reported anything', async (t) => {
  const { merge, seconds } = merger(2)
  merge.finish(0)
  merge.finish(1)
  t.same(seconds(), [])
})
