#!/usr/bin/env node
// Writes per engine per second during rushes, all databases together.
//
// 4 engines as real processes (dist/daemon/main.js, --workers 0, the daemon's default
// heartbeat 10 s, checkpoint 5 s, lease 30 s, samples 1 s). Each engine talks to CouchDB
// through its own counting HTTP proxy on 127.0.0.1, so every request it makes is seen
// and attributed: a write is any PUT/POST/DELETE except the read-only POSTs (_all_docs,
// _bulk_get, _find, views, _changes, _revs_diff). A write counts once per HTTP request
// (a _bulk_docs request is one write; its documents are counted too), including writes
// that lose with 409. Writes are classified from the request body (claim, running, lease
// renewal, final, engine doc, samples, conflict settle, other).
//
// Cross-check: each database's update_seq (PouchDB: +1 per document revision) is read
// directly at the start and end of a window; its delta must equal the documents the
// engines wrote successfully plus what the submitter wrote (rush doc + shards).
//
// Scenarios: one long rush (default 20 s, 4 shards, the CLI's default 2 s lead), and
// back-to-back short rushes of 1 s and 2 s (4 shards each, startLeadMs 0, the next one
// submitted as soon as every shard of the previous is final).
import { Agent, createServer, request as httpRequest } from 'node:http'
import {
  dist,
  load,
  machine,
  migrateRegion,
  onCleanup,
  QUICK,
  round,
  runBench,
  saveResult,
  say,
  sleep,
  startEngineProcess,
  startPouch,
  startTarget,
  table,
  uniquePrefix,
  waitEnginesUp,
} from './common.js'

const ENGINES = 4
const REGION = 'bench-1'
const LONG_SECONDS = Number(process.env.BENCH_WRITES_LONG_SECONDS ?? (QUICK ? 6 : 20))
const SHORT_RUSHES = Number(process.env.BENCH_WRITES_SHORT_RUSHES ?? (QUICK ? 3 : 10))
const FINAL = ['done', 'failed', 'lost', 'aborted']
const READ_POST = /\/(_all_docs|_bulk_get|_find|_view\/|_changes|_revs_diff|_explain)/

/** A counting reverse proxy for one engine. */
async function startProxy(upstream, engine, log) {
  const up = new URL(upstream)
  const agent = new Agent({ keepAlive: true, maxSockets: Infinity })
  const server = createServer((req, res) => {
    const chunks = []
    req.on('data', (c) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks)
      const entry = { t: Date.now(), engine, method: req.method, path: req.url.split('?')[0] }
      const isWrite =
        req.method !== 'GET' &&
        req.method !== 'HEAD' &&
        !(req.method === 'POST' && READ_POST.test(entry.path))
      entry.write = isWrite
      if (isWrite) classify(entry, body)
      const headers = { ...req.headers, host: up.host }
      const out = httpRequest(
        { host: up.hostname, port: up.port, method: req.method, path: req.url, headers, agent },
        (upRes) => {
          entry.status = upRes.statusCode
          res.writeHead(upRes.statusCode, upRes.headers)
          if (entry.bulk) {
            const parts = []
            upRes.on('data', (c) => {
              parts.push(c)
              res.write(c)
            })
            upRes.on('end', () => {
              res.end()
              try {
                const results = JSON.parse(Buffer.concat(parts).toString())
                entry.docsOk = results.filter((r) => !r.error).length
                entry.docsConflict = results.filter((r) => r.error === 'conflict').length
              } catch {}
              log.push(entry)
            })
          } else {
            upRes.pipe(res)
            upRes.on('end', () => log.push(entry))
          }
        },
      )
      out.on('error', (err) => {
        entry.status = 502
        log.push(entry)
        res.destroy(err)
      })
      res.on('close', () => out.destroy())
      out.end(body)
    })
  })
  server.keepAliveTimeout = 60_000
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  onCleanup(
    () =>
      new Promise((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
        agent.destroy()
      }),
  )
  return `http://127.0.0.1:${server.address().port}`
}

const running = new Set() // `${engine} ${shard}` that already wrote `running` once

function classify(entry, body) {
  const segments = entry.path.split('/').filter(Boolean).map(decodeURIComponent)
  entry.db = segments[0]
  let doc
  try {
    doc = body.length ? JSON.parse(body.toString()) : undefined
  } catch {}
  if (segments[1] === '_bulk_docs') {
    entry.bulk = true
    entry.docs = doc?.docs?.length ?? 0
    entry.kind = entry.db.includes('-results')
      ? 'samples'
      : entry.db.includes('-dispatch-')
        ? 'settle'
        : 'bulk-other'
    return
  }
  entry.docs = 1
  const id = doc?._id ?? segments.slice(1).join('/')
  if (id.startsWith('engine:')) entry.kind = 'engine doc'
  else if (id.startsWith('shard:')) {
    const state = doc?.state
    if (state === 'claimed') entry.kind = 'claim'
    else if (state === 'running') {
      const key = `${entry.engine} ${id}`
      entry.kind = running.has(key) ? 'lease renewal' : 'running'
      running.add(key)
    } else if (FINAL.includes(state)) entry.kind = 'final'
    else if (state === 'queued') entry.kind = 'release'
    else entry.kind = 'shard other'
  } else entry.kind = 'other'
}

