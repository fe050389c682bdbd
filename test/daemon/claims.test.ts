import type Nano from 'nano'
import t from 'tap'
import { SPREAD } from '../../daemon/decide.js'
import { getDocs } from '../../lib/couch/client.js'
import { readRush, submitRush, watchRush } from '../../lib/couch/rushes.js'
import type { ShardDoc } from '../../lib/documents.js'
import type { RushSpec } from '../../lib/split.js'
import { type TestCouch, waitFor } from '../harness/couch.js'
import { oneRegion, startEngine, type TestEngine } from '../harness/plane.js'

const spec = (url: string, overrides: Partial<RushSpec>): RushSpec => ({
  model: 'rush',
  request: { method: 'GET', url, headers: {}, timeoutMs: 2000 },
  pattern: [{ start: 4, end: 4, duration: 1 }],
  regions: ['us-east-1'],
  shardsPerRegion: 4,
  startLeadMs: 1500,
  ...overrides,
})

async function shardsOf(server: TestCouch, rushId: string): Promise<ShardDoc[]> {
  const rush = await readRush(server.couch, rushId)
  return getDocs<ShardDoc>(
    server.couch.db(server.couch.names.dispatch('us-east-1')),
    rush.shards.map((s) => s.id),
  )
}

const finished = (server: TestCouch, id: string) =>
  waitFor('every shard done', async () => {
    const docs = await shardsOf(server, id)
    return docs.length > 0 && docs.every((s) => s.state === 'done') && docs
  })

const generation = (rev: string | undefined) => Number(rev?.split('-')[0])

t.test(
  'four engines, a rush of four shards: each shard runs once, spread unless an engine is slow',
  async (t) => {
    const { server, target, later } = await oneRegion(t, 0)
    const engines: TestEngine[] = []
    for (const name of ['a', 'b', 'c', 'd'])
      engines.push(await startEngine(server.url, server.prefix, name, 'us-east-1'))
    later(() => Promise.all(engines.map((e) => e.engine.stop())))
    const id = await submitRush(server.couch, spec(target.url, {}))
    const shards = await finished(server, id)
    // "Every engine ran one shard" is not a property of the product: an engine that holds a
    // shard leaves the rush's others to the other engines only for a while (SPREAD), then
    // takes what is still queued — that is how a lone engine runs a whole rush on time. On a
    // busy machine another engine may see the shards only after that ([b, b, c, d] was seen).
    // What must hold: each shard ran exactly once, and an engine took a second shard of the
    // rush only after leaving it to the others for at least SPREAD.shortestMs.
    const claimed = engines.flatMap((e) => e.events.filter((event) => event.type === 'claimed'))
    t.same(
      claimed.map((event) => (event as { shard: string }).shard).sort(),
      shards.map((s) => s._id).sort(),
      'each shard claimed once, by one engine',
    )
    t.equal(
      target.count,
      shards.reduce((sum, s) => sum + s.totals!.hits, 0),
      'each shard ran once: the hits are what the target counted',
    )
    for (const name of ['a', 'b', 'c', 'd']) {
      const mine = shards.filter((s) => s.engine === name).map((s) => s.claimedAt!)
      mine.sort((x, y) => x - y)
      for (let i = 1; i < mine.length; i++)
        t.ok(
          mine[i]! - mine[0]! >= SPREAD.shortestMs,
          `${name} took another shard ${mine[i]! - mine[0]!} ms after its first: it left it to the others first`,
        )
    }
    t.comment(`engines: ${shards.map((s) => s.engine).join(', ')}`)
    const lost = engines.flatMap((e) => e.events.filter((event) => event.type === 'claim-lost'))
    t.ok(lost.length <= 6, `${lost.length} lost claims (every engine trying every shard: 12)`)
  },
)

