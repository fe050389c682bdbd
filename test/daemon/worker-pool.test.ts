import { readFileSync } from 'node:fs'
import t from 'tap'
import { waitFor } from '../harness/couch.js'
import { oneRegion } from '../harness/plane.js'
import { engineArgs, shardDoc, spawnEngine, submitOneShard } from './engine-process.js'

const staticIdentity = (id: string) => ['--identity', 'static', '--instance-id', id, '--region', 'us-east-1']

/** Child process ids of `pid` (Linux: every thread's children). */
function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number)
      .sort()
  } catch {
    return []
  }
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Waits until the engine logged its pool ready; its load processes then. */
async function readyPool(engine: ReturnType<typeof spawnEngine>): Promise<number[]> {
  await waitFor('the load processes ready', () => engine.messages.includes('load processes ready'), 90_000)
  const pids = childrenOf(engine.child.pid!)
  return pids
}

for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
  t.test(`an engine's load processes leave with it (${signal}): no orphan`, async (t) => {
    const { server, later } = await oneRegion(t)
    const id = `pool-${signal.toLowerCase()}`
    const engine = spawnEngine(engineArgs(server, [...staticIdentity(id), '--workers', '2']))
    later(() => engine.kill())
    const pids = await readyPool(engine)
    t.equal(pids.length, 2, 'two load processes kept ready')
    engine.child.kill(signal)
    await engine.exited
    // SIGTERM: the engine closes its pool before it exits. SIGKILL: each process sees its
    // channel close and leaves on its own, so wait for that.
    if (signal === 'SIGTERM') t.same(pids.filter(alive), [], 'all gone when the engine has exited')
    else await waitFor('the load processes gone', () => pids.every((pid) => !alive(pid)), 30_000)
    t.same(pids.filter(alive), [])
  })
}

t.test('a shard with no lead runs on the warm processes: none forked when it is claimed', async (t) => {
  const { server, target, later } = await oneRegion(t)
  const engine = spawnEngine(engineArgs(server, [...staticIdentity('pool-run'), '--workers', '2']))
  later(() => engine.kill())
  const pids = await readyPool(engine)
  t.equal(pids.length, 2)
  const rush = await submitOneShard(server, target.url, { seconds: 1, leadMs: 0 })
  const done = await waitFor('the shard done', async () => {
    const doc = await shardDoc(server, rush)
    return doc?.state === 'done' && doc
  })
  t.ok((done.totals?.hits ?? 0) > 0 && done.totals?.hits === target.count, 'its load reached the target')
  t.same(childrenOf(engine.child.pid!), pids, 'the same two processes, no other forked')
  t.notOk(
    engine.messages.includes('too few idle load processes: forked the rest for this shard'),
    'none forked on the claim path',
  )
  const givenStart = done.startAt + (done.startShift ?? 0) * 1000
  // A figure, not an assertion: a busy machine moves it.
  t.comment(
    `start shift ${done.startShift ?? 0} s; first request ${Math.min(...target.arrivals) - givenStart} ms after the start given`,
  )
})

t.test(
  'a load process killed during a shard fails the shard as before; the pool forks another',
  async (t) => {
    const { server, target, later } = await oneRegion(t)
    const engine = spawnEngine(engineArgs(server, [...staticIdentity('pool-kill'), '--workers', '2']))
    later(() => engine.kill())
    const pids = await readyPool(engine)
    const rush = await submitOneShard(server, target.url, { seconds: 30, leadMs: 0 })
    await waitFor('load reaching the target', () => target.count > 0 || undefined)
    const victim = pids[0]!
    process.kill(victim, 'SIGKILL')
    const failed = await waitFor('the shard failed', async () => {
      const doc = await shardDoc(server, rush)
      return doc?.state === 'failed' && doc
    })
    t.match(failed.reason, /load worker \d exited before finishing \(SIGKILL\)/)
    const again = await waitFor('two load processes again', () => {
      const now = childrenOf(engine.child.pid!)
      return now.length === 2 && !now.includes(victim) && now
    })
    t.ok(again.includes(pids[1]!), 'the other one kept')
    t.ok(engine.messages.includes('load process died; forking another'), 'the death logged')
  },
)
