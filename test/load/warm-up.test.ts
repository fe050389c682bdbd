import t from 'tap'
import type { LoadJob } from '../../load/job.js'
import { type PoolEvent, WorkerPool } from '../../load/pool.js'
import { runLoad } from '../../load/run.js'
import { LOCAL_POLICY } from '../../load/safety.js'
import {
  TRANSACTION_WARM_UP_ROUNDS,
  WARM_UP_ROUNDS,
  warmUp,
  warmUpJob,
  warmUpRoundsFor,
} from '../../load/warm-up.js'
import { startTarget } from '../harness/target.js'

/** Handles of the kinds a warm-up opens (its server, its connections), counted. */
const netHandles = () =>
  process.getActiveResourcesInfo().filter((kind) => kind === 'TCPServerWrap' || kind === 'TCPSocketWrap')
    .length

t.test(
  'warm-up rounds are plain jobs against the given loopback URL, through the normal policy',
  async (t) => {
    const job = warmUpJob({ model: 'arrival-rate', from: 100, to: 100, seconds: 0.5 }, 'http://127.0.0.1:9/')
    t.same(
      job.pattern.at(-1),
      { start: 100, end: 100, duration: 0.5 },
      'the round, after a lead it joins past',
    )
    t.ok(
      job.pattern.slice(0, -1).reduce((sum, interval) => sum + interval.duration, 0) > 0.5,
      "the lead ends the run's first second early in the round: the round meets a second's end",
    )
    t.equal(job.request.url, 'http://127.0.0.1:9/')
    t.same(
      job.policy,
      { allowLoopback: true, allowPrivate: false },
      'loopback only: never a private or public address',
    )
    t.same(JSON.parse(JSON.stringify(job)), job, 'plain data, as a supervisor sends jobs')
    t.ok(WARM_UP_ROUNDS.length >= 3, 'several rounds: a single run leaves its end deoptimized for the next')
  },
)

t.test('a pool warms both paths; a run warms only its own', async (t) => {
  t.same(
    warmUpRoundsFor(),
    [...WARM_UP_ROUNDS, ...TRANSACTION_WARM_UP_ROUNDS],
    'a pool does not know its next job',
  )
  t.same(warmUpRoundsFor({}), WARM_UP_ROUNDS)
  t.same(warmUpRoundsFor({ transaction: { steps: [] } }), TRANSACTION_WARM_UP_ROUNDS)
  t.ok(
    TRANSACTION_WARM_UP_ROUNDS.every((round) => round.transaction),
    'the transaction rounds run the transaction',
  )
  const job = warmUpJob(TRANSACTION_WARM_UP_ROUNDS[0]!, 'http://127.0.0.1:9/')
  t.equal(job.transaction?.steps.length, 4)
  t.equal(job.request, job.transaction?.steps[0]?.request, "the job's request is its first step's")
  t.same(JSON.parse(JSON.stringify(job)), job, 'plain data, as a supervisor sends jobs')
})

t.test('a transaction warm-up runs every step, and every extraction finds its value', async (t) => {
  const before = netHandles()
  // 200 transactions/s for a quarter of a second: 50 arrivals of 4 requests each (less the
  // one or two due in the moment the round joins its run). A failed extraction (no cookie, no
  // JSON token, no id) would count as an error and end its iteration before the later steps.
  const open = await warmUp(undefined, [
    { model: 'arrival-rate', from: 200, to: 200, seconds: 0.25, transaction: true },
  ])
  t.match(open, { rounds: 1, errors: 0 })
  t.ok(open.requests >= 4 * 45 && open.requests <= 4 * 50, `about 50 iterations (${open.requests} requests)`)
  t.equal(open.requests % 4, 0, 'every iteration ran its four steps')
  const closed = await warmUp(undefined, [{ model: 'rush', from: 2, to: 2, seconds: 0.1, transaction: true }])
  t.match(closed, { rounds: 1, errors: 0 })
  t.ok(closed.requests >= 4, `the closed round's users ran (${closed.requests} requests)`)
  while (netHandles() > before) await new Promise((resolve) => setImmediate(resolve))
  t.equal(netHandles(), before, 'the server and every connection closed')
})

