import t from 'tap'
import type { LoadJob } from '../../load/job.js'
import { WorkerPool } from '../../load/pool.js'
import { prepareRequest } from '../../load/request.js'
import { JOIN_GRACE_MS, type LateStart, lateStart, runLoad } from '../../load/run.js'
import { LOCAL_POLICY } from '../../load/safety.js'
import { startTarget } from '../harness/target.js'

const job: LoadJob = {
  model: 'rush',
  // Port 9 (discard) on loopback: nothing may be sent to it in these tests anyway.
  request: { method: 'GET', url: 'http://127.0.0.1:9/', headers: {}, timeoutMs: 1000 },
  pattern: [{ start: 2, end: 2, duration: 60 }],
  share: { index: 0, of: 1 },
  policy: LOCAL_POLICY,
}

for (const workers of [0, 2]) {
  t.test(
    `a run aborted before it starts sends nothing and returns at once (${workers} workers)`,
    async (t) => {
      const abort = new AbortController()
      abort.abort()
      const began = Date.now()
      const result = await runLoad(job, { workers, signal: abort.signal })
      // Well short of the 60 s pattern; load processes must still boot to hear the stop
      // (24 s for two beside a CPU hog on the shared machine).
      t.ok(Date.now() - began < 50_000, 'it did not run its 60 s pattern')
      t.equal(result.cutShort, true)
      t.equal(result.summary.sent, 0)
    },
  )
}

t.test(
  'lateStart: on time no shift; a little late, join in progress; later, the first whole second far enough ahead',
  async (t) => {
    t.same(lateStart(10_000, 9_000, 100), { startShift: 0, join: false, lateMs: 0 }, 'ready a second early')
    t.same(
      lateStart(10_000, 9_900, 100),
      { startShift: 0, join: false, lateMs: 0 },
      'just in time for the start message',
    )
    t.same(
      lateStart(10_000, 9_901, 100),
      { startShift: 0, join: true, lateMs: 0 },
      'too close for the start message: processes that hear it after second 0 join',
    )
    t.same(
      lateStart(10_000, 10_000, 0),
      { startShift: 0, join: false, lateMs: 0 },
      'in process, exactly on time',
    )
    t.same(lateStart(10_000, 10_001, 0), { startShift: 0, join: true, lateMs: 1 })
    t.same(
      lateStart(10_000, 10_000 + JOIN_GRACE_MS, 100),
      { startShift: 0, join: true, lateMs: JOIN_GRACE_MS },
      'late by the grace: still joins',
    )
    t.same(
      lateStart(10_000, 10_001 + JOIN_GRACE_MS, 100),
      { startShift: 1, join: false, lateMs: JOIN_GRACE_MS + 1 },
      'past it: the next whole second',
    )
    t.same(
      lateStart(10_000, 12_950, 100),
      { startShift: 4, join: false, lateMs: 2950 },
      '2.95 s late: second 4 (3 s is too close)',
    )
  },
)

// A shard claimed with no start lead is claimed after its start: waiting for the next whole
// second put its first request ~1 s after the rush was written. It joins in progress instead.
// In this process, and in a pooled load process (an engine's: a fresh fork is ready after
// the grace on this machine, and then shifts a whole second as above).
for (const workers of [0, 1]) {
  t.test(
    `a run a little late joins the rush in progress: what was due before is dropped, not sent (${workers ? 'pooled process' : 'in process'})`,
    async (t) => {
      const target = await startTarget()
      t.teardown(() => target.close())
      const pool = workers ? new WorkerPool({ size: 1, warmUp: false }) : undefined
      if (pool) {
        t.teardown(() => pool.close())
        pool.start()
        await pool.ready()
      }
      const open: LoadJob = {
        ...job,
        model: 'arrival-rate',
        request: { ...job.request, url: target.url },
        pattern: [{ start: 1000, end: 1000, duration: 1 }],
      }
      let told: LateStart | undefined
      // Second 0 began 200 ms ago (the load takes a little longer to be ready; the grace
      // leaves 300 ms for that on a busy machine).
      const result = await runLoad(open, {
        workers,
        ...(pool && { pool }),
        startAtEpoch: Date.now() - 200,
        onStart: (start) => {
          told = start
        },
      })
      t.equal(told?.join, true, 'told it joins')
      t.ok((told?.lateMs ?? 0) >= 200, `${Math.round(told?.lateMs ?? 0)} ms late`)
      t.equal(result.startShift, 0, 'no whole-second shift')
      t.same(
        result.timeline.map((p) => p.t),
        [0],
        'the one second of the pattern, on the shared clock',
      )
      const { sent, dropped } = result.summary
      t.equal(sent + dropped, 1000, 'every request of the pattern sent or dropped, none twice')
      t.ok(dropped >= 200, `the ${dropped} due before the join are dropped`)
      t.ok(sent > 0, `the ${sent} due after it are sent`)
      t.equal(target.count, sent, 'the target saw exactly the requests sent: no burst of the missed ones')
    },
  )
}

