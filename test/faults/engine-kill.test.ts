/**
 * Fault: an engine SIGKILLed in each phase of a shard, then restarted (as systemd does).
 * Strikes on events — the engine's own log lines, or its write of the shard caught by a proxy
 * in front of CouchDB — never on sleeps. Afterwards: the rush ends (done, or failed with the
 * lost shard's reason in `stampede status`), every second reported once, the merged hits equal
 * what the target answered, no shard started twice.
 */
import t from 'tap'
import { getDoc } from '../../lib/couch/client.js'
import { submitRush } from '../../lib/couch/rushes.js'
import type { ShardDoc } from '../../lib/documents.js'
import { runCli } from '../harness/cli.js'
import { cleanups, startCouch } from '../harness/couch.js'
import {
  auditSamples,
  type EngineProc,
  engineFlags,
  range,
  runsPerShard,
  spawnEngine,
  twice,
  watchToEnd,
} from '../harness/faults.js'
import { figures } from '../harness/figures.js'
import { type GatedTarget, startGatedTarget } from '../harness/gated-target.js'
import { expectedSeconds, migrateRegions } from '../harness/plane.js'
import { docWrite, startProxy } from '../harness/proxy.js'

const record = figures(t, 'engine-kill')
const later = cleanups(t)
const server = await startCouch()
later(() => server.stop())
await migrateRegions({ 'us-east-1': server }, server.prefix)
const proxy = await startProxy(server.url)
later(() => proxy.close())
const dispatch = server.couch.db(server.couch.names.dispatch('us-east-1'))

async function rush(target: GatedTarget, seconds: number, leadMs: number): Promise<string> {
  return submitRush(server.couch, {
    model: 'rush',
    request: { method: 'GET', url: target.url, headers: {}, timeoutMs: 2000 },
    pattern: [{ start: 3, end: 3, duration: seconds }],
    regions: ['us-east-1'],
    shardsPerRegion: 1,
    startLeadMs: leadMs,
  })
}

/** An engine through the proxy, killed in teardown if still alive. */
function engine(t: { teardown(fn: () => unknown): void }, id: string): EngineProc {
  const proc = spawnEngine(engineFlags(proxy.url, server.prefix, id))
  t.teardown(() => proc.stop())
  return proc
}

async function statusLine(rush: string): Promise<string> {
  const run = await runCli(['status', rush, '--couch', server.url, '--prefix', server.prefix])
  return run.stdout + run.stderr
}

t.test(
  'killed while its shard is claimed (not started): requeued on restart, run once in full',
  async (t) => {
    const target = await startGatedTarget()
    t.teardown(() => target.stop())
    const first = engine(t, 'kill-claimed')
    await first.when((l) => l.msg === 'engine following dispatch')
    const id = await rush(target, 2, 6000)
    const shard = `shard:${id}:0`
    await first.when((l) => l.msg === 'shard claimed' && l.shard === shard)
    const killedAt = await first.kill()
    t.equal((await getDoc<ShardDoc>(dispatch, shard))?.state, 'claimed', 'struck while claimed')
    const second = engine(t, 'kill-claimed')
    const recovered = await second.when((l) => l.msg === 'recovered shard held before restart')
    t.equal(recovered.state, 'queued', 'handed back to the queue (nothing was sent)')
    const reclaimed = await second.when((l) => l.msg === 'shard claimed' && l.shard === shard)
    const seen = await watchToEnd(server.couch, id)
    t.equal(seen.state, 'done')
    // A late start (busy machine) adds its empty seconds before the pattern: docs/job-plane.md.
    t.same(seen.seconds, range(await expectedSeconds(server.couch, id, 2)), 'every second reported once')
    t.equal(seen.hits, target.answered, 'merged hits equal what the target answered')
    t.equal(target.received, target.answered, 'nothing else reached the target')
    const runs = runsPerShard(first, second)
    t.same([...runs], [[shard, 1]], 'the shard started once')
    const audit = await auditSamples(server.couch, id)
    t.same([audit.duplicates, audit.gaps], [0, 0], 'no sample written twice, none missing')
    record({
      fault: 'engine SIGKILLed, shard claimed',
      strikes: 'on the engine\'s "shard claimed" line, 6 s before the start',
      outcome: `rush ${seen.state}; shard requeued and run once in full`,
      recoverMs: reclaimed.time - killedAt,
      secondsReported: seen.seconds.length,
      secondsPlanned: 2,
      shardsRunTwice: twice(runs),
      documentsLost: audit.gaps,
      extra: { 'samples written twice': audit.duplicates },
    })
  },
)