t.test('a shard claimed after its start runs its whole pattern from a later second', async (t) => {
  const { server, target, later } = await oneRegion(t, 0)
  const engine = await startEngine(server.url, server.prefix, 'late', 'us-east-1')
  later(() => engine.engine.stop())
  // Second 0 was 1.5 s ago: joining the rush's clock would have skipped most of the pattern.
  const id = await submitRush(
    server.couch,
    spec(target.url, {
      shardsPerRegion: 1,
      startAt: Date.now() - 1500,
      pattern: [{ start: 2, end: 2, duration: 2 }],
    }),
  )
  const result = await watchRush(server.couch, id, () => {}, { pollMs: 100 })
  const [shard] = result.shards
  t.equal(result.state, 'done')
  const shift = shard!.startShift!
  t.ok(shift >= 2, `the pattern began ${shift} s after second 0`)
  t.same(
    result.timeline.map((p) => p.t),
    Array.from({ length: shift + 2 }, (_, i) => i),
    'every second of the rush once',
  )
  t.ok(
    result.timeline.slice(shift).every((p) => p.hits > 0 && p.concurrency === 2),
    'every second of the pattern ran with its users',
  )
  t.equal(shard!.totals!.seconds, shift + 2)
  t.equal(result.summary.hits, target.count, 'the hits are what the target counted')
})

t.test('a lone engine runs every shard of a rush, even one already late', async (t) => {
  const { server, target, later } = await oneRegion(t, 0)
  const engine = await startEngine(server.url, server.prefix, 'solo', 'us-east-1')
  later(() => engine.engine.stop())

  // Late (startAt = now): each shard is claimed directly as running — queued, running, done.
  const late = await finished(server, await submitRush(server.couch, spec(target.url, { startLeadMs: 0 })))
  t.same(
    late.map((s) => s.engine),
    ['solo', 'solo', 'solo', 'solo'],
  )
  t.same(
    late.map((s) => generation(s._rev)),
    [3, 3, 3, 3],
    'claim and running in one write',
  )
  t.ok(
    late.every((s) => s.startedAt === s.claimedAt),
    'started when claimed',
  )

  // On time: claimed, running just before the start, done; the extra shards claimed on time too.
  const onTime = await finished(
    server,
    await submitRush(server.couch, spec(target.url, { startLeadMs: 1500 })),
  )
  t.same(
    onTime.map((s) => generation(s._rev)),
    [4, 4, 4, 4],
    'claimed, then running, then done',
  )
  const rush = await readRush(server.couch, onTime[0]!.rush)
  t.ok(
    onTime.every((s) => s.claimedAt! < rush.startAt - 250 && s.startedAt! <= rush.startAt),
    'every shard claimed before the start and running by it',
  )
  t.ok(
    onTime.every((s) => s.totals!.seconds === 1 && s.totals!.hits > 0),
    JSON.stringify(onTime.map((s) => s.totals)),
  )
})

t.test('shard writes that fail transiently (a closed keep-alive socket) are retried', async (t) => {
  const { server, target, later } = await oneRegion(t, 0)
  // The first try of each running and final write fails as a closed socket does.
  const failed: string[] = []
  const flaky = (db: Nano.DocumentScope<unknown>): Nano.DocumentScope<unknown> =>
    new Proxy(db, {
      get(target, key, receiver) {
        if (key !== 'insert') return Reflect.get(target, key, receiver)
        return (doc: ShardDoc, ...rest: unknown[]) => {
          const what = doc.state === 'running' && doc.progress !== undefined ? 'running renewal' : doc.state
          if (doc.type === 'shard' && doc.state !== 'claimed' && !failed.includes(what)) {
            failed.push(what)
            return Promise.reject(
              Object.assign(new TypeError('fetch failed'), {
                cause: Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }),
              }),
            )
          }
          return (target.insert as (...args: unknown[]) => unknown)(doc, ...rest)
        }
      },
    })
  const couch = server.connect()
  const real = await startEngine(server.url, server.prefix, 'e2', 'us-east-1', {
    leaseMs: 600,
    couch: {
      ...couch,
      db: (name: string) => (name.includes('dispatch') ? flaky(couch.db(name)) : couch.db(name)),
    },
  })
  later(() => real.engine.stop())
  const id = await submitRush(
    server.couch,
    spec(target.url, { shardsPerRegion: 1, startLeadMs: 500, pattern: [{ start: 2, end: 2, duration: 2 }] }),
  )
  const [shard] = await finished(server, id)
  t.same(failed.sort(), ['done', 'running', 'running renewal'], 'each kind of write failed once')
  t.equal(shard!.engine, 'e2')
  t.equal(shard!.totals!.seconds, 2, 'the run went on')
})