t.test(
  'a warm-up runs every round against its own server, answers them all, and leaves nothing open',
  async (t) => {
    const before = netHandles()
    const report = await warmUp(undefined, [
      { model: 'arrival-rate', from: 2000, to: 2000, seconds: 0.2 },
      { model: 'rush', from: 4, to: 4, seconds: 0.1 },
      { model: 'arrival-rate', from: 2000, to: 2000, seconds: 0.2 },
    ])
    t.equal(report.rounds, 3)
    t.equal(report.aborted, false)
    t.equal(report.errors, 0)
    // Two arrival-rate rounds of exactly 400 requests each, and the rush's.
    t.ok(report.requests > 800, `answered ${report.requests}`)
    // Closing sockets is asynchronous in libuv: wait for the handles to go, not for a time.
    while (netHandles() > before) await new Promise((resolve) => setImmediate(resolve))
    t.equal(netHandles(), before, 'the server and every connection closed')
  },
)

t.test(
  "a benchmark's send-lag observer is told of every open-model send of the rounds, single and transaction",
  async (t) => {
    // The measured run has the observer: rounds that ran without it left code that deoptimized
    // at its first call (load/warm-up.ts `warmUp`).
    const lags: number[] = []
    const observer = { sendLag: (ms: number) => lags.push(ms) }
    const single = await warmUp(
      undefined,
      [{ model: 'arrival-rate', from: 1000, to: 1000, seconds: 0.2 }],
      observer,
    )
    // How many went out depends on the machine (what was due while it joined is not sent): some
    // did, and each answered one was told.
    t.ok(lags.length > 0, `the round sent (${lags.length})`)
    t.ok(lags.length >= single.requests, `one per request sent (${single.requests} answered)`)
    t.ok(
      lags.every((ms) => ms >= 0),
      'lags, not times',
    )
    lags.length = 0
    const transaction = await warmUp(
      undefined,
      [{ model: 'arrival-rate', from: 200, to: 200, seconds: 0.2, transaction: true }],
      observer,
    )
    t.ok(lags.length > 0, `the transaction round sent (${lags.length} arrivals)`)
    t.ok(
      lags.length * 4 >= transaction.requests,
      `one per arrival, its first step (${transaction.requests} answered)`,
    )
  },
)

t.test('a signal stops a warm-up in the middle of a round', async (t) => {
  const controller = new AbortController()
  const warming = warmUp(controller.signal, [
    // Long enough that the test would time out if the signal did not stop it.
    { model: 'arrival-rate', from: 1000, to: 1000, seconds: 600 },
    { model: 'arrival-rate', from: 1000, to: 1000, seconds: 600 },
  ])
  setTimeout(() => controller.abort(), 200)
  const report = await warming
  t.equal(report.aborted, true)
  t.equal(report.rounds, 0, 'the round it was in does not count, and the next never starts')
  t.equal(report.errors, 0, 'requests in flight finished: none failed')
})

t.test('a pooled process warms up once loaded, and a run that takes it mid-warm-up is exact', async (t) => {
  const target = await startTarget()
  t.teardown(() => target.close())
  const events: PoolEvent[] = []
  const listeners = new Set<(event: PoolEvent) => void>()
  const nextEvent = (type: PoolEvent['type']) =>
    new Promise<PoolEvent>((resolve) => {
      const listener = (event: PoolEvent) => {
        if (event.type !== type) return
        listeners.delete(listener)
        resolve(event)
      }
      listeners.add(listener)
    })
  const pool = new WorkerPool({
    size: 1,
    onEvent: (event) => {
      events.push(event)
      for (const listener of listeners) listener(event)
    },
  })
  t.teardown(() => pool.close())
  const warm = nextEvent('warm')
  const firstWarmed = nextEvent('warmed')
  pool.start()
  await warm
  // Taken as soon as it is loaded: its job arrives during the warm-up and stops it.
  const job: LoadJob = {
    model: 'arrival-rate',
    request: { method: 'GET', url: target.url, headers: {}, timeoutMs: 2000 },
    pattern: [{ start: 500, end: 500, duration: 1 }],
    share: { index: 0, of: 1 },
    policy: LOCAL_POLICY,
  }
  const result = await runLoad(job, { workers: 1, pool, startDelayMs: 50 })
  const stopped = await firstWarmed
  t.match(stopped, { type: 'warmed', aborted: true, errors: 0 }, 'the job stopped the warm-up')
  const sent = result.timeline.reduce((sum, point) => sum + point.sent, 0)
  const hits = result.timeline.reduce((sum, point) => sum + point.hits, 0)
  t.equal(sent, 500, 'every request of the job sent, none of the warm-up counted')
  t.equal(hits, 500)
  t.equal(target.requests, 500, 'the target saw the job only: the warm-up went to its own server')

  // A process the pool forks later (this one is killed) warms up to the end while idle.
  const died = nextEvent('died')
  const secondWarmed = nextEvent('warmed')
  process.kill(pool.pids[0]!, 'SIGKILL')
  await died
  const full = await secondWarmed
  t.match(full, { type: 'warmed', aborted: false, errors: 0, rounds: warmUpRoundsFor().length })
  t.ok((full as { requests: number }).requests > 10_000, 'tens of thousands of requests to its own server')
})

