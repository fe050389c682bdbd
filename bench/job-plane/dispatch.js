#!/usr/bin/env node
// Dispatch latency: the rush's write acknowledged → the first request reaching the target.
//
// One PouchDB Server (in memory, 127.0.0.1), one region, 4 engines as real processes
// (dist/daemon/main.js, --workers 0 and, in a second pass, --workers auto) following the
// region's dispatch feed. Each rush: 4 shards (one per engine if they spread), startLeadMs 0
// (startAt = the submission instant, so shards start as soon as an engine sees them).
//
// t0 = the moment submitRush() resolved: the rush doc (fleet) and then the region's shards
// (one _bulk_docs to the dispatch db) are acknowledged by the server, so the shards are
// in the feed. Reported from t0: the first request at the target (the headline figure),
// the first claim written, and the last shard `running` (claimedAt/startedAt are written by
// the engines with the same machine clock). submitRush's own duration is reported too.
import {
  dist,
  load,
  machine,
  migrateRegion,
  QUICK,
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
const VARIANTS = (process.env.BENCH_DISPATCH_WORKERS ?? (QUICK ? '0' : '0,auto')).split(',')

async function main() {
  const { connectCouch, getDocs } = await dist('lib/couch/client.js')
  const { submitRush } = await dist('lib/couch/rushes.js')
  const info = machine()
  say(`Dispatch latency — ${RUSHES} rushes, ${ENGINES} engine processes, PouchDB Server in memory`)
  say(`load average at start: ${info.loadAtStart.join(' ')} (${info.cores} cores, shared with other work)`)
  const pouch = await startPouch()
  const target = await startTarget(10)
  const results = []
  for (const workers of VARIANTS) {
    const prefix = uniquePrefix('d')
    await migrateRegion(pouch.url, prefix, REGION)
    const couch = connectCouch(pouch.url, { prefix })
    const ids = Array.from({ length: ENGINES }, (_, i) => `${prefix}-e${i}`)
    const engines = ids.map((instanceId) =>
      startEngineProcess({ couchUrl: pouch.url, prefix, instanceId, region: REGION, workers }),
    )
    await waitEnginesUp(couch, ids, engines)
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
          startLeadMs: 0,
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
      rows.push({
        rush: k + 1,
        submitMs: t0 - called,
        firstRequestMs: first - t0,
        firstClaimMs: Math.min(...shards.map((s) => s.claimedAt)) - t0,
        lastRunningMs: Math.max(...shards.map((s) => s.startedAt ?? Number.NaN)) - t0,
        engines: new Set(shards.map((s) => s.engine)).size,
        states: [...new Set(shards.map((s) => s.state))].join(','),
        requests: target.counts.get(path),
      })
      await sleep(300)
    }
    const loadEnd = load()
    for (const engine of engines) engine.kill('SIGTERM')
    say('')
    say(
      `workers=${workers} (${workers === '0' ? 'load in the engine process' : 'load processes forked per shard'}):`,
    )
    table(rows, [
      ['rush', 'rush'],
      ['submitMs', 'submit ms'],
      ['firstRequestMs', 'first request ms'],
      ['firstClaimMs', 'first claim ms'],
      ['lastRunningMs', 'last shard running ms'],
      ['engines', 'engines used'],
      ['states', 'final'],
      ['requests', 'requests'],
    ])
    const first = summary(rows.map((r) => r.firstRequestMs))
    const claim = summary(rows.map((r) => r.firstClaimMs))
    const running = summary(rows.map((r) => r.lastRunningMs))
    const submit = summary(rows.map((r) => r.submitMs))
    results.push({ workers, first, claim, running, submit, rows, loadStart, loadEnd })
    say(`load average: start ${loadStart.join(' ')}, end ${loadEnd.join(' ')}`)
  }
  say('')
  say(
    `Summary, ms after the acknowledged write (nearest-rank percentiles: with ${RUSHES} rushes p99 is the slowest one):`,
  )
  table(
    results.flatMap((r) => [
      { what: `first request (workers=${r.workers})`, ...r.first, target: 'p50 < 250' },
      { what: `first claim (workers=${r.workers})`, ...r.claim },
      { what: `last shard running (workers=${r.workers})`, ...r.running },
      { what: `submitRush itself (workers=${r.workers})`, ...r.submit },
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
  const pass = results.every((r) => r.first.p50 < 250)
  say(`target p50 < 250 ms: ${pass ? 'met' : 'NOT met'}`)
  const loadEnd = load()
  say(`load average at end: ${loadEnd.join(' ')}`)
  const path = saveResult('dispatch', {
    method:
      't0 = submitRush() resolved (rush doc and shard _bulk_docs acknowledged); first request = first request headers at the target (same clock); engines are dist/daemon/main.js processes',
    rushes: RUSHES,
    engines: ENGINES,
    machine: { ...info, loadAtEnd: loadEnd },
    results: results.map((r) => ({ ...r, first: roundAll(r.first) })),
    pass,
  })
  say(`results: ${path}`)
}

function roundAll(s) {
  return Object.fromEntries(Object.entries(s).map(([k, v]) => [k, round(v, 1)]))
}

await runBench('bench:dispatch', main, { limitMs: QUICK ? 120_000 : 300_000 })
