import t from 'tap'
import type { Point } from '../../lib/timeline.js'
import type { LoadJob } from '../../load/job.js'
import { LOCAL_POLICY } from '../../load/safety.js'
import { prepareTransaction } from '../../load/transaction/prepare.js'
import { startHeldTarget, stopAfterTheScheduleRanOut } from '../harness/held-target.js'
import { startTarget } from '../harness/target.js'

// The transaction's open model makes visitors (each a connection) as the single path opens
// connections (load/transaction/open.ts): its first milliseconds' before the start, then
// within the growth allowance, with arrivals past it waiting for a visitor free.

/** A one-step transaction against `url`, at `rate` arrivals/s for `seconds`. */
function openTransaction(url: string, rate: number, seconds: number): LoadJob {
  const request = { method: 'GET', url, headers: {}, timeoutMs: 10_000 }
  return {
    model: 'arrival-rate',
    request,
    transaction: { steps: [{ name: 'only', request }] },
    pattern: [{ start: rate, end: rate, duration: seconds }],
    share: { index: 0, of: 1 },
    policy: LOCAL_POLICY,
  }
}

t.test("the transaction's open model connects its first visitors before the start", async (t) => {
  const target = await startTarget()
  t.teardown(() => target.close())
  let started = 0
  // 4,000/s: 5 ms of it is 20 visitors, connected while the start is still 60 s away.
  const start = await prepareTransaction(openTransaction(target.url, 4000, 1), () => {}, undefined, {
    sendLag: () => started++,
  })
  const running = start(performance.now() + 60_000)
  while (target.connections < 20) await new Promise((resolve) => setImmediate(resolve))
  t.equal(target.connections, 20)
  t.equal(started, 0, 'no arrival started before the start')
  running.stop()
  await running.done
  t.equal(target.requests, 0)
})

t.test('past the growth allowance, arrivals wait for a visitor and all start, none early', async (t) => {
  const target = await startTarget()
  t.teardown(() => target.close())
  const points: Point[] = []
  const lags: number[] = []
  // 10,000 arrivals/s whose one step answers after 100 ms: a visitor per arrival would open
  // ~1,000 connections in the first 100 ms. Within the allowance (an eighth of those open per
  // 10 ms at most) far fewer open, and the arrivals past it wait for the first visitors free.
  const start = await prepareTransaction(
    openTransaction(`${target.url}/delay/100`, 10_000, 0.2),
    (point) => points.push(point),
    undefined,
    { sendLag: (ms) => lags.push(ms) },
  )
  await start(performance.now() + 50).done
  const sum = (field: 'sent' | 'hits' | 'dropped') => points.reduce((total, point) => total + point[field], 0)
  t.equal(sum('sent'), 2000, 'every arrival of the schedule started')
  t.equal(sum('hits'), 2000)
  t.equal(sum('dropped'), 0)
  t.equal(lags.length, 2000, 'one send lag per arrival')
  t.ok(
    lags.every((lag) => lag >= 0),
    'none started early',
  )
  t.ok(target.connections > 50, `visitors grew past those connected before the start (${target.connections})`)
  t.ok(target.connections < 800, `far fewer visitors than one per arrival in flight (${target.connections})`)
  t.ok(
    lags.some((lag) => lag > 50),
    'some arrivals waited for a visitor, their lag counted from their due time',
  )
})

t.test('a run stopped early drops the arrivals still waiting for a visitor', async (t) => {
  const target = await startHeldTarget()
  t.teardown(() => target.close())
  const points: Point[] = []
  const start = await prepareTransaction(openTransaction(target.url, 10_000, 1), (point) =>
    points.push(point),
  )
  const running = start(performance.now() + 20)
  // Stopped once 100 visitors have started: none answered, and the visitors growing by an
  // eighth per 10 ms from 50, hundreds of arrivals wait by then.
  while (target.requests < 100) await new Promise((resolve) => setImmediate(resolve))
  running.stop()
  target.release()
  await running.done
  const sum = (field: 'sent' | 'hits' | 'dropped') => points.reduce((total, point) => total + point[field], 0)
  t.ok(sum('dropped') > 0, `arrivals waiting were dropped (${sum('dropped')})`)
  t.equal(sum('sent'), target.requests, 'what started reached the target, nothing after the stop')
  t.equal(sum('hits'), sum('sent'), 'each answered once released')
  t.ok(sum('sent') <= target.connections, 'each started arrival had its own visitor')
})

t.test('a stop after the schedule ran out still drops the arrivals waiting for a visitor', async (t) => {
  const target = await startHeldTarget()
  t.teardown(() => target.close())
  const points: Point[] = []
  const start = await prepareTransaction(openTransaction(target.url, 10_000, 0.05), (point) =>
    points.push(point),
  )
  const totals = await stopAfterTheScheduleRanOut(start, target, points)
  t.ok(totals.dropped > 0, `the arrivals still waiting were dropped (${totals.dropped})`)
  t.equal(totals.sent + totals.dropped, 500, 'each arrival started or dropped')
  t.equal(totals.sent, target.requests)
  t.ok(
    totals.sent <= target.connections,
    'nothing started after the stop: each started arrival had its own visitor',
  )
})
