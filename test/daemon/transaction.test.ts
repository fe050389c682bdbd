import t from 'tap'
import { getDoc, getDocs } from '../../lib/couch/client.js'
import { readDataRows } from '../../lib/couch/data.js'
import { readRush, submitRush, watchRush } from '../../lib/couch/rushes.js'
import { dataDocId, type ShardDoc } from '../../lib/documents.js'
import type { TransactionSpec } from '../../lib/transaction/spec.js'
import { cleanups, startCouch, uniquePrefix, waitFor } from '../harness/couch.js'
import { migrateRegions, startEngine } from '../harness/plane.js'
import { shopTransaction, startShop } from '../harness/shop.js'

/**
 * The issue's "done when" through the job plane: a four-step transaction (cookie login with
 * a CSV of users in `unique` mode, a JSON extraction) on two replicating regions, two
 * engines each. Few rows for the load, so they run out: every row is used exactly once.
 */
const ROWS = 60

t.test(
  'a transaction through CouchDB on two regions uses each unique row once and its steps add up',
  async (t) => {
    const later = cleanups(t)
    const prefix = uniquePrefix()
    const east = await startCouch({ prefix })
    later(() => east.stop())
    const west = await startCouch({ prefix })
    later(() => west.stop())
    const shop = await startShop()
    later(() => shop.close())
    await migrateRegions({ 'us-east-1': east, 'us-west-1': west }, prefix)

    const engines = [
      await startEngine(east.url, prefix, 'east-1', 'us-east-1'),
      await startEngine(east.url, prefix, 'east-2', 'us-east-1'),
      await startEngine(west.url, prefix, 'west-1', 'us-west-1'),
      await startEngine(west.url, prefix, 'west-2', 'us-west-1'),
    ]
    later(() => Promise.all(engines.map((e) => e.engine.stop())))

    const transaction = shopTransaction(shop.url, ROWS) as TransactionSpec
    const id = await submitRush(east.couch, {
      model: 'rush',
      request: transaction.steps[0]!.request,
      transaction,
      pattern: [
        { start: 1, end: 8, duration: 2 },
        { start: 8, end: 8, duration: 2 },
      ],
      regions: ['us-east-1', 'us-west-1'],
      shardsPerRegion: 2,
      startLeadMs: 2500,
    })

    // The rows are stored once per region, not in the rush or its shards.
    const rush = await readRush(east.couch, id)
    t.same(rush.transaction?.data, {
      name: 'users.csv',
      mode: 'unique',
      columns: ['user', 'pass'],
      rows: ROWS,
    })
    t.notOk('table' in (rush.transaction?.data ?? {}), 'the rush does not copy the table')
    const westRows = await waitFor('data:<rush> replicated to us-west-1', () =>
      readDataRows(west.couch.db(west.couch.names.dispatch('us-west-1')), id),
    )
    t.same(JSON.parse(westRows.toString()), transaction.data!.table.rows, 'the rows reached the other region')

    const seen: number[] = []
    const result = await watchRush(east.couch, id, (point, _histogram, parts) => {
      seen.push(point.t)
      if (point.steps)
        t.equal(parts?.length, 5, `second ${point.t} carries the iterations' and 4 steps' histograms`)
    })
    t.equal(
      result.state,
      'done',
      `shards: ${result.shards.map((s) => `${s._id} ${s.state} ${s.reason ?? ''}`)}`,
    )
    t.same(
      seen,
      result.timeline.map((p) => p.t),
    )
    const claimed = engines.filter((e) => e.events.some((ev) => ev.type === 'claimed'))
    // Which engine claims which shard is a race (on a busy machine one engine with room took
    // both of its region's shards before the other saw them); the rows' uniqueness below is
    // what must hold whoever ran them.
    t.ok(
      claimed.some((e) => engines.indexOf(e) < 2) && claimed.some((e) => engines.indexOf(e) >= 2),
      `engines of both regions ran shards (${claimed.length} of 4 engines claimed)`,
    )

    // Each row logged in exactly once, over every region and engine, and they ran out.
    t.equal(shop.logins.size, ROWS, 'every row was used')
    t.same(
      [...shop.logins.values()].filter((count) => count !== 1),
      [],
      'no row was used twice',
    )
    t.equal(shop.refused, 0, 'every step had what it needed (cookie, token, item id)')
    const summary = result.transaction!
    t.ok(summary.exhausted > 0, 'the rush says the rows ran out')
    const totals = await Promise.all(
      rush.shards.map((ref) =>
        waitFor(`final ${ref.id}`, async () => {
          const doc = await getDoc<ShardDoc>(east.couch.db(east.couch.names.dispatch(ref.region)), ref.id)
          return doc?.state === 'done' && doc
        }),
      ),
    )
    t.equal(
      totals.reduce((sum, shard) => sum + (shard.totals?.exhausted ?? 0), 0),
      summary.exhausted,
      'the shards count the exhausted iterations the summary shows',
    )

    // Per-step numbers add up to what the target counted per path.
    const steps = Object.fromEntries(summary.steps.map((step) => [step.name, step.summary]))
    t.same(Object.keys(steps), ['login', 'list', 'item', 'logout'])
    t.equal(steps.login!.hits, shop.byRoute.get('POST /login'), 'login hits = logins the target saw')
    t.equal(
      steps.list!.hits + steps.item!.hits,
      shop.byRoute.get('GET /items'),
      'list + item hits = GET /items',
    )
    t.equal(steps.logout!.hits, shop.byRoute.get('GET /logout'))
    t.equal(steps.login!.hits, ROWS)
    t.equal(summary.iterations.hits, ROWS, 'every iteration with a row ran its four steps')
    const stepHits = summary.steps.reduce((sum, step) => sum + step.summary.hits, 0)
    t.equal(stepHits, result.summary.hits, 'the steps add up to the whole')
    t.equal(result.summary.hits, 4 * ROWS)
    for (const [index, step] of summary.steps.entries()) {
      t.equal(
        result.parts![index + 1]!.totalCount,
        step.summary.hits,
        `${step.name}: its merged histogram holds each of its latencies`,
      )
    }
    t.equal(result.parts![0]!.totalCount, ROWS, "the iterations' histogram holds each iteration")

    // The data document is in both regions' dispatch databases, once.
    for (const region of ['us-east-1', 'us-west-1']) {
      const docs = await getDocs<{ rows: number }>(east.couch.db(east.couch.names.dispatch(region)), [
        dataDocId(id),
      ])
      t.equal(docs[0]?.rows, ROWS, `data:${id} in ${region}`)
    }
  },
)