t.test(
  'a closed-model run a little late joins with its users at the pattern level of the moment',
  async (t) => {
    const target = await startTarget()
    t.teardown(() => target.close())
    const rush: LoadJob = {
      ...job,
      request: { ...job.request, url: target.url },
      pattern: [{ start: 2, end: 2, duration: 2 }],
    }
    const result = await runLoad(rush, { workers: 0, startAtEpoch: Date.now() - 200 })
    t.equal(result.startShift, 0)
    t.same(
      result.timeline.map((p) => p.t),
      [0, 1],
    )
    t.ok(
      result.timeline.every((p) => p.concurrency === 2 && p.hits > 0),
      'both seconds ran with both users',
    )
    t.equal(result.summary.hits, target.count)
  },
)

// The race behind a demo rush that "ran in both regions and sent nothing": load processes
// ready only after the rush's whole (short) pattern was over. Joining the rush's clock that
// late skipped every second; a run later than the join grace shifts to a later whole second
// and runs them all.
for (const workers of [0, 1]) {
  t.test(
    `a run whose load is ready after its whole pattern still runs it, seconds on the shared clock (${workers} workers)`,
    async (t) => {
      const target = await startTarget()
      t.teardown(() => target.close())
      const late: LoadJob = {
        ...job,
        request: { ...job.request, url: target.url },
        pattern: [{ start: 2, end: 2, duration: 2 }],
      }
      const began = Date.now()
      const seen: number[] = []
      let shiftSeen: number | undefined
      const result = await runLoad(late, {
        workers,
        // Second 0 was 2.5 s ago: the 2-second pattern is over before the load is ready.
        startAtEpoch: began - 2500,
        onStart: ({ startShift }) => {
          t.same(seen, [], 'the start is told before any second')
          shiftSeen = startShift
        },
        onSecond: (point) => seen.push(point.t),
      })
      const shift = result.startShift
      t.ok(shift >= 3, `shifted ${shift} s: past the 2.5 s already gone`)
      t.equal(shiftSeen, shift)
      t.same(
        result.timeline.map((p) => p.t),
        Array.from({ length: shift + 2 }, (_, t) => t),
        'every second of the shared clock once, in order',
      )
      t.same(
        seen,
        result.timeline.map((p) => p.t),
      )
      t.ok(
        result.timeline.slice(0, shift).every((p) => p.sent === 0 && p.concurrency === 0),
        'the seconds spent getting ready are empty',
      )
      t.ok(
        result.timeline.slice(shift).every((p) => p.hits > 0 && p.concurrency === 2),
        'each second of the pattern ran with its two users',
      )
      t.equal(result.summary.hits, target.count, 'the hits are what the target counted')
      t.equal(result.cutShort, false)
      t.equal(result.summary.duration, shift + 2)
    },
  )
}

t.test('a run ready in time starts on the shared clock without a shift', async (t) => {
  const target = await startTarget()
  t.teardown(() => target.close())
  const onTime: LoadJob = {
    ...job,
    request: { ...job.request, url: target.url },
    pattern: [{ start: 1, end: 1, duration: 1 }],
  }
  const startAt = Date.now() + 400
  const result = await runLoad(onTime, { workers: 0, startAtEpoch: startAt })
  t.equal(result.startShift, 0)
  t.same(
    result.timeline.map((p) => p.t),
    [0],
  )
  t.ok(target.arrivals[0]! >= startAt - 5, 'nothing before second 0')
})

// "sent 248.76 kB" and "0 opened" against a refused port: bytes counted when a request was
// started, not when it reached a socket.
for (const workers of [0, 1]) {
  t.test(
    `bytes sent are what reached a socket: none to a refused port, exact to a target (${workers} workers)`,
    async (t) => {
      const closed = await startTarget()
      const refusedUrl = closed.url
      await closed.close()
      const short: LoadJob = { ...job, pattern: [{ start: 2, end: 2, duration: 1 }] }
      const refused = await runLoad({ ...short, request: { ...job.request, url: refusedUrl } }, { workers })
      t.ok(refused.summary.sent > 0, `${refused.summary.sent} requests tried`)
      t.ok(refused.summary.errorsByKind.connect > 0, 'refused: connect errors')
      t.equal(refused.summary.connects, 0, 'no connection opened')
      t.equal(refused.summary.txBytes, 0, 'no byte sent')

      const target = await startTarget()
      t.teardown(() => target.close())
      const request = { ...job.request, url: target.url, headers: { 'x-stampede-test': 'bytes' } }
      const served = await runLoad({ ...short, request }, { workers })
      t.ok(served.summary.hits > 0)
      t.equal(served.summary.hits, target.count)
      // prepareRequest's size is checked against the bytes undici writes in request.test.ts.
      t.equal(served.summary.txBytes, target.count * prepareRequest(request).bytes, 'every request, exactly')
    },
  )
}
