/**
 * Fault: malformed documents reach an engine's dispatch feed — as replication can deliver them
 * past `validate_doc_update`, here on a server without validation. Fuzzed with fast-check: 1,000
 * shard and abort documents, most of them broken one field at a time (wrong type, missing, a
 * stray value) or made of random JSON, some valid, written while the engine follows the feed.
 * Afterwards: the engine is still up, it logged every malformed document with its id and the
 * validator's reason and touched none of them, it ran every valid shard of its region, and a
 * rush submitted afterwards runs as usual.
 */
import fc from 'fast-check'
import t from 'tap'
import { migrate } from '../../controller/migrate.js'
import { bulkWrite, getDocs } from '../../lib/couch/client.js'
import { submitRush } from '../../lib/couch/rushes.js'
import { docProblem, type ShardDoc } from '../../lib/documents.js'
import { cleanups, startCouch } from '../harness/couch.js'
import { engineFlags, range, runsPerShard, spawnEngine, twice, watchToEnd } from '../harness/faults.js'
import { figures } from '../harness/figures.js'
import { expectedSeconds } from '../harness/plane.js'
import { startTarget } from '../harness/target.js'

const record = figures(t, 'malformed')
const COUNT = 1000
const REGION = 'us-east-1'

t.test(
  '1,000 random shard and abort documents: malformed ones logged and skipped, valid ones run',
  async (t) => {
    const later = cleanups(t)
    const server = await startCouch()
    later(() => server.stop())
    await migrate(
      { prefix: server.prefix, regions: [{ name: REGION, url: server.url }] },
      { validation: 'off', ...(server.credentials && { credentials: server.credentials }) },
    )
    const target = await startTarget(2)
    later(() => target.close())
    // The rush after the fuzz has a target of its own: it runs while the fuzzed valid shards
    // still wait for their start, and each target's count stays one run's.
    const nextTarget = await startTarget(2)
    later(() => nextTarget.close())
    const engine = spawnEngine(engineFlags(server.url, server.prefix, 'fuzzed'))
    later(() => engine.stop())
    await engine.when((l) => l.msg === 'engine following dispatch')

    const startAt = Date.now() + 12_000
    const valid = (rush: string, n: number, region = REGION): ShardDoc => ({
      _id: `shard:${rush}:${n}`,
      type: 'shard',
      rush,
      n,
      region,
      model: 'rush',
      request: { method: 'GET', url: target.url, headers: {}, timeoutMs: 1000 },
      pattern: [{ start: 1, end: 1, duration: 1 }],
      share: { index: 0, of: 1 },
      startAt,
      connections: 1,
      state: 'queued',
    })
    // Values that break a field whatever its type (no huge numbers: a far-future start would be
    // valid and only wait).
    const stray = fc.constantFrom<unknown>(undefined, null, -1, 'x', '', {}, [], true, [{}], { url: 1 })
    const field = fc.constantFrom(
      'type',
      'rush',
      'n',
      'region',
      'model',
      'request',
      'pattern',
      'share',
      'startAt',
      'connections',
      'state',
      'engine',
      'leaseUntil',
      'histogram',
    )
    const rushId = fc.stringMatching(/^[a-z0-9]{4,10}$/).map((s) => `fz-${s}`)
    const shard = fc
      .oneof(
        { weight: 12, arbitrary: fc.tuple(rushId, fc.nat(3), field, stray) },
        { weight: 1, arbitrary: fc.tuple(rushId, fc.nat(3), fc.constant(undefined), fc.constant(undefined)) },
      )
      .map(([rush, n, key, value]) => {
        const doc = valid(rush, n) as unknown as Record<string, unknown>
        if (key !== undefined) doc[key] = value
        return doc
      })
    const abort = fc
      .tuple(rushId, fc.constantFrom<unknown>(undefined, 'type', 'rush', 'at'), stray)
      .map(([rush, key, value]) => {
        const doc: Record<string, unknown> = { _id: `abort:${rush}`, type: 'abort', rush, at: Date.now() }
        if (typeof key === 'string') doc[key] = value
        return doc
      })
    const junk = fc
      .tuple(
        fc.stringMatching(/^[a-z]{1,8}$/),
        fc.dictionary(
          fc.string().filter((k) => !k.startsWith('_')),
          fc.jsonValue(),
          { maxKeys: 5 },
        ),
      )
      .map(([id, body]) => ({
        ...body,
        _id: `junk:${id}`,
        type: fc.sample(fc.constantFrom('shard', 'abort'), 1)[0],
      }))
    const docs = fc.sample(
      fc.oneof(
        { weight: 6, arbitrary: shard },
        { weight: 3, arbitrary: abort },
        { weight: 1, arbitrary: junk },
      ),
      {
        numRuns: COUNT,
        seed: 20261130,
      },
    )
    // One document per id (the last wins), so each id has a single, known revision.
    const byId = new Map<string, Record<string, unknown>>()
    for (const doc of docs) {
      const clean = JSON.parse(JSON.stringify(doc)) as Record<string, unknown>
      byId.set(String(clean._id), clean)
    }
    const written = [...byId.values()]
    const malformed = written.filter((doc) => docProblem(doc) !== null)
    const runnable = written.filter(
      (doc) =>
        docProblem(doc) === null && doc.type === 'shard' && doc.region === REGION && doc.state === 'queued',
    )
    const abortedRushes = new Set(
      written.filter((d) => docProblem(d) === null && d.type === 'abort').map((d) => d.rush),
    )
    const expected = runnable.filter((doc) => !abortedRushes.has(doc.rush))
    t.ok(malformed.length > 500, `${malformed.length} malformed documents of ${written.length}`)
    t.ok(expected.length >= 10, `${expected.length} valid queued shards to run`)

    const dispatch = server.couch.db(server.couch.names.dispatch(REGION))
    const writtenAt = Date.now()
    for (let i = 0; i < written.length; i += 100) {
      const results = await bulkWrite(dispatch, written.slice(i, i + 100))
      t.notOk(
        results.some((r) => r.error),
        `batch ${i / 100} written without validation`,
      )
    }

    // Every malformed document is logged with its id and the validator's reason.
    const ids = new Set(malformed.map((d) => String(d._id)))
    await engine
      .when(() => {
        let missing = 0
        for (const id of ids) if (!engine.lines.some((l) => l.doc === id)) missing++
        return missing === 0
      }, 60_000)
      .catch(() => {})
    const skipped = new Map(
      engine.lines
        .filter((l) => l.msg === 'skipping a malformed document')
        .map((l) => [String(l.doc), String(l.reason)]),
    )
    let logged = 0
    for (const doc of malformed) {
      if (skipped.get(String(doc._id)) === docProblem(doc)) logged++
    }
    t.equal(logged, malformed.length, 'every malformed document logged with its id and its reason')
    const allSkippedAt = Date.now()
    t.comment(`all malformed documents logged ${allSkippedAt - writtenAt} ms after the first write`)

    // Still serving: a rush submitted once every malformed document went by runs as usual. It is
    // submitted now rather than after the valid shards' fixed start, so that its lead and
    // pattern pass while they wait.
    const id = await submitRush(server.couch, {
      model: 'rush',
      request: { method: 'GET', url: nextTarget.url, headers: {}, timeoutMs: 1000 },
      pattern: [{ start: 2, end: 2, duration: 2 }],
      regions: [REGION],
      shardsPerRegion: 1,
      // Room for a busy machine: a shard the engine first sees after its pattern ended is (rightly)
      // left alone, and with no controller here nothing would mark it lost.
      startLeadMs: 5000,
    })
    const next = watchToEnd(server.couch, id)
    // Awaited below; a failure meanwhile must not count as unhandled.
    next.catch(() => {})

    // The valid ones ran: done, by this engine.
    const finalIds = expected.map((d) => String(d._id))
    const done = await waitUntil(async () => {
      const states = await getDocs<ShardDoc>(dispatch, finalIds)
      return states.every((s) => s.state === 'done') && states
    }, 60_000)
    t.equal(done.length, expected.length, 'every valid queued shard of the region ran')
    t.ok(
      done.every((s) => s.engine === 'fuzzed'),
      'by this engine',
    )
    const hitsAfterFuzz = target.count
    t.equal(
      done.reduce((sum, s) => sum + s.totals!.hits, 0),
      hitsAfterFuzz,
      'their hits add up to what the target counted: nothing else was run',
    )

    // Malformed documents were left as they were.
    const after = await getDocs<Record<string, unknown>>(
      dispatch,
      malformed.map((d) => String(d._id)),
    )
    const touched = after.filter((d) => !String(d._rev).startsWith('1-')).length
    t.equal(touched, 0, 'no malformed document was written to')

    const seen = await next
    t.equal(seen.state, 'done', `the rush after the fuzz: ${seen.state}`)
    // A late start (the engine busy with the fuzz) adds its empty seconds: docs/job-plane.md.
    t.same(seen.seconds, range(await expectedSeconds(server.couch, id, 2)))
    t.equal(seen.hits, nextTarget.count, 'merged hits equal what its target counted')
    t.equal(target.count, hitsAfterFuzz, 'and the fuzzed shards ran nothing more')
    t.equal(engine.child.exitCode, null, 'the engine is still up')
    t.same(engine.stderr, [], 'nothing on stderr')

    record({
      fault: `${COUNT} random shard and abort documents (fast-check) in a dispatch db without validation`,
      strikes: 'written in bulk while the engine follows the feed',
      outcome: `engine up; ${malformed.length} malformed logged with id and reason, untouched; ${expected.length} valid shards ran; next rush done`,
      recoverMs: allSkippedAt - writtenAt,
      secondsReported: seen.seconds.length,
      secondsPlanned: 2,
      shardsRunTwice: twice(runsPerShard(engine)),
      documentsLost: expected.length - done.length,
      extra: {
        'documents written': written.length,
        malformed: malformed.length,
        'valid shards run': done.length,
      },
    })
  },
)

async function waitUntil<T>(check: () => Promise<T | false>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value !== false) return value
    if (Date.now() > deadline) throw new Error('timed out')
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
}
