import t from 'tap'
import { createHistogram, recordMicros } from '../../lib/histogram.js'
import { summarize } from '../../lib/summary.js'
import { point } from '../helpers/points.js'

t.test('summarize', async (t) => {
  const timeline = [
    point(0, {
      concurrency: 4,
      sent: 50,
      hits: 40,
      errors: { status: 5, connect: 2 },
      timeouts: 3,
      statuses: { 200: 35, 500: 5 },
      txBytes: 500,
      rxBytes: 4000,
      connects: 4,
      connectSum: 4000,
    }),
    point(1, {
      concurrency: 8,
      sent: 60,
      hits: 58,
      errors: { socket: 1, refused: 1 },
      dropped: 6,
      statuses: { 200: 58 },
      txBytes: 600,
      rxBytes: 5800,
      connects: 1,
      connectSum: 3500,
    }),
  ]
  const histogram = createHistogram()
  for (let i = 0; i < 98; i++) recordMicros(histogram, 2000)
  const summary = summarize(timeline, histogram, 2)

  t.test('counts a request as a hit, a transport error or a timeout', async (t) => {
    t.equal(summary.hits, 98)
    t.equal(summary.requests, 98 + 2 + 1 + 1 + 3, 'hits + connect, socket and refused errors + timeouts')
    t.equal(summary.sent, 110)
  })
  t.test('counts status failures among errors without counting their requests twice', async (t) => {
    t.equal(summary.errors, 5 + 2 + 1 + 1 + 3, 'every error kind plus timeouts')
    t.same(summary.errorsByKind, {
      dns: 0,
      connect: 2,
      tls: 0,
      socket: 1,
      parse: 0,
      status: 5,
      refused: 1,
      other: 0,
      extract: 0,
    })
    t.equal(summary.errorRate, 12 / 105)
  })
  t.test('keeps dropped requests apart from requests', async (t) => {
    t.equal(summary.dropped, 6)
  })
  t.test('reports hits per second over the duration and the peak concurrency', async (t) => {
    t.equal(summary.hitsPerSecond, 49)
    t.equal(summary.peakConcurrency, 8)
    t.equal(summary.duration, 2)
  })
  t.test('adds up statuses, bytes and connects; the connect mean is in milliseconds', async (t) => {
    t.same(summary.statuses, { 200: 93, 500: 5 })
    t.equal(summary.txBytes, 1100)
    t.equal(summary.rxBytes, 9800)
    t.equal(summary.connects, 5)
    t.equal(summary.connectMean, 1.5, '7500 µs over 5 connects')
    t.equal(summary.timeouts, 3)
  })
  t.test('takes latency from the histogram, in milliseconds', async (t) => {
    t.equal(summary.latency.count, 98)
    t.equal(summary.latency.p50, 2)
  })
})

t.test('a run with no requests has zero rates, not NaN', async (t) => {
  const summary = summarize([], createHistogram(), 0)
  t.equal(summary.requests, 0)
  t.equal(summary.errorRate, 0)
  t.equal(summary.hitsPerSecond, 0)
  t.equal(summary.connectMean, 0)
  t.equal(summary.latency.count, 0)
})

t.test('a run of only timeouts has an error rate of one', async (t) => {
  const summary = summarize([point(0, { timeouts: 4 })], createHistogram(), 1)
  t.equal(summary.requests, 4)
  t.equal(summary.errorRate, 1)
})
