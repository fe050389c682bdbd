import t from 'tap'
import { getDoc, getDocs } from '../../lib/couch/client.js'
import { abortRush, readRush, rushStatus, submitRush } from '../../lib/couch/rushes.js'
import type { ShardDoc } from '../../lib/documents.js'
import type { RushSpec } from '../../lib/split.js'
import { cleanups, startCouch, type TestCouch, uniquePrefix, waitFor } from '../harness/couch.js'
import { migrateRegions, oneRegion, startEngine } from '../harness/plane.js'

const spec = (url: string, overrides: Partial<RushSpec>): RushSpec => ({
  model: 'rush',
  request: { method: 'GET', url, headers: {}, timeoutMs: 2000 },
  pattern: [{ start: 2, end: 2, duration: 2 }],
  regions: ['us-east-1'],
  shardsPerRegion: 1,
  startLeadMs: 300,
  ...overrides,
})

async function shardsOf(server: TestCouch, rushId: string, region = 'us-east-1'): Promise<ShardDoc[]> {
  const rush = await readRush(server.couch, rushId)
  return getDocs<ShardDoc>(
    server.couch.db(server.couch.names.dispatch(region)),
    rush.shards.filter((s) => s.region === region).map((s) => s.id),
  )
}

t.test('engines racing for the same shards: each shard is claimed and run exactly once', async (t) => {
  const { server, target, later } = await oneRegion(t)
  const engines = [
    await startEngine(server.url, server.prefix, 'a', 'us-east-1'),
    await startEngine(server.url, server.prefix, 'b', 'us-east-1'),
  ]
  later(() => Promise.all(engines.map((e) => e.engine.stop())))
  const id = await submitRush(
    server.couch,
    spec(target.url, { shardsPerRegion: 6, pattern: [{ start: 6, end: 6, duration: 1 }] }),
  )
  const shards = await waitFor('every shard finished', async () => {
    const docs = await shardsOf(server, id)
    return docs.every((d) => d.state === 'done') && docs
  })
  const claimed = engines.flatMap((e) =>
    e.events.filter((ev) => ev.type === 'claimed').map((ev) => (ev as { shard: string }).shard),
  )
  const lost = engines.flatMap((e) => e.events.filter((ev) => ev.type === 'claim-lost'))
  t.same([...claimed].sort(), shards.map((s) => s._id).sort(), 'every shard claimed exactly once')
  t.equal(
    shards.reduce((sum, s) => sum + s.totals!.hits, 0),
    target.count,
    'no shard ran twice',
  )
  t.comment(`claims lost to the other engine (409): ${lost.length}`)
})

t.test('an abort stops every shard of the rush within a second', async (t) => {
  const { server, target, later } = await oneRegion(t)
  const engines = [
    await startEngine(server.url, server.prefix, 'a', 'us-east-1', { capacity: 4 }),
    await startEngine(server.url, server.prefix, 'b', 'us-east-1', { capacity: 4 }),
  ]
  later(() => Promise.all(engines.map((e) => e.engine.stop())))
  const id = await submitRush(
    server.couch,
    spec(target.url, { shardsPerRegion: 2, pattern: [{ start: 8, end: 8, duration: 60 }] }),
  )
  await waitFor('load reaching the target', () => target.count > 50)
  await waitFor('both shards running', async () =>
    (await shardsOf(server, id)).every((s) => s.state === 'running'),
  )
  const abortedAt = Date.now()
  await abortRush(server.couch, id)
  await Promise.all(engines.map((e) => e.when((ev) => ev.type === 'finished')))
  const last = Math.max(...target.arrivals)
  t.ok(last - abortedAt < 1000, `the last request arrived ${last - abortedAt} ms after the abort was written`)
  const shards = await shardsOf(server, id)
  t.same(
    shards.map((s) => s.state),
    ['aborted', 'aborted'],
  )
  t.ok(
    shards.every((s) => typeof s.histogram === 'string' && s.totals!.hits > 0),
    'aborted shards keep what they measured',
  )
  t.equal((await rushStatus(server.couch, id)).state, 'aborted')
})

