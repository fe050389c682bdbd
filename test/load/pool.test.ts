import type { ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import t, { type Test } from 'tap'
import type { LoadJob } from '../../load/job.js'
import { type PoolEvent, WorkerPool } from '../../load/pool.js'
import { forkWorker, runLoad } from '../../load/run.js'
import { LOCAL_POLICY } from '../../load/safety.js'
import { waitFor } from '../harness/couch.js'
import { startTarget } from '../harness/target.js'

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Resident memory of a process, MiB (Linux). */
const rssMiB = (pid: number) => {
  const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return match ? Number(match[1]) / 1024 : Number.NaN
}

/**
 * A pool of `size` whose forks and events the test sees; closed at teardown. Its processes
 * do not warm up unless asked: each warm-up is ~1.3 s of CPU per process (load/warm-up.ts),
 * paid again for every replacement, on a 2-core machine that runs two test files at once,
 * and these tests are about lending, replacing and closing — test/load/warm-up.test.ts
 * covers the warm-up in a pool, and the last test here closes a pool that is warming.
 */
function testPool(t: Test, size: number, warmUp = false) {
  const forked: ChildProcess[] = []
  const events: PoolEvent[] = []
  const listeners = new Set<(event: PoolEvent) => void>()
  const pool = new WorkerPool({
    size,
    warmUp,
    fork: () => {
      const child = forkWorker()
      forked.push(child)
      return child
    },
    onEvent: (event) => {
      events.push(event)
      for (const listener of listeners) listener(event)
    },
  })
  /** Resolves with the first event (from now on) that `match` accepts. */
  const next = <E extends PoolEvent>(match: (event: PoolEvent) => event is E) =>
    new Promise<E>((resolve) => {
      const listener = (event: PoolEvent) => {
        if (!match(event)) return
        listeners.delete(listener)
        resolve(event)
      }
      listeners.add(listener)
    })
  t.teardown(() => pool.close())
  pool.start()
  return { pool, forked, events, next }
}

const job = (url: string, duration = 1): LoadJob => ({
  model: 'rush',
  request: { method: 'GET', url, headers: {}, timeoutMs: 2000 },
  pattern: [{ start: 2, end: 2, duration }],
  share: { index: 0, of: 1 },
  policy: LOCAL_POLICY,
})

t.test(
  'a run with no lead takes the warm processes (no fork on its start path) and hands them back',
  async (t) => {
    const target = await startTarget()
    t.teardown(() => target.close())
    const { pool, forked, events } = testPool(t, 2)
    await pool.ready()
    const warm = pool.idlePids.sort()
    t.equal(warm.length, 2, 'two processes loaded and idle')
    t.comment(`idle warm load process RSS: ${warm.map((pid) => rssMiB(pid).toFixed(1)).join(', ')} MiB`)

    for (const run of [1, 2]) {
      const forksBefore = forked.length
      const eventsBefore = events.length
      target.reset()
      const called = Date.now()
      let readyAt = 0
      // No lead: second 0 is now, as a shard claimed at its start time sees it.
      const result = await runLoad(job(`${target.url}/run${run}`), {
        workers: 2,
        pool,
        startAtEpoch: called,
        onStart: () => {
          readyAt = Date.now()
        },
      })
      t.equal(forked.length, forksBefore, `run ${run}: no process forked for it`)
      const lent = events.slice(eventsBefore).find((e) => e.type === 'lent')
      t.same(lent, { type: 'lent', pids: lent?.type === 'lent' ? lent.pids : [], cold: 0 }, 'all warm')
      t.same(lent?.type === 'lent' && [...lent.pids].sort(), warm, 'the warm processes, by pid')
      t.equal(result.workers, 2)
      t.ok(result.summary.hits > 0, `run ${run} sent load (${result.summary.hits} hits)`)
      t.equal(result.summary.hits, target.byPath.get(`run${run}`), 'the target counted them')
      t.same(pool.idlePids.sort(), warm, 'handed back and kept: the same two, idle again')
      const givenStart = called + result.startShift * 1000
      const first = Math.min(...target.arrivals)
      // Figures, not assertions: a busy machine moves them.
      t.comment(
        `run ${run}: ready ${readyAt - called} ms after the call; start shift ${result.startShift} s; first request ${first - givenStart} ms after the start given`,
      )
    }
    t.equal(forked.length, 2, 'two forks in all, at the pool start: jobs went by message')
  },
)

t.test('a killed idle process is replaced by a new one', async (t) => {
  const { pool, next } = testPool(t, 2)
  await pool.ready()
  const [victim, other] = pool.idlePids
  const died = next((e): e is Extract<PoolEvent, { type: 'died' }> => e.type === 'died')
  const warmAgain = next((e): e is Extract<PoolEvent, { type: 'warm' }> => e.type === 'warm')
  process.kill(victim!, 'SIGKILL')
  t.match(await died, { pid: victim, state: 'idle', reason: 'SIGKILL' })
  const fresh = await warmAgain
  t.not(fresh.pid, victim, 'a new process')
  t.same(pool.idlePids.sort(), [other, fresh.pid].sort(), 'two idle again')
  t.equal(alive(victim!), false)
})

t.test('a process killed during a run fails the run as before, and the pool replaces it', async (t) => {
  const target = await startTarget()
  t.teardown(() => target.close())
  const { pool } = testPool(t, 2)
  await pool.ready()
  let victim: number | undefined
  const running = runLoad(job(`${target.url}/long`, 30), {
    workers: 2,
    pool,
    onSecond: () => {
      if (victim !== undefined) return
      victim = pool.pids[0]!
      process.kill(victim, 'SIGKILL')
    },
  })
  await t.rejects(running, { code: 'STAMPEDE_WORKER_EXIT', message: /exited before finishing \(SIGKILL\)/ })
  await waitFor('a replacement loaded', () => pool.counts.idle === 2 || undefined, 60_000)
  const back = pool.idlePids
  t.notOk(back.includes(victim!), 'the killed one is gone from the pool')
  t.equal(back.length, 2)
  // The pool still serves a run.
  const result = await runLoad(job(`${target.url}/after`), { workers: 2, pool })
  t.ok(result.summary.hits > 0)
})

t.test('a run stopped while its processes prepare leaves them clean for the next run', async (t) => {
  const target = await startTarget()
  t.teardown(() => target.close())
  const { pool, forked } = testPool(t, 1)
  await pool.ready()
  const abort = new AbortController()
  abort.abort()
  const stopped = await runLoad(job(`${target.url}/stopped`), { workers: 1, pool, signal: abort.signal })
  t.equal(stopped.summary.sent, 0)
  // A stale 'ready' or 'done' from the stopped job would end or start this one wrongly.
  const result = await runLoad(job(`${target.url}/next`, 2), { workers: 1, pool })
  t.equal(result.timeline.length, 2, 'both seconds of the next run')
  t.equal(result.summary.hits, target.byPath.get('next'))
  t.equal(target.byPath.get('stopped'), undefined, 'the stopped job sent nothing')
  t.equal(forked.length, 1, 'the same process throughout')
})

t.test('close leaves no process behind, idle or lent', async (t) => {
  const target = await startTarget()
  t.teardown(() => target.close())
  // Warming up (the default): the idle process may still be in its warm-up when the pool closes.
  const { pool } = testPool(t, 2, true)
  await pool.ready()
  const pids = pool.pids
  // One run still going when the pool closes: its processes stop their load and leave too.
  const running = runLoad(job(`${target.url}/closing`, 30), { workers: 1, pool }).catch((err: Error) => err)
  await waitFor('load going out', () => (target.byPath.get('closing') ?? 0) > 0 || undefined)
  await pool.close()
  t.same(
    pids.filter((pid) => alive(pid)),
    [],
    'every process has exited',
  )
  t.same(pool.counts, { size: 2, idle: 0, warming: 0, lent: 0, closing: true })
  await running
})
