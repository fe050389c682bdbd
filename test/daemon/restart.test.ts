import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { getDoc } from '../../lib/couch/client.js'
import { submitRush } from '../../lib/couch/rushes.js'
import type { EngineDoc, ShardDoc } from '../../lib/documents.js'
import { couchEnv, waitFor } from '../harness/couch.js'
import { oneRegion } from '../harness/plane.js'

const MAIN = fileURLToPath(new URL('../../dist/daemon/main.js', import.meta.url))

t.test('an engine killed with SIGKILL and restarted: nothing runs twice, nothing stays held', async (t) => {
  if (!existsSync(MAIN)) throw new Error('build first: npx tsc -p . (this test runs dist/daemon/main.js)')
  const { server, target, later } = await oneRegion(t)
  const dispatch = server.couch.db(server.couch.names.dispatch('us-east-1'))
  const shard = (rush: string) => getDoc<ShardDoc>(dispatch, `shard:${rush}:0`)

  let child: ChildProcess | undefined
  /** The pino lines of each boot, in order. */
  const boots: Record<string, unknown>[][] = []
  const startChild = () => {
    child = spawn(
      process.execPath,
      [
        MAIN,
        '--couch',
        server.url,
        '--instance-id',
        'k1',
        '--region',
        'us-east-1',
        '--workers',
        '0',
        '--allow-loopback',
        '--log-level',
        'info',
      ],
      {
        env: { ...process.env, ...couchEnv(), STAMPEDE_DB_PREFIX: server.prefix },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    )
    const lines: Record<string, unknown>[] = []
    boots.push(lines)
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        lines.push(JSON.parse(line) as Record<string, unknown>)
      } catch {
        // not pino's
      }
    })
  }
  const kill = async () => {
    const exited = new Promise((resolve) => child!.once('exit', resolve))
    child!.kill('SIGKILL')
    await exited
  }
  later(async () => {
    if (child && child.exitCode === null && child.signalCode === null) await kill()
  })
  const request = { method: 'GET', url: target.url, headers: {}, timeoutMs: 2000 }
  const fleet = server.couch.db(server.couch.names.fleet)

  // 1. Killed while holding a claimed shard that had not started: released, then run once.
  startChild()
  await waitFor('the engine registered', () => getDoc<EngineDoc>(fleet, 'engine:k1'))
  const first = await submitRush(server.couch, {
    model: 'rush',
    request,
    pattern: [{ start: 2, end: 2, duration: 2 }],
    regions: ['us-east-1'],
    shardsPerRegion: 1,
    startLeadMs: 3000,
  })
  await waitFor('the first shard claimed', async () => (await shard(first))?.state === 'claimed')
  await kill()
  startChild()
  const done = await waitFor('the first shard done after the restart', async () => {
    const doc = await shard(first)
    return doc?.state === 'done' && doc
  })
  t.equal(done.engine, 'k1')
  t.equal(done.totals!.hits, target.count, 'the released shard ran once, in full')
  const afterFirst = target.count

  // 2. Killed while running: marked lost on restart, never re-run.
  const second = await submitRush(server.couch, {
    model: 'rush',
    request,
    pattern: [{ start: 2, end: 2, duration: 60 }],
    regions: ['us-east-1'],
    shardsPerRegion: 1,
    startLeadMs: 200,
  })
  const before = await waitFor('a checkpoint written', async () => {
    const doc = await getDoc<EngineDoc>(fleet, 'engine:k1')
    return doc?.checkpoint != null && doc
  })
  await waitFor(
    'the second shard running',
    async () => (await shard(second))?.state === 'running' && target.count > afterFirst + 20,
  )
  await kill()
  const atKill = target.count
  // What the killed boot left: the checkpoint the next boot must resume from.
  const kept = (await getDoc<EngineDoc>(fleet, 'engine:k1'))!.checkpoint
  t.not(kept, null, 'the killed boot had written a checkpoint')
  startChild()
  const lost = await waitFor('the second shard marked lost', async () => {
    const doc = await shard(second)
    return doc?.state === 'lost' && doc
  })
  t.equal(lost.reason, 'engine restarted')
  // The engine doc is written at start and then with each heartbeat (10 s): the doc of the
  // killed boot may still say idle, so wait for the new boot's.
  const engine = await waitFor('the restarted engine registered again', async () => {
    const doc = await getDoc<EngineDoc>(fleet, 'engine:k1')
    return doc?.state === 'idle' && doc.bootId !== before.bootId && doc
  })
  t.not(engine.bootId, before.bootId, 'a new boot')
  const resumed = await waitFor('the new boot following its feed', () =>
    boots.at(-1)!.find((line) => line.msg === 'engine following dispatch'),
  )
  t.match(
    resumed,
    { checkpoint: kept, since: kept },
    'the new boot resumed from the checkpoint the killed boot had written, not from now',
  )

  // 3. The restarted engine still works and re-runs nothing: a new rush is the only new load.
  const third = await submitRush(server.couch, {
    model: 'rush',
    request,
    pattern: [{ start: 1, end: 1, duration: 1 }],
    regions: ['us-east-1'],
    shardsPerRegion: 1,
    startLeadMs: 300,
  })
  const thirdDone = await waitFor('the third shard done', async () => {
    const doc = await shard(third)
    return doc?.state === 'done' && doc
  })
  t.equal(target.count - atKill, thirdDone.totals!.hits, 'after the kill only the new rush sent requests')
  t.equal((await shard(first))?.totals?.hits, done.totals!.hits, 'the finished shard was not touched')
})
