#!/usr/bin/env node
// Dispatch latency: the rush's write acknowledged → the first request reaching the target.
//
// One PouchDB Server (in memory, 127.0.0.1), one region, 4 engines as real processes
// (dist/daemon/main.js: --workers 0; --workers auto with its pool of load processes kept
// ready; --workers auto with the pool off, forking per shard) following the region's
// dispatch feed. Each rush: 4 shards (one per engine if they spread), startLeadMs 0 by
// default (BENCH_DISPATCH_LEAD_MS): startAt = the submission instant, so every shard is
// claimed after its start: ready within 500 ms of it, it joins the rush in progress
// (load/run.ts lateStart); later (a fork on a busy machine), it runs its whole pattern from
// a later whole second of the rush's clock.
//
// Start lag = first request at the target − the start the shards were given (startAt +
// the smallest startShift × 1 s): how late the load went out after the moment it was due.
// Start shift = whole seconds the rush's shards lost to a late start (the largest).
//
// t0 = the moment submitRush() resolved: the rush doc (fleet) and then the region's shards
// (one _bulk_docs to the dispatch db) are acknowledged by the server, so the shards are
// in the feed. Reported from t0: the first request at the target (the headline figure),
// the first claim written, and the last shard `running` (claimedAt/startedAt are written by
// the engines with the same machine clock). submitRush's own duration is reported too.
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { writeDispatchSection, writeDocs } from '../docs.js'
import {
  dist,
  load,
  machine,
  migrateRegion,
  percentile,
  QUICK,
  ROOT,
  round,
  runBench,
  saveResult,
  say,
  sleep,
  startEngineProcess,
  startPouch,
  startTarget,
  summary,
  table,
  uniquePrefix,
  waitEnginesUp,
} from './common.js'

const RUSHES = Number(process.env.BENCH_DISPATCH_RUSHES ?? (QUICK ? 5 : 20))
const ENGINES = 4
const REGION = 'bench-1'
const VARIANTS = (process.env.BENCH_DISPATCH_WORKERS ?? (QUICK ? '0' : '0,auto,auto-nopool')).split(',')
const LEAD_MS = Number(process.env.BENCH_DISPATCH_LEAD_MS ?? 0)

/** `auto-nopool`: --workers auto with the engine's pool of ready load processes off. */
const variant = (name) => {
  const [workers, nopool] = name.split('-')
  const pool = workers !== '0' && nopool !== 'nopool'
  return {
    name,
    workers,
    pool,
    env: workers !== '0' && !pool ? { STAMPEDE_WORKER_POOL: '0' } : {},
    label:
      workers === '0'
        ? 'load in the engine process'
        : pool
          ? 'load processes kept ready (pool)'
          : 'load processes forked per shard (no pool)',
  }
}

/** Child process ids of `pid` (Linux). */
const childrenOf = (pid) => {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number)
  } catch {
    return []
  }
}

/** Resident memory, MiB (Linux). */
const rssMiB = (pid) => {
  const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return match ? Number(match[1]) / 1024 : Number.NaN
}

