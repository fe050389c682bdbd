#!/usr/bin/env node
// The transaction benchmark: CPU per request of a four-step transaction (a cookie login, a
// JSON extraction, four requests per iteration) against the single-request path, both in
// one process on core 0 against the same Node target on core 1, alternating over rounds;
// and memory per user, from the peak RSS at a few users and at BENCH_TXN_USERS users; and
// the open model's precision for the transaction: BENCH_TXN_OPEN_RATE arrivals/s (default
// 5,000: 20,000 requests/s), every arrival's send lag (bench/transaction-open-child.js), in
// a process after a pooled process's warm-up and in a cold one, alternating, against nginx
// serving the same shop on core 1 (as the single request's open model meets nginx: the Node
// shop takes ~90% of its core at 20,000 requests/s, and its queue at every hiccup made the
// generator's visitors pile up).
// Writes bench/results/transaction.json. For the CPU ratio Node's own target is slower than
// nginx: both paths meet the same target, so the ratio is what counts.
import { spawn } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { LOAD_PROCESS_V8_FLAGS } from '../dist/load/run.js'
import { killGroup, loadAverage, pinned, spawnTracked } from './lib/processes.js'
import { median } from './lib/stats.js'
import { startNginxShop } from './lib/targets.js'

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10)
const USERS = Number(process.env.BENCH_TXN_USERS ?? 10_000)
const CONNECTIONS = 100
const OPEN_RATE = Number(process.env.BENCH_TXN_OPEN_RATE ?? 5000)
const here = (path) => fileURLToPath(new URL(path, import.meta.url))

async function startShop() {
  const [cmd, args] = pinned(1, process.execPath, [here('./targets/shop-server.js'), '0'])
  const child = spawnTracked(cmd, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const port = await new Promise((resolve, reject) => {
    child.once('message', (message) => resolve(message.port))
    child.once('exit', (code) => reject(new Error(`shop target exited (${code})`)))
  })
  return { url: `http://127.0.0.1:${port}`, stop: () => killGroup(child) }
}

function measure(mode, url, users, seconds) {
  const [cmd, args] =
    mode === 'open-pool' || mode === 'open-cold'
      ? pinned(0, process.execPath, [
          // With the V8 flags a forked load process gets (load/run.ts).
          ...LOAD_PROCESS_V8_FLAGS,
          here('./transaction-open-child.js'),
          url,
          String(users),
          String(seconds),
          mode.slice('open-'.length),
        ])
      : pinned(0, process.execPath, [
          ...LOAD_PROCESS_V8_FLAGS,
          here('./transaction-child.js'),
          mode === 'single-undici' ? 'single' : mode,
          url,
          String(users),
          String(seconds),
        ])
  return new Promise((resolve, reject) => {
    // single-undici: the single request through undici (the transaction's plain http: goes the lean way).
    const env = mode === 'single-undici' ? { ...process.env, STAMPEDE_HTTP_CLIENT: 'undici' } : process.env
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'], env })
    let out = ''
    child.stdout.on('data', (chunk) => (out += chunk))
    child.on('close', (code) =>
      code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`${mode} run exited ${code}`)),
    )
  })
}