t.test(
  'killed just before its start (writing `running`): requeued, run once, late on the rush clock',
  async (t) => {
    const target = await startGatedTarget()
    t.teardown(() => target.stop())
    const first = engine(t, 'kill-start')
    await first.when((l) => l.msg === 'engine following dispatch')
    const id = await rush(target, 5, 2500)
    const shard = `shard:${id}:0`
    const hold = proxy.hold(docWrite(shard, (doc) => doc.state === 'running'))
    t.teardown(() => hold.drop())
    await hold.arrived
    const killedAt = await first.kill()
    hold.drop()
    t.equal(target.received, 0, 'struck before any request went out')
    const second = engine(t, 'kill-start')
    const recovered = await second.when((l) => l.msg === 'recovered shard held before restart')
    t.equal(recovered.state, 'queued', 'the `running` write never landed: back to the queue')
    const running = await second.when((l) => l.msg === 'shard running' && l.shard === shard)
    const seen = await watchToEnd(server.couch, id)
    t.equal(seen.state, 'done')
    // A late run keeps its whole pattern, shifted to a later whole second of the rush's clock
    // (load/run.ts lateStart): the seconds it waited are reported empty.
    t.ok(seen.seconds.length >= 5, `${seen.seconds.length} seconds: the 5 of the pattern and the shift`)
    t.same(seen.seconds, range(seen.seconds.length), 'every second reported once')
    t.equal(seen.hits, target.answered, 'merged hits equal what the target answered')
    const runs = runsPerShard(first, second)
    t.same([...runs], [[shard, 1]], 'the shard started once')
    const audit = await auditSamples(server.couch, id)
    t.same([audit.duplicates, audit.gaps], [0, 0], 'no sample written twice, none missing')
    record({
      fault: 'engine SIGKILLed, just before the shard starts',
      strikes: 'while its `running` write is in flight (held by a proxy), 20 ms before second 0',
      outcome: `rush ${seen.state}; shard requeued, run once in full, ${seen.seconds.length - 5} s later on the rush clock (the seconds it waited reported empty)`,
      recoverMs: running.time - killedAt,
      secondsReported: seen.seconds.length,
      secondsPlanned: 5,
      shardsRunTwice: twice(runs),
      documentsLost: audit.gaps,
      extra: { 'samples written twice': audit.duplicates },
    })
  },
)