t.test('warmUp: false keeps the pool cold (no warm-up message)', async (t) => {
  const events: PoolEvent[] = []
  const pool = new WorkerPool({ size: 1, warmUp: false, onEvent: (event) => events.push(event) })
  t.teardown(() => pool.close())
  pool.start()
  await pool.ready()
  const target = await startTarget()
  t.teardown(() => target.close())
  // A run through the process: had a warm-up been asked, its 'warmed' would precede 'done'.
  await runLoad(
    {
      model: 'rush',
      request: { method: 'GET', url: target.url, headers: {}, timeoutMs: 2000 },
      pattern: [{ start: 1, end: 1, duration: 0.2 }],
      share: { index: 0, of: 1 },
      policy: LOCAL_POLICY,
    },
    { workers: 1, pool },
  )
  t.notOk(
    events.some((event) => event.type === 'warmed'),
    'no warm-up ran',
  )
})

t.test(
  'a run asked to warm up warms each of its processes before second 0, and counts only its job',
  async (t) => {
    const target = await startTarget()
    t.teardown(() => target.close())
    for (const workers of [0, 1]) {
      target.reset()
      const events: string[] = []
      const result = await runLoad(
        {
          model: 'arrival-rate',
          request: { method: 'GET', url: target.url, headers: {}, timeoutMs: 2000 },
          pattern: [{ start: 200, end: 200, duration: 1 }],
          share: { index: 0, of: 1 },
          policy: LOCAL_POLICY,
        },
        {
          workers,
          warmUp: true,
          onWarmedUp: (outcome, index) => {
            t.match(
              outcome,
              { rounds: WARM_UP_ROUNDS.length, aborted: false, errors: 0 },
              `process ${index} warmed`,
            )
            t.notOk(outcome.failed)
            // Thousands, not a count: on a busy machine the rounds drop what their in-flight cap refuses.
            t.ok(outcome.requests > 1000, `its own server answered ${outcome.requests} requests`)
            events.push(`warmed ${index}`)
          },
          onSecond: (point) => events.push(`second ${point.t}`),
        },
      )
      t.same(events, ['warmed 0', 'second 0'], `workers ${workers}: warmed once, before second 0`)
      t.equal(
        result.timeline.reduce((sum, point) => sum + point.sent, 0),
        200,
        'every request of the job, none of the warm-up',
      )
      t.equal(target.requests, 200, 'the target saw the job only')
    }
  },
)

t.test('a run stopped while its processes warm up sends nothing and ends', async (t) => {
  const target = await startTarget()
  t.teardown(() => target.close())
  for (const workers of [0, 1]) {
    const controller = new AbortController()
    const warmed: boolean[] = []
    // The warm-up takes over a second: the stop comes while the process loads, prepares or warms.
    setTimeout(() => controller.abort(), 300)
    const result = await runLoad(
      {
        model: 'rush',
        request: { method: 'GET', url: target.url, headers: {}, timeoutMs: 2000 },
        pattern: [{ start: 4, end: 4, duration: 2 }],
        share: { index: 0, of: 1 },
        policy: LOCAL_POLICY,
      },
      {
        workers,
        warmUp: true,
        signal: controller.signal,
        onWarmedUp: (outcome) => warmed.push(outcome.aborted),
      },
    )
    t.equal(result.cutShort, true, `workers ${workers}: cut short`)
    t.equal(target.requests, 0, 'nothing reached the target')
    t.ok(warmed.every(Boolean), 'a warm-up that ran was stopped, not run to its end')
  }
})