t.test('a cancel in one region and a claim in another: the abort wins', async (t) => {
  const later = cleanups(t)
  const prefix = uniquePrefix()
  const east = await startCouch({ prefix })
  later(() => east.stop())
  const west = await startCouch({ prefix })
  later(() => west.stop())
  await migrateRegions({ 'us-east-1': east, 'us-west-1': west }, prefix)
  const id = await submitRush(
    east.couch,
    spec('http://127.0.0.1:9/', { regions: ['us-west-1'], startLeadMs: 60_000 }),
  )
  const shardId = `shard:${id}:0`
  const westDispatch = west.couch.db(west.couch.names.dispatch('us-west-1'))
  const eastDispatch = east.couch.db(east.couch.names.dispatch('us-west-1'))
  const queued = await waitFor('the shard replicated to us-west-1', () =>
    getDoc<ShardDoc>(westDispatch, shardId),
  )
  await waitFor('the rush replicated to us-west-1', () =>
    getDoc(west.couch.db(west.couch.names.fleet), `rush:${id}`),
  )

  // An engine of the region follows its feed; it will resolve the conflict when it arrives.
  // Too small to take the shard (2 connections): it only follows and resolves.
  const engine = await startEngine(west.url, prefix, 'w1', 'us-west-1', { capacity: 1 })
  later(() => engine.engine.stop())

  // Two writes on the same revision, one per region, before either replicates: a claim in
  // the west (with the highest possible hash, so CouchDB's own pick would be the claim) and
  // a cancel in the east.
  const [gen, hash] = queued._rev!.split('-')
  const claim = {
    ...queued,
    state: 'claimed',
    engine: 'ghost',
    claimedAt: Date.now(),
    leaseUntil: Date.now() + 60_000,
  }
  await westDispatch.bulk({
    docs: [
      {
        ...claim,
        _rev: `${Number(gen) + 1}-ffffffffffffffffffffffffffffffff`,
        _revisions: { start: Number(gen) + 1, ids: ['ffffffffffffffffffffffffffffffff', hash] },
      },
    ],
    new_edits: false,
  })
  // Written as replication would deliver it (new_edits: false, its own revision on the same
  // parent): a plain insert on the queued _rev loses with a 409 when the west's claim has
  // already replicated — on a slow machine it often has.
  await eastDispatch.bulk({
    docs: [
      {
        ...queued,
        state: 'aborted',
        reason: 'cancelled in the east',
        _rev: `${Number(gen) + 1}-00000000000000000000000000000000`,
        _revisions: { start: Number(gen) + 1, ids: ['00000000000000000000000000000000', hash] },
      },
    ],
    new_edits: false,
  })

  // Before any engine settles it, a reader of the east region sees both revisions.
  const conflicted = await waitFor('both revisions in us-east-1', async () => {
    const doc = await getDoc<ShardDoc>(eastDispatch, shardId, { conflicts: true })
    return (doc?._conflicts?.length ?? 0) > 0 && doc
  })
  t.equal(conflicted.state, 'claimed', "CouchDB's own winner is the claim")
  t.equal((await rushStatus(east.couch, id)).shards[0]?.state, 'aborted', 'readers apply the rule: aborted')

  // The engine resolves it for good (in both regions, by replication) and does not run the shard.
  for (const [region, db] of [
    ['us-west-1', westDispatch],
    ['us-east-1', eastDispatch],
  ] as const) {
    const settled = await waitFor(`the conflict resolved in ${region}`, async () => {
      const doc = await getDoc<ShardDoc>(db, shardId, { conflicts: true })
      return doc && !doc._conflicts && doc
    })
    t.equal(settled.state, 'aborted', `${region}: the shard stands aborted, one revision`)
  }
  t.notOk(
    engine.events.some((ev) => ev.type === 'claimed'),
    'the engine never claimed the aborted shard',
  )
})