async function main() {
  const { connectCouch, getDocs } = await dist('lib/couch/client.js')
  const { submitRush } = await dist('lib/couch/rushes.js')
  const startedAt = Date.now()
  const info = machine()
  say(`Dispatch latency — ${RUSHES} rushes, ${ENGINES} engine processes, PouchDB Server in memory`)
  say(`load average at start: ${info.loadAtStart.join(' ')} (${info.cores} cores, shared with other work)`)
  const pouch = await startPouch()
  const target = await startTarget(10)
  const results = []
  for (const { name, workers, pool: pooled, env, label } of VARIANTS.map(variant)) {
    const prefix = uniquePrefix('d')
    await migrateRegion(pouch.url, prefix, REGION)
    const couch = connectCouch(pouch.url, { prefix })
    const ids = Array.from({ length: ENGINES }, (_, i) => `${prefix}-e${i}`)
    const engines = ids.map((instanceId) =>
      startEngineProcess({
        couchUrl: pouch.url,
        prefix,
        instanceId,
        region: REGION,
        workers,
        env,
        logLevel: pooled ? 'info' : 'warn',
      }),
    )
    await waitEnginesUp(couch, ids, engines)
    let idleRss
    if (pooled) {
      await Promise.all(engines.map((engine) => engine.logged('load processes ready')))
      // As on an engine's own instance, where they are done long before its first shard:
      // each pooled process warms up once loaded (load/warm-up.ts, ~1 s of CPU) — 8 at once
      // here on 2 cores. A shard that takes one stops its warm-up; the others would still
      // share the cores with it.
      const warmed = (engine) => engine.logLines.filter((e) => e.msg === 'load process warmed up').length
      const until = Date.now() + 60_000
      while (engines.some((engine) => warmed(engine) < info.cores) && Date.now() < until) await sleep(100)
      const sizes = engines.flatMap((engine) => childrenOf(engine.pid).map(rssMiB))
      idleRss = {
        processes: sizes.length,
        meanMiB: round(sizes.reduce((a, b) => a + b, 0) / sizes.length, 1),
      }
      say(`idle load processes: ${sizes.length}, RSS ${sizes.map((v) => v.toFixed(1)).join(', ')} MiB`)
    }
    await sleep(1000) // the feed request is open
    const loadStart = load()
    const rows = []
    for (let k = 0; k < RUSHES; k++) {
      const path = `/${prefix}/${k}`
      const called = Date.now()
      const id = await submitRush(
        couch,
        {
          model: 'rush',
          request: { method: 'GET', url: `${target.url}${path}`, headers: {}, timeoutMs: 2000 },
          pattern: [{ start: ENGINES, end: ENGINES, duration: 1 }],
          regions: [REGION],
          shardsPerRegion: ENGINES,
          startLeadMs: LEAD_MS,
        },
        { now: called },
      )
      const t0 = Date.now()
      const deadline = t0 + 20_000
      let shards = []
      for (;;) {
        shards = await getDocs(
          couch.db(couch.names.dispatch(REGION)),
          Array.from({ length: ENGINES }, (_, n) => `shard:${id}:${n}`),
        )
        if (
          shards.length === ENGINES &&
          shards.every((s) => ['done', 'failed', 'lost', 'aborted'].includes(s.state))
        )
          break
        if (Date.now() > deadline)
          throw new Error(`rush ${k} did not finish in 20 s: ${shards.map((s) => s.state)}`)
        await sleep(100)
      }
      const first = target.first.get(path)
      if (first === undefined) throw new Error(`rush ${k}: no request reached the target`)
      const shifts = shards.map((s) => s.startShift ?? 0)
      rows.push({
        rush: k + 1,
        submitMs: t0 - called,
        firstRequestMs: first - t0,
        startLagMs: first - (shards[0].startAt + Math.min(...shifts) * 1000),
        shiftS: Math.max(...shifts),
        firstClaimMs: Math.min(...shards.map((s) => s.claimedAt)) - t0,
        // From the first claim written to the first request: how fast a claimed shard starts.
        afterClaimMs: first - Math.min(...shards.map((s) => s.claimedAt)),
        lastRunningMs: Math.max(...shards.map((s) => s.startedAt ?? Number.NaN)) - t0,
        engines: new Set(shards.map((s) => s.engine)).size,
        states: [...new Set(shards.map((s) => s.state))].join(','),
        requests: target.counts.get(path),
      })
      await sleep(300)
    }
    const loadEnd = load()
    // With the pool the engines log how long their load took to get ready (from the head
    // start's wake-up to the start fixed): what `headStartMs` must cover.
    const readyMs = engines.flatMap((engine) =>
      (engine.logLines ?? []).filter((e) => e.msg === 'load ready').map((e) => e.readyMs),
    )
    for (const engine of engines) engine.kill('SIGTERM')
    say('')
    say(`${name} (${label}):`)
    table(rows, [
      ['rush', 'rush'],
      ['submitMs', 'submit ms'],
      ['firstRequestMs', 'first request ms'],
      ['startLagMs', 'start lag ms'],
      ['shiftS', 'shift s'],
      ['firstClaimMs', 'first claim ms'],
      ['afterClaimMs', 'first request after the claim ms'],
      ['lastRunningMs', 'last shard running ms'],
      ['engines', 'engines used'],
      ['states', 'final'],
      ['requests', 'requests'],
    ])
    const first = summary(rows.map((r) => r.firstRequestMs))
    const claim = summary(rows.map((r) => r.firstClaimMs))
    const running = summary(rows.map((r) => r.lastRunningMs))
    const submit = summary(rows.map((r) => r.submitMs))
    const lag = summary(rows.map((r) => r.startLagMs))
    lag.p95 = percentile(
      rows.map((r) => r.startLagMs),
      95,
    )
    const shift = summary(rows.map((r) => r.shiftS))
    const afterClaim = summary(rows.map((r) => r.afterClaimMs))
    afterClaim.p95 = percentile(
      rows.map((r) => r.afterClaimMs),
      95,
    )
    results.push({
      variant: name,
      workers,
      pool: pooled,
      label,
      first,
      lag,
      shift,
      afterClaim,
      claim,
      running,
      submit,
      rows,
      loadStart,
      loadEnd,
      ...(idleRss && { idleRss }),
      ...(readyMs.length > 0 && { readyMs: { ...summary(readyMs), p95: percentile(readyMs, 95) } }),
    })
    say(`load average: start ${loadStart.join(' ')}, end ${loadEnd.join(' ')}`)
  }
  say('')
  say(
    `Summary, ms after the acknowledged write (nearest-rank percentiles: with ${RUSHES} rushes p99 is the slowest one):`,
  )
  table(
    results.flatMap((r) => [
      { what: `first request (${r.variant})`, ...r.first },
      { what: `start lag (${r.variant})`, ...r.lag, target: 'p50 < 250' },
      { what: `start shift, s (${r.variant})`, ...r.shift },
      ...(r.readyMs ? [{ what: `load ready after the wake-up (${r.variant})`, ...r.readyMs }] : []),
      { what: `first claim (${r.variant})`, ...r.claim },
      { what: `last shard running (${r.variant})`, ...r.running },
      { what: `submitRush itself (${r.variant})`, ...r.submit },
    ]),
    [
      ['what', 'measure'],
      ['n', 'n'],
      ['min', 'min'],
      ['p50', 'p50'],
      ['p90', 'p90'],
      ['p99', 'p99'],
      ['max', 'max'],
      ['target', 'target'],
    ],
  )
  say('')
  say('Start lag side by side (ms after the start the shards were given), load average beside:')
  table(
    results.map((r) => ({
      variant: r.variant,
      p50: r.lag.p50,
      p95: r.lag.p95,
      shift: r.shift.p50,
      shiftMax: r.shift.max,
      first: r.first.p50,
      load: `${r.loadStart.join(' ')} → ${r.loadEnd.join(' ')}`,
      rss: r.idleRss ? `${r.idleRss.processes} × ${r.idleRss.meanMiB} MiB` : '–',
    })),
    [
      ['variant', 'variant'],
      ['p50', 'start lag p50'],
      ['p95', 'start lag p95'],
      ['shift', 'shift p50 s'],
      ['shiftMax', 'shift max s'],
      ['first', 'first request p50'],
      ['load', 'load average'],
      ['rss', 'idle load processes'],
    ],
  )
  const pooled = results.find((r) => r.pool)
  const pass = pooled ? pooled.lag.p50 < 250 : results.every((r) => r.lag.p50 < 250)
  say(`target start lag p50 < 250 ms${pooled ? ' (workers=auto, pool)' : ''}: ${pass ? 'met' : 'NOT met'}`)
  const loadEnd = load()
  say(`load average at end: ${loadEnd.join(' ')}`)
  const path = saveResult('dispatch', {
    method:
      't0 = submitRush() resolved (rush doc and shard _bulk_docs acknowledged); first request = first request headers at the target (same clock); start lag = first request − (startAt + smallest startShift × 1 s); engines are dist/daemon/main.js processes',
    startedAt: new Date(startedAt).toISOString(),
    rushes: RUSHES,
    leadMs: LEAD_MS,
    engines: ENGINES,
    machine: { ...info, loadAtEnd: loadEnd },
    results: results.map((r) => ({ ...r, first: roundAll(r.first), lag: roundAll(r.lag) })),
    pass,
  })
  say(`results: ${path}`)
  // A quick run is a smoke test: its figures do not go into the docs. As bench/api.js: the
  // whole page from bench/results/latest.json when it is here, else this section alone.
  if (!QUICK) {
    const section = {
      startedAt: new Date(startedAt).toISOString(),
      rushes: RUSHES,
      engines: ENGINES,
      leadMs: LEAD_MS,
      cores: info.cores,
      results,
      pass,
    }
    const latest = join(ROOT, 'bench/results/latest.json')
    if (existsSync(latest)) {
      const all = JSON.parse(readFileSync(latest, 'utf8'))
      all.benchmarks.dispatch = section
      writeFileSync(latest, `${JSON.stringify(all, null, 2)}\n`)
      say(`wrote ${writeDocs(latest)}`)
    } else say(`wrote ${writeDispatchSection(section)}`)
  }
}

function roundAll(s) {
  return Object.fromEntries(Object.entries(s).map(([k, v]) => [k, round(v, 1)]))
}

await runBench('bench:dispatch', main, { limitMs: QUICK ? 120_000 : 300_000 })
