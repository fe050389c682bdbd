import t from 'tap'
import { couchStore } from '../../controller/reconcile/store.js'
import { getDoc, updateSeq } from '../../lib/couch/client.js'
import { readRush, submitRush } from '../../lib/couch/rushes.js'
import type { EngineDoc, ShardDoc } from '../../lib/documents.js'
import { cleanups, startCouch, uniquePrefix, waitFor } from '../harness/couch.js'
import { migrateRegions, startEngine } from '../harness/plane.js'
import { startTarget } from '../harness/target.js'

t.test(
  'an idle engine the controller marks for scale-in keeps draining and claims nothing more',
  async (t) => {
    const later = cleanups(t)
    const server = await startCouch({ prefix: uniquePrefix() })
    later(() => server.stop())
    const target = await startTarget(5)
    later(() => target.close())
    await migrateRegions({ 'us-east-1': server }, server.prefix)
    const engine = await startEngine(server.url, server.prefix, 'idle-1', 'us-east-1', { heartbeatMs: 200 })
    later(() => engine.engine.stop())

    const store = couchStore(server.couch, () => server.couch)
    t.ok(await store.markDraining('us-east-1', 'idle-1', 'idle past the cooldown'), 'the controller marks it')
    await engine.when((event) => event.type === 'draining')
    const fleet = server.couch.db(server.couch.names.fleet)
    // Several heartbeats later the doc still says draining: the engine does not undo the mark.
    const before = (await getDoc<EngineDoc>(fleet, 'engine:idle-1'))!.heartbeatAt
    await waitFor(
      'three more heartbeats',
      async () => (await getDoc<EngineDoc>(fleet, 'engine:idle-1'))!.heartbeatAt > before + 500,
    )
    t.equal((await getDoc<EngineDoc>(fleet, 'engine:idle-1'))!.state, 'draining')

    const id = await submitRush(server.couch, {
      model: 'rush',
      request: { method: 'GET', url: target.url, headers: {}, timeoutMs: 1000 },
      pattern: [{ start: 1, end: 1, duration: 1 }],
      regions: ['us-east-1'],
      shardsPerRegion: 1,
      startLeadMs: 200,
    })
    const rush = await readRush(server.couch, id)
    const dispatch = server.couch.db(server.couch.names.dispatch('us-east-1'))
    // Proof that the engine considered the shard (a sleep proves nothing on a slow machine):
    // its checkpoint, written with each heartbeat, passes the shard's change; two heartbeats
    // later a claim decided then would have been written. Seqs are opaque, but on one node
    // their leading number grows (PouchDB: a number; CouchDB 3: "N-…").
    const seqNumber = (seq: unknown) => Number.parseInt(String(seq), 10)
    const shardSeq = seqNumber(await updateSeq(dispatch))
    const handled = await waitFor('the engine to handle the shard change', async () => {
      const doc = await getDoc<EngineDoc>(fleet, 'engine:idle-1')
      return seqNumber(doc!.checkpoint) >= shardSeq && doc!.heartbeatAt
    })
    await waitFor(
      'two more heartbeats',
      async () => (await getDoc<EngineDoc>(fleet, 'engine:idle-1'))!.heartbeatAt > handled + 300,
    )
    t.equal(
      (await getDoc<ShardDoc>(dispatch, rush.shards[0]!.id))!.state,
      'queued',
      'the new shard is left for others',
    )
    t.notOk(
      engine.events.some((event) => event.type === 'claimed'),
      'the engine claimed nothing',
    )
    t.equal(target.count, 0)
  },
)

t.test(
  'the watchdog health follows the dispatch feed: alive while it shows life, not once it stops',
  async (t) => {
    const server = await startCouch({ prefix: uniquePrefix() })
    t.teardown(() => server.stop())
    await migrateRegions({ 'us-east-1': server }, server.prefix)
    // Feed heartbeat 200 ms: silence is allowed for 3 × 200 ms + the 10 s longest back-off + 1 s.
    const engine = await startEngine(server.url, server.prefix, 'health-1', 'us-east-1', {
      feedHeartbeatMs: 200,
    })
    t.equal(engine.engine.health(), true, 'healthy while following')
    // Healthy 12.5 s from now only if the feed shows life more than 0.9 s from now: wait for
    // that heartbeat (an event) rather than sleeping and hoping one came.
    const before = Date.now()
    await waitFor('a feed heartbeat a second later', () => engine.engine.health(before + 12_500) === true)
    t.equal(engine.engine.health(before + 12_500), true, 'heartbeats kept the feed alive meanwhile')
    await engine.engine.stop()
    // stop() resolves once the feed loop has ended: its last sign of life is behind us.
    const stopped = Date.now()
    t.match(
      engine.engine.health(stopped + 12_500),
      /dispatch feed silent for \d+ s/,
      'a feed loop that stopped is a reason',
    )
  },
)
