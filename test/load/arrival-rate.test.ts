import t from 'tap'
import type { Point } from '../../lib/timeline.js'
import type { LoadJob } from '../../load/job.js'
import { prepareModel } from '../../load/model.js'
import { MODELS } from '../../load/models.js'
import { LOCAL_POLICY } from '../../load/safety.js'
import { startHeldTarget, stopAfterTheScheduleRanOut } from '../harness/held-target.js'
import { startTarget } from '../harness/target.js'

function openJob(url: string, rate: number, seconds: number): LoadJob {
  return {
    model: 'arrival-rate',
    request: { method: 'GET', url, headers: {}, timeoutMs: 10_000 },
    pattern: [{ start: rate, end: rate, duration: seconds }],
    share: { index: 0, of: 1 },
    policy: LOCAL_POLICY,
  }
}

t.test('the open model sends every scheduled request once, never before it is due', async (t) => {
  const target = await startTarget()
  t.teardown(() => target.close())
  const points: Point[] = []
  const lags: number[] = []
  const start = await prepareModel(
    openJob(target.url, 400, 1),
    MODELS['arrival-rate'],
    (point) => points.push(point),
    {
      sendLag: (ms) => lags.push(ms),
    },
  )
  await start(performance.now() + 50).done
  const sum = (field: 'sent' | 'hits' | 'dropped') => points.reduce((total, point) => total + point[field], 0)
  t.equal(sum('sent'), 400, 'every request of the schedule')
  t.equal(sum('hits'), 400)
  t.equal(sum('dropped'), 0)
  t.equal(target.requests, 400, 'the target saw them all')
  t.equal(lags.length, 400, 'one send lag per request')
  t.ok(
    lags.every((lag) => lag >= 0),
    'none sent early',
  )
})

t.test('the open model opens its first connections before the start', async (t) => {
  const target = await startTarget()
  t.teardown(() => target.close())
  let sent = 0
  // 4,000/s: 5 ms of it is 20 connections, opened while the start is still 60 s away.
  const start = await prepareModel(openJob(target.url, 4000, 1), MODELS['arrival-rate'], () => {}, {
    sendLag: () => sent++,
  })
  const running = start(performance.now() + 60_000)
  while (target.connections < 20) await new Promise((resolve) => setImmediate(resolve))
  t.equal(target.connections, 20)
  t.equal(sent, 0, 'nothing sent before the start')
  running.stop()
  await running.done
  t.equal(target.requests, 0)
})

t.test('past the connection growth allowance, due requests wait for one and are all sent', async (t) => {
  const target = await startTarget()
  t.teardown(() => target.close())
  const points: Point[] = []
  const lags: number[] = []
  // 10,000/s against answers after 100 ms needs about 1,000 connections: far more than may
  // open in one window, so requests wait for connections (and more open every 10 ms).
  const job = openJob(`${target.url}/delay/100`, 10_000, 0.2)
  const start = await prepareModel(job, MODELS['arrival-rate'], (point) => points.push(point), {
    sendLag: (ms) => lags.push(ms),
  })
  await start(performance.now() + 50).done
  const sum = (field: 'sent' | 'hits' | 'dropped') => points.reduce((total, point) => total + point[field], 0)
  t.equal(sum('sent'), 2000, 'every request of the schedule')
  t.equal(sum('hits'), 2000)
  t.equal(sum('dropped'), 0)
  t.equal(lags.length, 2000)
  // 5 ms of 10,000/s (50) open before the start; more opened as requests waited — one per
  // 10-ms window at the least (a busy machine), an eighth of those open when on schedule.
  t.ok(target.connections > 50, `connections grew past those opened before the start (${target.connections})`)
  t.ok(
    lags.every((lag) => lag >= 0),
    'none sent early',
  )
})

t.test('a stop after the schedule ran out still drops the requests waiting for a connection', async (t) => {
  const target = await startHeldTarget()
  t.teardown(() => target.close())
  const points: Point[] = []
  const start = await prepareModel(openJob(target.url, 10_000, 0.05), MODELS['arrival-rate'], (point) =>
    points.push(point),
  )
  const totals = await stopAfterTheScheduleRanOut(start, target, points)
  t.ok(totals.dropped > 0, `the requests still waiting were dropped (${totals.dropped})`)
  t.equal(totals.sent + totals.dropped, 500, 'each request sent or dropped')
  t.equal(totals.sent, target.requests)
  t.ok(totals.sent <= target.connections, 'nothing sent after the stop: one request per connection')
})