t.test(
  'an arrival-rate transaction with sequential rows through one region, two engines: steps add up',
  async (t) => {
    const later = cleanups(t)
    const prefix = uniquePrefix()
    const couch = await startCouch({ prefix })
    later(() => couch.stop())
    const shop = await startShop()
    later(() => shop.close())
    await migrateRegions({ 'us-east-1': couch }, prefix)
    const engines = [
      await startEngine(couch.url, prefix, 'e-1', 'us-east-1'),
      await startEngine(couch.url, prefix, 'e-2', 'us-east-1'),
    ]
    later(() => Promise.all(engines.map((e) => e.engine.stop())))
    const transaction = shopTransaction(shop.url, 3, 'sequential') as TransactionSpec
    const id = await submitRush(couch.couch, {
      model: 'arrival-rate',
      request: transaction.steps[0]!.request,
      transaction,
      pattern: [{ start: 10, end: 10, duration: 2 }],
      // Connections a shard holds: within the test engines' capacity (1,000).
      maxInFlight: 50,
      regions: ['us-east-1'],
      shardsPerRegion: 2,
      startLeadMs: 2500,
    })
    const result = await watchRush(couch.couch, id, () => {})
    t.equal(
      result.state,
      'done',
      `shards: ${result.shards.map((s) => `${s._id} ${s.state} ${s.reason ?? ''}`)}`,
    )
    const summary = result.transaction!
    t.equal(summary.iterations.hits, 20, 'every arrival ran its four steps')
    t.same([...shop.logins.keys()].sort(), ['u0', 'u1', 'u2'], 'sequential rows wrap around the three rows')
    t.equal(
      [...shop.logins.values()].reduce((sum, count) => sum + count, 0),
      20,
    )
    t.equal(summary.exhausted, 0, 'sequential rows never run out')
    const hits = summary.steps.map((step) => step.summary.hits)
    t.same(hits, [20, 20, 20, 20])
    t.equal(hits[0], shop.byRoute.get('POST /login'))
    t.equal(hits[1]! + hits[2]!, shop.byRoute.get('GET /items'))
    t.equal(hits[3], shop.byRoute.get('GET /logout'))
  },
)
