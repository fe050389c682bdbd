import t from 'tap'
import type { LatencyHistogram } from '../../lib/histogram.js'
import type { Point } from '../../lib/timeline.js'
import { Recorder } from '../../load/recorder.js'

// Times are performance.now()-style milliseconds, passed explicitly: no clock is read.
const START = 5_000

function recorder(durationSeconds: number) {
  const emitted: { point: Point; histogram: LatencyHistogram }[] = []
  const rec = new Recorder(START, durationSeconds, (point, histogram) => emitted.push({ point, histogram }))
  const seconds = () => emitted.map((e) => e.point.t)
  const at = (t: number) => emitted.find((e) => e.point.t === t)!
  return { rec, emitted, seconds, at }
}

/** Milliseconds into the run. */
const ms = (offset: number) => START + offset

t.test('remembers when second 0 starts', async (t) => {
  t.equal(recorder(3).rec.startPerf, START)
})

t.test('a request counts in the second it ended; a boundary belongs to the next second', async (t) => {
  const { rec, at } = recorder(3)
  rec.hit(ms(0), 100, 200, 10, true)
  rec.hit(ms(999.999), 100, 200, 10, true)
  rec.hit(ms(1000), 100, 200, 10, true)
  rec.hit(ms(2500), 100, 200, 10, true)
  rec.finish(false)
  t.same([at(0).point.hits, at(1).point.hits, at(2).point.hits], [2, 1, 1])
})

t.test('rolling emits each second that ended, in order, empty ones included', async (t) => {
  const { rec, seconds, emitted } = recorder(10)
  rec.roll(ms(500))
  t.same(seconds(), [], 'nothing has ended yet')
  rec.roll(ms(1000))
  t.same(seconds(), [0])
  rec.roll(ms(4200))
  t.same(seconds(), [0, 1, 2, 3])
  rec.roll(ms(4300))
  t.same(seconds(), [0, 1, 2, 3], 'rolling within a second emits nothing more')
  t.ok(emitted.every((e) => e.point.hits === 0 && e.histogram.totalCount === 0))
})

t.test('a hit records its status, bytes, latency and whether the status passed', async (t) => {
  const { rec, at } = recorder(2)
  rec.hit(ms(10), 1500, 200, 300, true)
  rec.hit(ms(20), 500, 200, 300, true)
  rec.hit(ms(30), 2500, 503, 100, false)
  rec.finish(false)
  const { point, histogram } = at(0)
  t.equal(point.hits, 3)
  t.same(point.statuses, { 200: 2, 503: 1 })
  t.equal(point.errors.status, 1, 'a failed status assertion is a status error')
  t.equal(point.rxBytes, 700)
  t.same([point.latencyCount, point.latencySum, point.latencyMin, point.latencyMax], [3, 4500, 500, 2500])
  t.equal(histogram.totalCount, 3)
  t.equal(histogram.minNonZeroValue, 500)
  t.equal(histogram.maxValue, 2500)
})

t.test('each second has its own histogram', async (t) => {
  const { rec, at } = recorder(2)
  rec.hit(ms(10), 100, 200, 0, true)
  rec.hit(ms(1010), 900, 200, 0, true)
  rec.hit(ms(1020), 800, 200, 0, true)
  rec.finish(false)
  t.equal(at(0).histogram.totalCount, 1)
  t.equal(at(1).histogram.totalCount, 2)
  t.equal(at(1).histogram.minNonZeroValue, 800)
  t.not(at(0).histogram, at(1).histogram)
})

t.test('sends, errors, timeouts, drops and connects count in their second', async (t) => {
  const { rec, at } = recorder(2)
  rec.sent(ms(1))
  rec.wrote(ms(1), 120)
  rec.sent(ms(2))
  rec.wrote(ms(2), 120)
  rec.connected(3000)
  rec.error(ms(3), 'connect', 0)
  rec.error(ms(4), 'socket', 40)
  rec.timeout(ms(5), 25)
  rec.dropped(ms(6))
  rec.sent(ms(999))
  // Written once its connection came up, in the next second: its bytes count there.
  rec.wrote(ms(1001), 120)
  rec.dropped(ms(1002))
  rec.finish(false)
  const first = at(0).point
  t.same([first.sent, first.txBytes], [3, 240], 'bytes count when written, not when a request starts')
  t.same([first.connects, first.connectSum], [1, 3000])
  t.same([first.errors.connect, first.errors.socket, first.timeouts, first.dropped], [1, 1, 1, 1])
  t.equal(first.rxBytes, 65, 'bytes received before an error or timeout count too')
  t.equal(first.hits, 0)
  const second = at(1).point
  t.same([second.sent, second.txBytes, second.dropped], [0, 120, 1])
})