const log = (line) => process.stderr.write(`${line}\n`)
const shop = await startShop()
const startedAt = new Date().toISOString()
const MODES = ['single', 'single-undici', 'transaction']
const runs = Object.fromEntries(MODES.map((mode) => [mode, []]))
let nginxShop = null
try {
  for (let round = 0; round < ROUNDS; round++) {
    for (const mode of MODES.map((_, i) => MODES[(i + round) % MODES.length])) {
      const load = loadAverage()
      const run = { ...(await measure(mode, shop.url, CONNECTIONS, SECONDS)), loadAverage: load }
      runs[mode].push(run)
      log(
        `  round ${round + 1}/${ROUNDS} ${mode.padEnd(13)} ${run.hits} hits, ${run.cpuMicrosPerRequest?.toFixed(2)} µs CPU/req, ${run.errors} errors (load ${load?.join(' ')})`,
      )
    }
  }
  const open = { rate: OPEN_RATE, seconds: SECONDS, target: 'nginx shop, core 1', runs: [] }
  const openRounds = process.env.BENCH_TXN_OPEN === '0' ? 0 : ROUNDS
  nginxShop = openRounds > 0 ? await startNginxShop({ core: 1 }) : null
  for (let round = 0; round < openRounds; round++) {
    for (const kind of ['pool', 'cold']) {
      const load = loadAverage()
      const run = {
        round,
        ...(await measure(`open-${kind}`, nginxShop.url.slice(0, -1), OPEN_RATE, SECONDS)),
        loadAverage: load,
      }
      open.runs.push(run)
      log(
        `  open model round ${round + 1}/${ROUNDS} (${kind} process): ${run.achievedRate?.toFixed(1)} arrivals/s of ${OPEN_RATE}, ` +
          `send lag p50 ${run.lagMs.p50?.toFixed(3)} ms p99 ${run.lagMs.p99?.toFixed(3)} ms max ${run.lagMs.max?.toFixed(1)} ms ` +
          `(after the first second: p99 ${run.steadyLagMs.p99?.toFixed(3)} ms; ${run.lateFirstSecond} > 1 ms late in the first), ` +
          `${run.errors} errors, ${run.dropped} dropped, ${run.cpuMicrosPerRequest?.toFixed(1)} µs CPU/req (load ${load?.join(' ')})`,
      )
    }
  }
  const openMedians = (kind) => {
    const runs = open.runs.filter((run) => run.kind === kind)
    const of = (pick) => median(runs.map(pick))
    return {
      achievedRate: of((r) => r.achievedRate),
      lagP50: of((r) => r.lagMs.p50),
      lagP99: of((r) => r.lagMs.p99),
      lagMax: of((r) => r.lagMs.max),
      steadyLagP99: of((r) => r.steadyLagMs.p99),
      lateFirstSecond: of((r) => r.lateFirstSecond),
      errors: of((r) => r.errors),
      dropped: of((r) => r.dropped),
      cpuMicrosPerRequest: of((r) => r.cpuMicrosPerRequest),
      loadAverage: of((r) => r.loadAverage?.[0]),
    }
  }
  if (open.runs.length > 0) open.medians = { pool: openMedians('pool'), cold: openMedians('cold') }
  const memory = {}
  for (const mode of process.env.BENCH_TXN_MEMORY === '0' ? [] : ['single', 'transaction']) {
    const few = await measure(mode, shop.url, 10, 3)
    const many = await measure(mode, shop.url, USERS, 5)
    memory[mode] = {
      fewUsersRssMiB: few.maxRssMiB,
      usersRssMiB: many.maxRssMiB,
      kibPerUser: ((many.maxRssMiB - few.maxRssMiB) * 1024) / (USERS - 10),
      errors: many.errors,
    }
    log(
      `  memory ${mode}: ${memory[mode].kibPerUser.toFixed(1)} KiB per user at ${USERS} users (${many.errors} errors)`,
    )
  }
  const cpu = (mode) => median(runs[mode].map((run) => run.cpuMicrosPerRequest))
  const result = {
    startedAt,
    config: {
      rounds: ROUNDS,
      seconds: SECONDS,
      connections: CONNECTIONS,
      users: USERS,
      target: 'Node shop server, core 1; Stampede in process, core 0',
    },
    runs,
    loadAverageAtStart: runs.single[0]?.loadAverage,
    loadAverageAtEnd: loadAverage(),
    cpuMicrosPerRequest: Object.fromEntries(MODES.map((mode) => [mode, cpu(mode)])),
    ratio: cpu('transaction') / cpu('single'),
    ratioToUndici: cpu('transaction') / cpu('single-undici'),
    memory,
    ...(open.medians && { open }),
  }
  log(
    `CPU per request, transaction / single: ${result.ratio.toFixed(2)}× (goal ≤ 1.3×); / single through undici: ${result.ratioToUndici.toFixed(2)}×`,
  )
  mkdirSync(here('./results'), { recursive: true })
  writeFileSync(here('./results/transaction.json'), `${JSON.stringify(result, null, 2)}\n`)
} finally {
  shop.stop()
  nginxShop?.stop()
}