const KINDS = [
  'claim',
  'running',
  'lease renewal',
  'final',
  'samples',
  'engine doc',
  'settle',
  'release',
  'shard other',
  'other',
  'bulk-other',
]

async function main() {
  const { connectCouch, getDocs, updateSeq } = await dist('lib/couch/client.js')
  const { submitRush } = await dist('lib/couch/rushes.js')
  const info = machine()
  say(
    `Writes per engine per second — ${ENGINES} engine processes (workers 0), each behind its own counting proxy; PouchDB Server in memory`,
  )
  say(`load average at start: ${info.loadAtStart.join(' ')} (${info.cores} cores, shared with other work)`)
  const pouch = await startPouch()
  const target = await startTarget(10)
  const prefix = uniquePrefix('w')
  await migrateRegion(pouch.url, prefix, REGION)
  const couch = connectCouch(pouch.url, { prefix })
  const dbs = couch.names.all([REGION])
  const log = []
  const ids = Array.from({ length: ENGINES }, (_, i) => `${prefix}-e${i}`)
  const engines = []
  for (const instanceId of ids) {
    const proxy = await startProxy(pouch.url, instanceId, log)
    engines.push(startEngineProcess({ couchUrl: proxy, prefix, instanceId, region: REGION, workers: 0 }))
  }
  await waitEnginesUp(couch, ids, engines)
  await sleep(2000)

  const seqs = async () =>
    Object.fromEntries(await Promise.all(dbs.map(async (db) => [db, Number(await updateSeq(couch.db(db)))])))

  const submit = async (seconds, lead) => {
    const id = await submitRush(couch, {
      model: 'rush',
      request: { method: 'GET', url: `${target.url}/w`, headers: {}, timeoutMs: 2000 },
      pattern: [{ start: 2 * ENGINES, end: 2 * ENGINES, duration: seconds }],
      regions: [REGION],
      shardsPerRegion: ENGINES,
      ...(lead !== undefined && { startLeadMs: lead }),
    })
    return id
  }
  const untilFinal = async (id, timeoutMs) => {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const shards = await getDocs(
        couch.db(couch.names.dispatch(REGION)),
        Array.from({ length: ENGINES }, (_, n) => `shard:${id}:${n}`),
      )
      if (shards.length === ENGINES && shards.every((s) => FINAL.includes(s.state))) return shards
      if (Date.now() > deadline)
        throw new Error(
          `rush ${id} not finished within ${timeoutMs} ms: ${JSON.stringify(shards.map(({ _id, state, engine, claimedAt, startedAt, leaseUntil, startAt, reason }) => ({ _id, state, engine, claimedAt, startedAt, leaseUntil, startAt, reason })))} (now ${Date.now()})`,
        )
      await sleep(50)
    }
  }

  const scenarios = []
  const measure = async (name, run) => {
    const loadStart = load()
    const seq0 = await seqs()
    const from = Date.now()
    const { rushes, shards } = await run()
    const to = Date.now()
    const seq1 = await seqs()
    const loadEnd = load()
    const seconds = (to - from) / 1000
    const mine = log.filter((e) => e.write && e.t >= from && e.t <= to)
    const perEngine = ids.map((engine) => {
      const w = mine.filter((e) => e.engine === engine)
      const ok = w.filter((e) => e.status < 300)
      return {
        engine: engine.replace(`${prefix}-`, ''),
        shards: shards.filter((s) => s.engine === engine).length,
        writes: w.length,
        conflicts: w.filter((e) => e.status === 409).length,
        perSecond: w.length / seconds,
        okPerSecond: ok.length / seconds,
        ...Object.fromEntries(KINDS.map((k) => [k, w.filter((e) => e.kind === k).length])),
      }
    })
    const byKind = KINDS.map((kind) => {
      const w = mine.filter((e) => e.kind === kind)
      return {
        kind,
        writes: w.length,
        conflicts: w.filter((e) => e.status === 409).length,
        perEnginePerSecond: w.length / ENGINES / seconds,
      }
    }).filter((k) => k.writes > 0)
    // Cross-check with update_seq deltas.
    const engineDocsOk = mine.reduce((s, e) => s + (e.bulk ? (e.docsOk ?? 0) : e.status < 300 ? 1 : 0), 0)
    const submitted = rushes * (1 + ENGINES) // rush doc + shards
    const seqDelta = Object.values(seq1).reduce((s, v, i) => s + v - Object.values(seq0)[i], 0)
    const total = mine.length
    const s = {
      name,
      seconds: round(seconds, 2),
      rushes,
      shards: shards.length,
      writes: total,
      conflicts: mine.filter((e) => e.status === 409).length,
      perEnginePerSecond: round(total / ENGINES / seconds, 3),
      okPerEnginePerSecond: round(mine.filter((e) => e.status < 300).length / ENGINES / seconds, 3),
      byKind,
      perEngine,
      seqDelta: Object.fromEntries(
        Object.keys(seq1).map((db) => [db.replace(`${prefix}-`, ''), seq1[db] - seq0[db]]),
      ),
      crossCheck: {
        seqDeltaAll: seqDelta,
        engineDocsWritten: engineDocsOk,
        submitterDocs: submitted,
        matches: seqDelta === engineDocsOk + submitted,
      },
      reads: log.filter((e) => !e.write && e.t >= from && e.t <= to).length,
      loadStart,
      loadEnd,
    }
    scenarios.push(s)
    say('')
    say(
      `[${name}] ${s.seconds} s, ${rushes} rush(es), ${shards.length} shards: ${total} writes (${s.conflicts} lost with 409) = ${s.perEnginePerSecond} per engine per second (successful only: ${s.okPerEnginePerSecond}); load average ${loadStart.join(' ')} → ${loadEnd.join(' ')}`,
    )
    table(
      perEngine.map((p) => ({ ...p, perSecond: round(p.perSecond, 3) })),
      [
        ['engine', 'engine'],
        ['shards', 'shards run'],
        ['writes', 'writes'],
        ['conflicts', '409'],
        ['perSecond', 'writes/s'],
        ['claim', 'claim'],
        ['running', 'running'],
        ['lease renewal', 'renew'],
        ['final', 'final'],
        ['samples', 'samples'],
        ['engine doc', 'engine doc'],
        ['settle', 'settle'],
      ],
    )
    table(
      byKind.map((k) => ({ ...k, perEnginePerSecond: round(k.perEnginePerSecond, 3) })),
      [
        ['kind', 'kind'],
        ['writes', 'writes'],
        ['conflicts', '409'],
        ['perEnginePerSecond', 'per engine per s'],
      ],
    )
    say(
      `[${name}] cross-check: update_seq grew by ${seqDelta} (${Object.entries(s.seqDelta)
        .map(([k, v]) => `${k} ${v}`)
        .join(
          ', ',
        )}); engines wrote ${engineDocsOk} documents successfully + the submitter ${submitted}: ${s.crossCheck.matches ? 'equal' : 'DIFFERENT'}`,
    )
    return s
  }

  const SCENARIOS = (process.env.BENCH_WRITES_SCENARIOS ?? 'long,short1,short2').split(',')
  if (SCENARIOS.includes('long'))
    await measure(`one ${LONG_SECONDS}-s rush`, async () => {
      const id = await submit(LONG_SECONDS)
      const shards = await untilFinal(id, LONG_SECONDS * 1000 + 30_000)
      return { rushes: 1, shards }
    })
  for (const seconds of [1, 2]) {
    if (!SCENARIOS.includes(`short${seconds}`)) continue
    await sleep(1000)
    await measure(`${SHORT_RUSHES} back-to-back ${seconds}-s rushes`, async () => {
      const shards = []
      for (let k = 0; k < SHORT_RUSHES; k++) {
        const id = await submit(seconds, 0)
        shards.push(...(await untilFinal(id, seconds * 1000 + 20_000)))
      }
      return { rushes: SHORT_RUSHES, shards }
    })
  }
  for (const engine of engines) engine.kill('SIGTERM')
  const stderr = engines.map((e) => e.stderrText()).filter(Boolean)
  if (stderr.length) say(`engine warnings:\n${stderr.join('\n').slice(-3000)}`)

  say('')
  say(
    'Summary (every write request of every engine to every database, 409s included; target ≤ 1.5 per engine per second):',
  )
  table(
    scenarios.map((s) => ({
      scenario: s.name,
      seconds: s.seconds,
      writes: s.writes,
      conflicts: s.conflicts,
      perEngine: s.perEnginePerSecond,
      ok: s.okPerEnginePerSecond,
      busiest: round(Math.max(...s.perEngine.map((p) => p.perSecond)), 3),
      check: s.crossCheck.matches ? 'ok' : 'differs',
      target: s.perEnginePerSecond <= 1.5 ? 'met' : 'NOT met',
    })),
    [
      ['scenario', 'scenario'],
      ['seconds', 's'],
      ['writes', 'writes'],
      ['conflicts', '409'],
      ['perEngine', 'per engine/s'],
      ['ok', 'successful/s'],
      ['busiest', 'busiest engine/s'],
      ['check', 'seq check'],
      ['target', '≤ 1.5'],
    ],
  )
  const loadEnd = load()
  say(`load average at end: ${loadEnd.join(' ')}`)
  const path = saveResult('writes', {
    method:
      'per-engine counting reverse proxy: every PUT/POST/DELETE that is not a read-only POST, one per HTTP request (409s included); cross-checked against update_seq deltas per database',
    machine: { ...info, loadAtEnd: loadEnd },
    engines: ENGINES,
    scenarios,
  })
  say(`results: ${path}`)
}

await runBench('bench:writes', main, { limitMs: QUICK ? 180_000 : 600_000 })