t.test(
  'a second keeps the highest concurrency seen and the next starts from the current level',
  async (t) => {
    const { rec, at } = recorder(3)
    rec.concurrency(5)
    rec.concurrency(12)
    rec.concurrency(7)
    rec.roll(ms(1000))
    rec.concurrency(3)
    rec.roll(ms(2000))
    rec.finish(false)
    t.equal(at(0).point.concurrency, 12, 'the peak of second 0')
    t.equal(at(1).point.concurrency, 7, 'second 1 starts at the level second 0 ended with')
    t.equal(at(2).point.concurrency, 3)
  },
)

t.test('requests after the last second count in the last second', async (t) => {
  const { rec, seconds, at } = recorder(3)
  rec.hit(ms(2500), 100, 200, 0, true)
  rec.hit(ms(3000), 100, 200, 0, true)
  rec.timeout(ms(4100), 0)
  rec.error(ms(60_000), 'other', 0)
  rec.roll(ms(90_000))
  t.same(seconds(), [0, 1], 'rolling never passes the last second')
  rec.finish(false)
  t.same(seconds(), [0, 1, 2])
  const last = at(2).point
  t.same([last.hits, last.timeouts, last.errors.other], [2, 1, 1])
})

t.test('a time before the start counts in second 0', async (t) => {
  const { rec, at } = recorder(1)
  rec.sent(ms(-250))
  rec.finish(false)
  t.equal(at(0).point.sent, 1)
})

t.test('finish(false) emits every second up to the end exactly once', async (t) => {
  const { rec, seconds, at } = recorder(5)
  rec.hit(ms(1200), 100, 200, 0, true)
  rec.roll(ms(1500))
  t.same(seconds(), [0])
  rec.finish(false)
  t.same(seconds(), [0, 1, 2, 3, 4])
  t.equal(at(1).point.hits, 1)
  t.ok(
    [2, 3, 4].every((s) => at(s).point.hits === 0),
    'the seconds never reached are empty',
  )
  rec.finish(false)
  rec.finish(true)
  rec.roll(ms(100_000))
  t.same(seconds(), [0, 1, 2, 3, 4], 'finishing again or rolling emits nothing more')
})

t.test('finish(true) stops at the current second', async (t) => {
  const { rec, seconds } = recorder(10)
  rec.hit(ms(2500), 100, 200, 0, true)
  rec.finish(true)
  t.same(seconds(), [0, 1, 2])
  rec.finish(false)
  t.same(seconds(), [0, 1, 2], 'a later finish(false) does not add the rest')
})

t.test('a fractional duration covers its last partial second', async (t) => {
  const { rec, seconds } = recorder(2.5)
  rec.finish(false)
  t.same(seconds(), [0, 1, 2])
})

t.test('a zero duration still has one second', async (t) => {
  const { rec, seconds } = recorder(0)
  rec.hit(ms(5000), 1, 200, 0, true)
  rec.finish(false)
  t.same(seconds(), [0])
})

t.test('nothing is recorded after finish', async (t) => {
  const { rec, emitted } = recorder(1)
  rec.hit(ms(100), 100, 200, 0, true)
  rec.finish(false)
  const last = emitted.at(-1)!.point
  const before = structuredClone(last)
  rec.hit(ms(200), 100, 200, 0, true)
  rec.sent(ms(200))
  rec.wrote(ms(200), 50)
  rec.error(ms(200), 'socket', 0)
  t.same(last, before, 'the emitted last point is unchanged')
  t.equal(emitted.length, 1)
})