t.test(
  'killed mid-run: marked lost on restart with its reason, never re-run; what it reported stands',
  async (t) => {
    const target = await startGatedTarget()
    t.teardown(() => target.stop())
    const first = engine(t, 'kill-mid')
    await first.when((l) => l.msg === 'engine following dispatch')
    const id = await rush(target, 30, 300)
    const shard = `shard:${id}:0`
    await first.when((l) => l.msg === 'shard running' && l.shard === shard)
    // Strike once the samples of second 1 are written; stop the target's answers first, so
    // every answer it gave reached a living engine (and its samples, below).
    await waitForSamples(id, 1)
    target.close()
    const closedAt = Date.now()
    // Every answer has been recorded and written once a later second's samples are written.
    await waitForSamples(id, Math.floor((closedAt - (await startOf(id))) / 1000) + 1)
    const killedAt = await first.kill()
    const second = engine(t, 'kill-mid')
    const recovered = await second.when((l) => l.msg === 'recovered shard held before restart')
    t.equal(recovered.state, 'lost')
    const seen = await watchToEnd(server.couch, id)
    t.equal(seen.state, 'failed', 'the rush ends: failed, not stuck')
    t.ok(seen.seconds.length >= 2 && seen.seconds.length < 30, `seconds reported: ${seen.seconds.length}`)
    t.same(seen.seconds, range(seen.seconds.length), 'the reported seconds, each once, in order')
    t.equal(seen.hits, target.answered, 'merged hits equal what the target answered')
    t.match(await statusLine(id), /lost.*engine restarted/s, 'stampede status prints the reason')
    const runs = runsPerShard(first, second)
    t.same([...runs], [[shard, 1]], 'never re-run')
    const audit = await auditSamples(server.couch, id)
    t.same([audit.duplicates, audit.gaps], [0, 0], 'no sample written twice, none missing')
    record({
      fault: 'engine SIGKILLed mid-run',
      strikes: 'after its samples of second 1 are written',
      outcome: 'rush failed; shard lost ("engine restarted", printed by stampede status), not re-run',
      recoverMs: recovered.time - killedAt,
      secondsReported: seen.seconds.length,
      secondsPlanned: 30,
      shardsRunTwice: twice(runs),
      documentsLost: audit.gaps,
      extra: { 'samples written twice': audit.duplicates },
    })
  },
)

t.test(
  'killed while writing its final histogram: every second reported, marked lost, not re-run',
  async (t) => {
    const target = await startGatedTarget()
    t.teardown(() => target.stop())
    const first = engine(t, 'kill-final')
    await first.when((l) => l.msg === 'engine following dispatch')
    const id = await rush(target, 2, 1500)
    const shard = `shard:${id}:0`
    const hold = proxy.hold(
      docWrite(shard, (doc) => doc.state === 'done' && typeof doc.histogram === 'string'),
    )
    t.teardown(() => hold.drop())
    await hold.arrived
    const killedAt = await first.kill()
    hold.drop()
    const second = engine(t, 'kill-final')
    const recovered = await second.when((l) => l.msg === 'recovered shard held before restart')
    t.equal(recovered.state, 'lost', 'it was running when the final write was lost')
    const seen = await watchToEnd(server.couch, id)
    t.equal(seen.state, 'failed')
    t.same(
      seen.seconds,
      range(await expectedSeconds(server.couch, id, 2)),
      'every second reported once: the samples were written before the final write',
    )
    t.equal(seen.hits, target.answered, 'merged hits equal what the target answered')
    const runs = runsPerShard(first, second)
    t.same([...runs], [[shard, 1]], 'never re-run')
    const audit = await auditSamples(server.couch, id)
    t.same([audit.duplicates, audit.gaps], [0, 0], 'no sample written twice, none missing')
    record({
      fault: 'engine SIGKILLed while writing its final histogram',
      strikes: 'while the `done` write with the histogram is in flight (held by a proxy, then dropped)',
      outcome: 'rush failed (shard lost, "engine restarted"); all its seconds were already written',
      recoverMs: recovered.time - killedAt,
      secondsReported: seen.seconds.length,
      secondsPlanned: 2,
      shardsRunTwice: twice(runs),
      documentsLost: audit.gaps,
      extra: { 'samples written twice': audit.duplicates },
    })
  },
)

async function startOf(rush: string): Promise<number> {
  const doc = await getDoc<{ startAt: number }>(server.couch.db(server.couch.names.fleet), `rush:${rush}`)
  return doc!.startAt
}

/** Until a samples entry of `rush` for second `t` or later is in the results database. */
async function waitForSamples(rush: string, t: number): Promise<void> {
  const results = server.couch.db(server.couch.names.results)
  for (const deadline = Date.now() + 30_000; Date.now() < deadline; ) {
    const rows = await results.view('stampede', 'entries', {
      startkey: [rush, t],
      endkey: [rush, {}],
      limit: 1,
    })
    if (rows.rows.length > 0) return
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`no samples of second ${t} of ${rush} within 30 s`)
}
