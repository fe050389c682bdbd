#!/usr/bin/env node
// The tenant API's benchmarks (`npm run bench:api`), one API process pinned to one core:
//   1. status polling: GET /api/1/jobs/{id}/status of a running rush, with autocannon;
//   2. event fan-out: 1,000 SSE followers of one rush; for each second, the delay from the
//      engines' sample batch (its `at`) to each follower receiving it;
//   3. submission → first request at the target through the API, 4 engines following.
// Results go to bench/results/job-plane-api-*.json, and into docs/benchmarks.md (section 4):
// through bench/results/latest.json when it is here, else that section alone.
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import autocannon from 'autocannon'
import { writeApiSection, writeDocs } from './docs.js'
import {
  DIST,
  dist,
  freePort,
  load,
  machine,
  migrateRegion,
  QUICK,
  ROOT,
  runBench,
  saveResult,
  say,
  sleep,
  spawnTracked,
  startEngineProcess,
  startPouch,
  startTarget,
  stopChild,
  summary,
  uniquePrefix,
  waitEnginesUp,
} from './job-plane/common.js'

const env = (name, full, quick) => Number(process.env[name] ?? (QUICK ? quick : full))
const ENGINES = env('BENCH_API_ENGINES', 4, 2)
const FOLLOWERS = env('BENCH_API_FOLLOWERS', 1000, 200)
const POLL_SECONDS = env('BENCH_API_POLL_SECONDS', 10, 5)
const POLL_CONNECTIONS = env('BENCH_API_POLL_CONNECTIONS', 50, 20)
const SUBMISSIONS = env('BENCH_API_SUBMISSIONS', 20, 8)
const REGION = 'us-east-1'
const API_BIN = join(DIST, 'api/main.js')

function apiCommand(args) {
  return execFileSync(process.execPath, [API_BIN, ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  })
}

