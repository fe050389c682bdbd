import t from 'tap'
import {
  addPoint,
  clonePoint,
  ERROR_KINDS,
  emptyErrors,
  emptyPoint,
  mergeTimelines,
  sumTimeline,
  totalErrors,
} from '../../lib/timeline.js'
import { point } from '../helpers/points.js'

t.test('an empty point counts nothing, with a zero for every error kind', async (t) => {
  const empty = emptyPoint(7)
  t.equal(empty.t, 7)
  t.same(Object.keys(empty.errors).sort(), [...ERROR_KINDS].sort())
  t.equal(totalErrors(empty.errors), 0)
  t.same(empty.statuses, {})
  t.not(emptyPoint(1).errors, emptyPoint(1).errors, 'each point has its own error counts')
})

t.test('totalErrors adds up every kind', async (t) => {
  const errors = emptyErrors()
  ERROR_KINDS.forEach((kind, i) => {
    errors[kind] = i + 1
  })
  t.equal(totalErrors(errors), (ERROR_KINDS.length * (ERROR_KINDS.length + 1)) / 2)
})

t.test('addPoint', async (t) => {
  t.test('adds every counter of the source into the target and returns the target', async (t) => {
    const target = point(3, {
      concurrency: 2,
      sent: 10,
      hits: 9,
      errors: { connect: 1, status: 2 },
      timeouts: 1,
      dropped: 4,
      statuses: { 200: 7, 500: 2 },
      txBytes: 100,
      rxBytes: 1000,
      latencyCount: 9,
      latencySum: 900,
      latencyMin: 50,
      latencyMax: 300,
      connects: 2,
      connectSum: 40,
    })
    const source = point(3, {
      concurrency: 3,
      sent: 5,
      hits: 5,
      errors: { connect: 2, dns: 1 },
      timeouts: 2,
      dropped: 1,
      statuses: { 200: 4, 404: 1 },
      txBytes: 50,
      rxBytes: 500,
      latencyCount: 5,
      latencySum: 700,
      latencyMin: 20,
      latencyMax: 400,
      connects: 1,
      connectSum: 30,
    })
    const result = addPoint(target, source)
    t.equal(result, target)
    t.same(
      target,
      point(3, {
        concurrency: 5,
        sent: 15,
        hits: 14,
        errors: { connect: 3, status: 2, dns: 1 },
        timeouts: 3,
        dropped: 5,
        statuses: { 200: 11, 500: 2, 404: 1 },
        txBytes: 150,
        rxBytes: 1500,
        latencyCount: 14,
        latencySum: 1600,
        latencyMin: 20,
        latencyMax: 400,
        connects: 3,
        connectSum: 70,
      }),
    )
  })
  t.test('keeps the target latency extremes when the source has none', async (t) => {
    const target = point(0, { latencyCount: 2, latencySum: 30, latencyMin: 10, latencyMax: 20 })
    addPoint(target, point(0, { sent: 1 }))
    t.equal(target.latencyMin, 10, 'an empty source does not pull the minimum to zero')
    t.equal(target.latencyMax, 20)
  })
  t.test('takes the source latency extremes when the target has none', async (t) => {
    const target = emptyPoint(0)
    addPoint(target, point(0, { latencyCount: 1, latencySum: 80, latencyMin: 80, latencyMax: 80 }))
    t.equal(target.latencyMin, 80, 'the empty target minimum of zero does not stick')
    t.equal(target.latencyMax, 80)
  })
  t.test('leaves the source unchanged', async (t) => {
    const source = point(0, { hits: 2, statuses: { 200: 2 }, errors: { tls: 1 } })
    const before = structuredClone(source)
    addPoint(point(0, { hits: 1, statuses: { 200: 1 } }), source)
    t.same(source, before)
  })
})

t.test('clonePoint copies a point without sharing its counts', async (t) => {
  const original = point(4, {
    hits: 3,
    statuses: { 200: 3 },
    errors: { socket: 1 },
    latencyCount: 3,
    latencyMin: 5,
    latencyMax: 9,
  })
  const copy = clonePoint(original)
  t.same(copy, original)
  copy.statuses['200']!++
  copy.errors.socket++
  t.equal(original.statuses['200'], 3)
  t.equal(original.errors.socket, 1)
})

t.test('mergeTimelines', async (t) => {
  t.test('adds up the points of each second, in order of seconds', async (t) => {
    const a = [point(0, { hits: 1 }), point(1, { hits: 2 }), point(2, { hits: 3 })]
    const b = [point(2, { hits: 30 }), point(0, { hits: 10 })]
    const c = [point(1, { hits: 200 }), point(3, { hits: 400 })]
    const merged = mergeTimelines([a, b, c])
    t.same(
      merged.map((p) => [p.t, p.hits]),
      [
        [0, 11],
        [1, 202],
        [2, 33],
        [3, 400],
      ],
    )
  })
  t.test('leaves the input timelines unchanged', async (t) => {
    const a = [point(0, { hits: 1, statuses: { 200: 1 } })]
    const b = [point(0, { hits: 2, statuses: { 200: 2 } })]
    const before = structuredClone([a, b])
    mergeTimelines([a, b])
    t.same([a, b], before)
  })
  t.test('of nothing is an empty timeline', async (t) => {
    t.same(mergeTimelines([]), [])
    t.same(mergeTimelines([[], []]), [])
  })
})

t.test('sumTimeline', async (t) => {
  t.test('adds up every counter but keeps the peak concurrency', async (t) => {
    const total = sumTimeline([
      point(0, {
        concurrency: 10,
        hits: 5,
        errors: { dns: 1 },
        statuses: { 200: 5 },
        latencyCount: 5,
        latencyMin: 7,
        latencyMax: 90,
      }),
      point(1, {
        concurrency: 30,
        hits: 6,
        statuses: { 200: 4, 503: 2 },
        latencyCount: 6,
        latencyMin: 3,
        latencyMax: 60,
      }),
      point(2, {
        concurrency: 20,
        hits: 1,
        timeouts: 2,
        statuses: { 200: 1 },
        latencyCount: 1,
        latencyMin: 8,
        latencyMax: 8,
      }),
    ])
    t.equal(total.concurrency, 30, 'the peak, not the sum')
    t.equal(total.hits, 12)
    t.equal(total.timeouts, 2)
    t.equal(total.errors.dns, 1)
    t.same(total.statuses, { 200: 10, 503: 2 })
    t.equal(total.latencyMin, 3)
    t.equal(total.latencyMax, 90)
    t.equal(total.t, -1, 'a total belongs to no second')
  })
  t.test('of an empty timeline is an empty point', async (t) => {
    t.same(sumTimeline([]), emptyPoint(-1))
  })
})
