import t from 'tap'
import { headStartMs } from '../../daemon/decide.js'
import { silentLogger } from '../../daemon/log.js'
import { SampleWriter } from '../../daemon/samples.js'
import { DATA_WAIT_MS, renewEveryMs, ShardRun, type ShardRunContext } from '../../daemon/shard-run.js'
import { ManualClock } from '../../lib/clock.js'
import type { ShardDoc } from '../../lib/documents.js'
import { createHistogram } from '../../lib/histogram.js'
import { claim } from '../../lib/shard-state.js'
import { summarize } from '../../lib/summary.js'
import { emptyPoint, type Point } from '../../lib/timeline.js'
import type { LoadJob } from '../../load/job.js'
import type { runLoad } from '../../load/run.js'
import { MemoryDb } from '../helpers/memory-db.js'

const T0 = Date.UTC(2026, 0, 1)
const START = T0 + 10_000
const LEASE = 3000
/** The in-process head start (`--workers 0`). */
const HEAD = headStartMs(0)

/** A load that reports one second per second of the clock, from the rush's start, for `seconds`. */
function fakeLoad(clock: ManualClock, seconds: number, calls: number[]): typeof runLoad {
  return async (_job, options = {}) => {
    calls.push(clock.now())
    const timeline: Point[] = []
    const startAt = options.startAtEpoch ?? clock.now()
    await new Promise<void>((resolve) => {
      const timers = Array.from({ length: seconds }, (_, k) =>
        clock.after(startAt + (k + 1) * 1000 - clock.now(), () => {
          const point = { ...emptyPoint(k), hits: 10 }
          timeline.push(point)
          options.onSecond?.(point, createHistogram())
          if (k === seconds - 1) resolve()
        }),
      )
      options.signal?.addEventListener('abort', () => {
        for (const timer of timers) timer.cancel()
        resolve()
      })
    })
    const histogram = createHistogram()
    return {
      timeline,
      histogram,
      summary: summarize(timeline, histogram, timeline.length),
      cutShort: false,
      workers: 0,
      startShift: 0,
    }
  }
}

async function setUp(t: { teardown(fn: () => unknown): void }) {
  const clock = new ManualClock(T0)
  const db = new MemoryDb('dispatch')
  const queued = {
    _id: 'shard:r:0',
    type: 'shard',
    rush: 'r',
    n: 0,
    region: 'us-east-1',
    model: 'rush',
    request: { method: 'GET', url: 'http://127.0.0.1:1/' },
    pattern: [{ start: 1, end: 1, duration: 3 }],
    share: { index: 0, of: 1 },
    startAt: START,
    connections: 1,
    state: 'queued',
  } as ShardDoc
  const claimed = claim(queued, 'i-1', T0, LEASE)
  const { rev } = await db.scope.insert(claimed)
  db.writes.length = 0
  const samples = new SampleWriter({
    engine: 'i-1',
    region: 'us-east-1',
    bootId: 'b',
    clock,
    write: async (docs) => docs.map((doc) => ({ id: doc._id, rev: '1-s' })),
  })
  samples.start()
  t.teardown(() => samples.stop())
  const calls: number[] = []
  const context: ShardRunContext = {
    db: db.scope,
    instanceId: 'i-1',
    clock,
    policy: { allowLoopback: true, allowPrivate: false },
    workers: 0,
    leaseMs: LEASE,
    samples,
    log: silentLogger(),
    wrote: () => {},
    load: fakeLoad(clock, 3, calls),
  }
  return { clock, db, claimed: { ...claimed, _rev: rev }, context, calls }
}

t.test('a run starts at its head start, renews its lease every third of it, and ends done', async (t) => {
  const { clock, db, claimed, context, calls } = await setUp(t)
  const run = new ShardRun(context, claimed)
  await clock.advanceAsync(START - HEAD - T0 - 1)
  t.same(db.writes, [], 'nothing written while waiting for the start')
  t.equal(run.phase, 'waiting')
  await clock.advanceAsync(1)
  t.match(db.writes[0], { state: 'running', startedAt: START - HEAD, leaseUntil: START - HEAD + LEASE })
  t.same(calls, [START - HEAD], 'the load prepared the in-process head start before second 0')
  await clock.advanceAsync(4000)
  await run.done
  const renewals = db.writes.slice(1, -1)
  t.same(
    renewals.map((w) => w.leaseUntil),
    [1, 2, 3].map((k) => START - HEAD + k * renewEveryMs(LEASE) + LEASE),
    'renewed every leaseMs / 3, each time for a whole lease from then',
  )
  t.same(
    renewals.map((w) => w.progress),
    [undefined, 0, 1],
    'with the last second reported',
  )
  const last = db.writes.at(-1)!
  t.match(last, { state: 'done', engine: 'i-1', totals: { seconds: 3, hits: 30 } })
  t.notOk('leaseUntil' in last, 'a finished shard holds no lease')
  t.equal(run.phase, 'finished')
})

t.test('released while waiting: handed back to the queue, no load', async (t) => {
  const { clock, db, claimed, context, calls } = await setUp(t)
  const run = new ShardRun(context, claimed)
  await clock.advanceAsync(5000)
  t.ok(run.release(), 'not started: can go back')
  await run.done
  t.same(calls, [], 'no load')
  t.equal(db.writes.length, 1)
  t.match(db.writes[0], { state: 'queued' })
  t.notOk('engine' in db.writes[0]! || 'leaseUntil' in db.writes[0]!, 'no holder, no lease')
  t.notOk(run.release(), 'once')
})

t.test(
  "a transaction's shard waits for its region's data rows, then runs them; without them it fails, nothing sent",
  async (t) => {
    const stored = {
      steps: [
        { request: { method: 'GET', url: 'http://127.0.0.1:1/#{user}', headers: {}, timeoutMs: 1000 } },
      ],
      data: { name: 'users.csv', mode: 'unique' as const, columns: ['user'], rows: 2 },
    }
    const withRows = async (arrivesAt: number | undefined) => {
      const { clock, db, claimed, context } = await setUp(t)
      const jobs: LoadJob[] = []
      const load = context.load!
      context.load = (job, options) => {
        jobs.push(job)
        return load(job, options)
      }
      await db.scope.insert({ ...claimed, transaction: stored } as ShardDoc)
      const run = new ShardRun(context, {
        ...claimed,
        transaction: stored,
        _rev: db.docs.get(claimed._id)!._rev,
      })
      if (arrivesAt !== undefined)
        clock.after(arrivesAt - T0, () =>
          db.attachments.set('data:r/rows.json', Buffer.from('[["ann"],["bob"]]')),
        )
      await clock.advanceAsync(START - T0 + DATA_WAIT_MS + 5000)
      await run.done
      return { db, jobs }
    }
    const late = await withRows(START + 2000)
    t.equal(late.jobs.length, 1, 'rows that arrive after the start: the load runs')
    t.same(late.jobs[0]?.transaction?.data, {
      name: 'users.csv',
      mode: 'unique',
      table: { columns: ['user'], rows: [['ann'], ['bob']] },
    })
    t.match(late.db.writes.at(-1), { state: 'done' })

    const never = await withRows(undefined)
    t.same(never.jobs, [], 'no rows: no load')
    t.match(never.db.writes.at(-1), {
      state: 'failed',
      reason: /data rows of rush r .* did not reach this region/,
    })
  },
)