async function startApi(couchUrl, prefix) {
  const port = await freePort()
  const pinned = existsSync('/usr/bin/taskset')
  const argv = [
    process.execPath,
    API_BIN,
    '--couch',
    couchUrl,
    '--prefix',
    prefix,
    '--listen',
    `127.0.0.1:${port}`,
    '--rate-limit',
    '0',
    '--start-lead',
    '0',
    '--allow-loopback',
    '--quiet',
  ]
  const child = spawnTracked(pinned ? 'taskset' : argv[0], pinned ? ['-c', '0', ...argv] : argv.slice(1), {
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  await new Promise((resolve, reject) => {
    let text = ''
    child.stderr.on('data', (chunk) => {
      text += chunk
      if (text.includes('listening on')) resolve()
    })
    child.once('exit', (code) => reject(new Error(`stampede-api exited ${code}: ${text}`)))
  })
  return { url: `http://127.0.0.1:${port}`, child, pinned }
}

async function post(api, key, path, body) {
  const response = await fetch(`${api}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })
  const json = await response.json()
  if (response.status !== 201) throw new Error(`${path}: ${response.status} ${JSON.stringify(json)}`)
  return json
}

async function waitState(api, key, id, wanted) {
  for (;;) {
    const rush = await (
      await fetch(`${api}/api/v2/rushes/${id}?timeline=false`, {
        headers: { authorization: `Bearer ${key}` },
      })
    ).json()
    if (wanted.includes(rush.state)) return rush
    await sleep(100)
  }
}

/** One SSE follower: the arrival time (epoch ms) of each second. */
async function follow(url, key, arrivals, signal, onOpen) {
  const response = await fetch(url, { headers: { authorization: `Bearer ${key}` }, signal })
  onOpen()
  const decoder = new TextDecoder()
  let buffer = ''
  for await (const chunk of response.body) {
    buffer += decoder.decode(chunk, { stream: true })
    for (let at = buffer.indexOf('\n\n'); at >= 0; at = buffer.indexOf('\n\n')) {
      const block = buffer.slice(0, at)
      buffer = buffer.slice(at + 2)
      const id = /^id: (\d+)$/m.exec(block)
      if (id) arrivals.set(Number(id[1]), Date.now())
      if (block.includes('event: end')) return
    }
  }
}

async function main() {
  const startedAt = new Date().toISOString()
  const loadAtStart = load()
  const pouch = await startPouch()
  const prefix = uniquePrefix('api')
  await migrateRegion(pouch.url, prefix, REGION)
  const { connectCouch } = await dist('lib/couch/client.js')
  const couch = connectCouch(pouch.url, { prefix })
  const engineIds = Array.from({ length: ENGINES }, (_, i) => `i-bench-api-${i}`)
  const engines = engineIds.map((instanceId) =>
    startEngineProcess({ couchUrl: pouch.url, prefix, instanceId, region: REGION }),
  )
  await waitEnginesUp(couch, engineIds, engines)
  const target = await startTarget(2)
  const created = apiCommand([
    'tenants',
    'create',
    'bench',
    '--couch',
    pouch.url,
    '--prefix',
    prefix,
    '--max-users',
    '100000',
    '--max-duration',
    '1h',
    '--max-running',
    '1000',
    '--rushes-per-day',
    '100000',
  ])
  const key = /^key (\S+)$/m.exec(created)[1]
  apiCommand(['tenants', 'authorize', 'bench', '127.0.0.1', '--couch', pouch.url, '--prefix', prefix])
  const api = await startApi(pouch.url, prefix)
  say(
    `stampede-api ${api.url}${api.pinned ? ' on core 0' : ''}; ${ENGINES} engines; load ${loadAtStart.join(' ')}`,
  )

  // 3. Submission → first request (first, while nothing else runs).
  const firsts = []
  for (let i = 0; i < SUBMISSIONS; i++) {
    const path = `/first-${i}`
    const sent = Date.now()
    const { id } = await post(api.url, key, '/api/v2/rushes', {
      request: { url: `${target.url}${path}` },
      pattern: '1:1',
    })
    while (!target.first.has(path)) await sleep(5)
    firsts.push(target.first.get(path) - sent)
    await waitState(api.url, key, id, ['done', 'failed', 'aborted'])
  }
  const submission = summary(firsts)
  say(
    `submission → first request: p50 ${submission.p50} ms, max ${submission.max} ms (${SUBMISSIONS} rushes)`,
  )

  // 2. Fan-out: followers connect before the rush starts (a start lead of 3 s for them).
  const fanSeconds = QUICK ? 20 : 45
  const followers = Array.from({ length: FOLLOWERS }, () => new Map())
  const stop = new AbortController()
  const lead = Date.now()
  const { id: fanId } = await post(api.url, key, '/api/v2/rushes', {
    request: { url: `${target.url}/fan` },
    pattern: `4:${fanSeconds}`,
  })
  let open = 0
  let allOpen = Number.POSITIVE_INFINITY
  const following = followers.map((arrivals) =>
    follow(`${api.url}/api/v2/rushes/${fanId}/events`, key, arrivals, stop.signal, () => {
      if (++open === FOLLOWERS) allOpen = Date.now()
    }).catch(() => {}),
  )
  await Promise.all(following)
  const { viewRows } = await dist('lib/couch/client.js')
  const rows = await viewRows(couch.db(couch.names.results), 'entries', {
    startkey: [fanId, 0],
    endkey: [fanId, {}],
    include_docs: true,
  })
  const written = new Map()
  for (const row of rows) {
    // Seconds written before every follower was connected are replays, not fan-out.
    if (row.doc.at < allOpen) continue
    const t = row.value.point.t
    written.set(t, Math.max(written.get(t) ?? 0, row.doc.at))
  }
  const delays = []
  let missing = 0
  for (const arrivals of followers) {
    for (const [t, at] of written) {
      const got = arrivals.get(t)
      if (got === undefined) missing++
      else delays.push(got - at)
    }
  }
  const fanout = { followers: FOLLOWERS, seconds: written.size, missing, ...summary(delays) }
  say(
    `fan-out: ${FOLLOWERS} followers × ${written.size} s: p50 ${fanout.p50} ms, p99 ${fanout.p99} ms, max ${fanout.max} ms, missing ${missing} (all connected ${allOpen - lead} ms after the submission)`,
  )

  // 1. Status polling of a running rush.
  const pollSeconds = POLL_SECONDS + 10
  const { id: pollId } = await post(api.url, key, '/api/v2/rushes', {
    request: { url: `${target.url}/poll` },
    pattern: `4:${pollSeconds}`,
  })
  await waitState(api.url, key, pollId, ['running'])
  await sleep(2000)
  const result = await autocannon({
    url: `${api.url}/api/1/jobs/${pollId}/status`,
    connections: POLL_CONNECTIONS,
    duration: POLL_SECONDS,
    headers: { 'x-api-user': 'bench', 'x-api-key': key },
  })
  const polling = {
    connections: POLL_CONNECTIONS,
    seconds: POLL_SECONDS,
    requestsPerSecond: Math.round(result.requests.average),
    p50: result.latency.p50,
    p99: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors,
  }
  say(
    `status polling: ${polling.requestsPerSecond} req/s (p50 ${polling.p50} ms, p99 ${polling.p99} ms, non-2xx ${polling.non2xx})`,
  )
  await stopChild(api.child)

  const data = {
    startedAt,
    machine: machine(),
    load: loadAtStart,
    pinned: api.pinned,
    engines: ENGINES,
    polling,
    fanout,
    submission,
  }
  say(`saved ${saveResult('api', data)}`)
  // The whole page is regenerated from latest.json when it is here; else only this section.
  const latest = join(ROOT, 'bench/results/latest.json')
  if (existsSync(latest)) {
    const all = JSON.parse(readFileSync(latest, 'utf8'))
    all.benchmarks.api = data
    writeFileSync(latest, `${JSON.stringify(all, null, 2)}\n`)
    say(`wrote ${writeDocs(latest)}`)
  } else {
    say(`wrote ${writeApiSection(data)}`)
  }
}

await runBench('api', main, { limitMs: 15 * 60_000 })
