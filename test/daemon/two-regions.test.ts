import t from 'tap'
import { getDocs } from '../../lib/couch/client.js'
import { readRush, submitRush, watchRush } from '../../lib/couch/rushes.js'
import type { ShardDoc } from '../../lib/documents.js'
import { createHistogram, decodeHistogram, mergeInto } from '../../lib/histogram.js'
import { cleanups, startCouch, uniquePrefix, waitFor } from '../harness/couch.js'
import { migrateRegions, startEngine } from '../harness/plane.js'
import { startTarget } from '../harness/target.js'

t.test('a rush over two replicating regions, two engines each, merges exactly', async (t) => {
  const later = cleanups(t)
  const prefix = uniquePrefix()
  const east = await startCouch({ prefix })
  later(() => east.stop())
  const west = await startCouch({ prefix })
  later(() => west.stop())
  const target = await startTarget(5)
  later(() => target.close())
  await migrateRegions({ 'us-east-1': east, 'us-west-1': west }, prefix)

  const engines = [
    await startEngine(east.url, prefix, 'east-1', 'us-east-1'),
    await startEngine(east.url, prefix, 'east-2', 'us-east-1'),
    await startEngine(west.url, prefix, 'west-1', 'us-west-1'),
    await startEngine(west.url, prefix, 'west-2', 'us-west-1'),
  ]
  later(() => Promise.all(engines.map((e) => e.engine.stop())))

  const submittedAt = Date.now()
  const id = await submitRush(east.couch, {
    model: 'rush',
    request: { method: 'GET', url: target.url, headers: {}, timeoutMs: 2000 },
    // A ramp second and a steady one: what is asked below (every second once, merged hits and
    // percentiles, each shard claimed once in its region) holds for any length.
    pattern: [
      { start: 1, end: 8, duration: 1 },
      { start: 8, end: 8, duration: 1 },
    ],
    regions: ['us-east-1', 'us-west-1'],
    shardsPerRegion: 2,
    startLeadMs: 2500,
  })
  const seconds: number[] = []
  const result = await watchRush(east.couch, id, (point) => seconds.push(point.t), { pollMs: 200 })
  const claims = engines.flatMap((e) =>
    e.events.filter((ev) => ev.type === 'claimed').map((ev) => ({ engine: e.engine.instanceId, ...ev })),
  )

  t.equal(result.state, 'done')
  // A shard whose engine was late (a busy machine) runs its pattern from a later second.
  const shift = Math.max(0, ...result.shards.map((s) => s.startShift ?? 0))
  const expected = Array.from({ length: 2 + shift }, (_, i) => i)
  t.same(seconds, expected, 'every second of the timeline is present once, in order')
  t.same(
    result.timeline.map((p) => p.t),
    expected,
  )
  t.ok(result.summary.hits > 0)
  t.equal(result.summary.hits, target.count, 'merged hits equal the requests the target counted')
  t.equal(claims.length, 4, 'each of the four shards was claimed once')
  for (const claim of claims) {
    const region = claim.engine.startsWith('east') ? 'us-east-1' : 'us-west-1'
    const rush = await readRush(east.couch, id)
    t.equal(
      rush.shards.find((s) => s.id === (claim as { shard: string }).shard)?.region,
      region,
      `${claim.engine} claimed a shard of its own region`,
    )
  }

  // The shards' final histograms, replicated back to the region the CLI reads.
  const rush = await readRush(east.couch, id)
  const shards: ShardDoc[] = []
  for (const region of rush.regions) {
    const ids = rush.shards.filter((s) => s.region === region).map((s) => s.id)
    shards.push(
      ...(await waitFor(`final shards of ${region} in us-east-1`, async () => {
        const docs = await getDocs<ShardDoc>(east.couch.db(east.couch.names.dispatch(region)), ids)
        return docs.length === ids.length && docs.every((d) => d.state === 'done') && docs
      })),
    )
  }
  const merged = createHistogram()
  for (const shard of shards) mergeInto(merged, decodeHistogram(shard.histogram!))
  t.equal(
    merged.totalCount,
    result.histogram.totalCount,
    'the per-second histograms hold every latency the shards recorded',
  )
  t.equal(
    result.histogram.getValueAtPercentile(99),
    merged.getValueAtPercentile(99),
    'merged p99 equals the p99 of all shards merged',
  )
  t.equal(result.summary.latency.p99, merged.getValueAtPercentile(99) / 1000)

  const writeRates = engines.map((e) => e.engine.writesPerSecond().toFixed(2))
  t.comment(`submit → done ${Date.now() - submittedAt} ms; writes/s per engine ${writeRates.join(', ')}`)
})
