/**
 * Fault: the region's CouchDB (PouchDB Server with on-disk storage) killed with SIGKILL mid-rush
 * and started again on the same port — at once, and after staying down longer than the engine's
 * longest back-off (the feed's 10 s; a shard write's 6 tries ≈ 6 s). The engine keeps its load
 * going, buffers its samples, reconnects its feed from where it was and writes what it owes.
 * Afterwards: the rush ends done, every second once, the merged hits equal what the target
 * answered, no sample lost or written twice, and a new rush is picked up from the feed.
 */
import t, { type Test } from 'tap'
import { migrate } from '../../controller/migrate.js'
import { FEED_MAX_BACKOFF_MS } from '../../lib/couch/follow.js'
import { readRush, submitRush } from '../../lib/couch/rushes.js'
import { cleanups } from '../harness/couch.js'
import { startDiskCouch } from '../harness/disk-couch.js'
import {
  auditSamples,
  engineFlags,
  range,
  runsPerShard,
  spawnEngine,
  twice,
  watchToEnd,
} from '../harness/faults.js'
import { figures } from '../harness/figures.js'
import { startGatedTarget } from '../harness/gated-target.js'
import { expectedSeconds } from '../harness/plane.js'

const record = figures(t, 'couch-restart')
const later = cleanups(t)
const couch = await startDiskCouch()
later(() => couch.stop())
await migrate({ prefix: couch.prefix, regions: [{ name: 'us-east-1', url: couch.url }] })
// PouchDB Server on disk takes no login (it refuses a wrong one): no credentials for it.
const engine = spawnEngine(engineFlags(couch.url, couch.prefix, 'survivor'), { couchCredentials: false })
later(() => engine.stop())
await engine.when((l) => l.msg === 'engine following dispatch')

/** Highest second of the rush with samples stored (-1: none). */
async function lastSecond(rush: string): Promise<number> {
  const rows = await couch.couch
    .db(couch.couch.names.results)
    .view('stampede', 'entries', { startkey: [rush, {}], endkey: [rush, 0], descending: true, limit: 1 })
  const key = rows.rows[0]?.key as [string, number] | undefined
  return key ? key[1] : -1
}

async function until<T>(what: string, check: () => Promise<T | false>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check().catch(() => false as const)
    if (value !== false) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

async function rushThrough(
  t: Test,
  options: { seconds: number; downMs: number; label: string; strikes: string },
): Promise<void> {
  const target = await startGatedTarget()
  t.teardown(() => target.stop())
  const id = await submitRush(couch.couch, {
    model: 'rush',
    request: { method: 'GET', url: target.url, headers: {}, timeoutMs: 2000 },
    pattern: [{ start: 3, end: 3, duration: options.seconds }],
    regions: ['us-east-1'],
    shardsPerRegion: 1,
    startLeadMs: 500,
  })
  await until('samples of second 1', async () => (await lastSecond(id)) >= 1)
  const interruptedBefore = engine.lines.filter((l) => l.msg === 'dispatch feed interrupted').length
  await couch.kill()
  const killedAt = Date.now()
  if (options.downMs > 0) {
    // Down until the engine has felt it (its feed retried) and the time is up.
    await until('the engine to feel the outage', async () => countInterrupted() > interruptedBefore)
    const left = options.downMs - (Date.now() - killedAt)
    if (left > 0) await new Promise((resolve) => setTimeout(resolve, left))
  }
  await couch.restart()
  const restartedAt = Date.now()
  const upAgainMs = restartedAt - killedAt
  // Back to service: the samples of the second that ends after the restart are stored (and
  // with them those buffered while the server was down).
  const { startAt } = await readRush(couch.couch, id)
  const due = Math.min(options.seconds - 1, Math.ceil((restartedAt - startAt) / 1000))
  await until('samples written after the restart', async () => (await lastSecond(id)) >= due)
  const recoverMs = Date.now() - restartedAt
  const seen = await watchToEnd(couch.couch, id)
  t.equal(seen.state, 'done', 'the rush ends done')
  t.same(seen.seconds, range(seen.seconds.length), 'every second reported once, in order')
  // A shard whose load was ready late runs its whole pattern from a later second, the
  // seconds before reported empty (docs/job-plane.md, "A late start"): on a busy machine a
  // 500-ms lead can be missed, and the rush then has one second more than its pattern.
  const planned = await expectedSeconds(couch.couch, id, options.seconds)
  t.equal(seen.seconds.length, planned, 'as many seconds as the pattern (and its late start)')
  t.equal(seen.hits, target.answered, 'merged hits equal what the target answered')
  t.equal(target.received, target.answered, 'every request answered')
  const audit = await auditSamples(couch.couch, id)
  t.same([audit.duplicates, audit.gaps], [0, 0], 'no sample lost or written twice')
  t.equal(audit.entries, planned, 'one entry per second of the shard')
  t.ok(countInterrupted() > interruptedBefore, 'the engine felt the outage (its feed was interrupted)')
  const runs = runsPerShard(engine)
  t.equal(twice(runs), 0, 'no shard started twice')
  record({
    fault: options.label,
    strikes: options.strikes,
    outcome: `rush ${seen.state}; the engine carried on, its buffered samples written after the restart`,
    recoverMs,
    secondsReported: seen.seconds.length,
    secondsPlanned: planned,
    shardsRunTwice: twice(runs),
    documentsLost: audit.gaps,
    extra: {
      'samples written twice': audit.duplicates,
      'server down ms': upAgainMs,
      'late start, s': planned - options.seconds,
    },
  })
}

function countInterrupted(): number {
  return engine.lines.filter((l) => l.msg === 'dispatch feed interrupted').length
}

t.test('CouchDB killed (kill -9) mid-rush and restarted at once on the same port, on-disk', async (t) => {
  await rushThrough(t, {
    seconds: 6,
    downMs: 0,
    label: 'region CouchDB killed (kill -9) mid-rush, restarted at once (on-disk)',
    strikes: 'after the samples of second 1 are stored',
  })
})

t.test('CouchDB killed mid-rush and down longer than the engine back-off', async (t) => {
  const downMs = FEED_MAX_BACKOFF_MS + 2000
  await rushThrough(t, {
    seconds: 20,
    downMs,
    label: `region CouchDB killed mid-rush, down ${downMs / 1000} s (longer than the engines' back-off)`,
    strikes: 'after the samples of second 1 are stored',
  })
  // The feed resumed where it was: a rush submitted now is picked up and run.
  const target = await startGatedTarget()
  t.teardown(() => target.stop())
  const id = await submitRush(couch.couch, {
    model: 'rush',
    request: { method: 'GET', url: target.url, headers: {}, timeoutMs: 2000 },
    pattern: [{ start: 2, end: 2, duration: 2 }],
    regions: ['us-east-1'],
    shardsPerRegion: 1,
    // Room for a busy machine: a shard first seen after its pattern ended is left alone.
    startLeadMs: 5000,
  })
  const seen = await watchToEnd(couch.couch, id)
  t.equal(seen.state, 'done', 'a new rush after the outage runs')
  t.equal(seen.hits, target.answered)
})
