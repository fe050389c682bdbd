// Shared pieces of the job-plane benchmarks: PouchDB Server, the engine daemon as a
// process, a counting target, /proc CPU and load average, percentiles, tables, results,
// and clean-up that runs on success, failure, a signal or the time limit.
import { execFileSync, spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { createServer as createNetServer } from 'node:net'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const ROOT = fileURLToPath(new URL('../../', import.meta.url))
export const DIST = join(ROOT, 'dist')
export const QUICK = process.env.BENCH_QUICK === '1'
const POUCH_BIN = join(ROOT, 'node_modules/pouchdb-server/bin/pouchdb-server')
const ENGINE_BIN = join(DIST, 'daemon/main.js')

/** Imports a compiled module: `dist('lib/couch/client.js')`. */
export const dist = (path) => import(join(DIST, path))

// ---------------------------------------------------------------- clean-up

const cleanupStack = []
const children = new Set()

/** Registers a clean-up; they run last-in first-out. */
export function onCleanup(fn) {
  cleanupStack.push(fn)
}

async function runCleanups() {
  while (cleanupStack.length > 0) {
    const fn = cleanupStack.pop()
    try {
      await fn()
    } catch (err) {
      process.stderr.write(`clean-up failed: ${err.message}\n`)
    }
  }
  // Anything still alive (a clean-up that threw): SIGKILL by pid, only our own children.
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
}

/** Spawns a child that is killed at clean-up (and, synchronously, when this process exits). */
export function spawnTracked(command, args, options = {}) {
  const child = spawn(command, args, options)
  children.add(child)
  child.once('exit', () => children.delete(child))
  return child
}

process.on('exit', () => {
  for (const child of children) {
    try {
      child.kill('SIGKILL')
    } catch {}
  }
})

export function stopChild(child, graceMs = 3000) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
    child.once('exit', () => {
      clearTimeout(timer)
      resolve()
    })
    child.kill('SIGTERM')
  })
}

/**
 * Runs a benchmark: a hard time limit, SIGINT/SIGTERM handling, and clean-up in every case.
 * Exit code 0 when `main` resolves, 1 when it throws or the time runs out.
 */
export async function runBench(name, main, { limitMs }) {
  let finished = false
  const finish = async (code, why) => {
    if (finished) return
    finished = true
    if (why) process.stderr.write(`${name}: ${why}\n`)
    await runCleanups()
    process.exit(code)
  }
  const limit = setTimeout(
    () => void finish(1, `time limit of ${Math.round(limitMs / 1000)} s reached; cleaning up`),
    limitMs,
  )
  limit.unref()
  process.once('SIGINT', () => void finish(130, 'interrupted; cleaning up'))
  process.once('SIGTERM', () => void finish(143, 'terminated; cleaning up'))
  try {
    await main()
    await finish(0)
  } catch (err) {
    await finish(1, `failed: ${err.stack ?? err}`)
  }
}

// ---------------------------------------------------------------- servers

export async function freePort() {
  return new Promise((resolve, reject) => {
    const server = createNetServer()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
}

/** PouchDB Server in memory on 127.0.0.1, the way test/harness/couch.ts starts it. */
export async function startPouch() {
  const dir = mkdtempSync(join(tmpdir(), 'stampede-bench-pouch-'))
  onCleanup(() => rmSync(dir, { recursive: true, force: true }))
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort()
    const child = spawnTracked(
      process.execPath,
      [POUCH_BIN, '--in-memory', '--port', String(port), '--host', '127.0.0.1', '--no-stdout-logs'],
      { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] },
    )
    let stderr = ''
    child.stderr.on('data', (chunk) => {
      stderr = (stderr + chunk).slice(-4000)
    })
    const url = `http://127.0.0.1:${port}`
    if (await waitUp(url, child)) {
      onCleanup(() => stopChild(child))
      return { url, pid: child.pid, child, stderr: () => stderr }
    }
    await stopChild(child)
  }
  throw new Error('PouchDB Server did not start')
}

async function waitUp(url, child) {
  const deadline = Date.now() + 15_000
  while (Date.now() < deadline && child.exitCode === null) {
    try {
      if ((await fetch(url)).ok) return true
    } catch {}
    await sleep(100)
  }
  return false
}

/** Databases and design docs of one region (controller/migrate.ts). */
export async function migrateRegion(url, prefix, region) {
  const { migrate } = await dist('controller/migrate.js')
  await migrate({ prefix, regions: [{ name: region, url }] })
}

/**
 * The engine daemon as a process (dist/daemon/main.js), loopback allowed (the target is
 * on 127.0.0.1). Stopped with SIGTERM at clean-up (drain 0). `logLevel` info and above:
 * its log is read, and `child.logged(msg)` resolves once a line with that message came.
 */
export function startEngineProcess({
  couchUrl,
  prefix,
  instanceId,
  region,
  workers = 0,
  env = {},
  logLevel = 'warn',
}) {
  const child = spawnTracked(
    process.execPath,
    [
      ENGINE_BIN,
      '--couch',
      couchUrl,
      '--prefix',
      prefix,
      '--instance-id',
      instanceId,
      '--region',
      region,
      '--az',
      `${region}a`,
      '--workers',
      String(workers),
      '--allow-loopback',
      '--drain-ms',
      '0',
      '--log-level',
      logLevel,
    ],
    { stdio: ['ignore', logLevel === 'warn' ? 'ignore' : 'pipe', 'pipe'], env: { ...process.env, ...env } },
  )
  const seen = new Set()
  const waiting = []
  /** Parsed log lines so far (only when the log is read). */
  child.logLines = []
  if (child.stdout) {
    let partial = ''
    child.stdout.on('data', (chunk) => {
      const lines = (partial + chunk).split('\n')
      partial = lines.pop()
      for (const line of lines) {
        try {
          const entry = JSON.parse(line)
          seen.add(entry.msg)
          child.logLines.push(entry)
        } catch {}
      }
      for (const [msg, resolve] of [...waiting]) if (seen.has(msg)) resolve()
    })
  }
  child.logged = (msg) =>
    seen.has(msg) ? Promise.resolve() : new Promise((resolve) => waiting.push([msg, resolve]))
  let stderr = ''
  child.stderr.on('data', (chunk) => {
    stderr = (stderr + chunk).slice(-4000)
  })
  child.stderrText = () => stderr
  onCleanup(() => stopChild(child, 5000))
  return child
}

/** Waits until every engine has written its doc (it follows its feed right after). */
export async function waitEnginesUp(couch, ids, children = [], timeoutMs = 30_000) {
  const { getDocs } = await dist('lib/couch/client.js')
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const docs = await getDocs(
      couch.db(couch.names.fleet),
      ids.map((id) => `engine:${id}`),
    )
    if (docs.length === ids.length && docs.every((doc) => doc.state === 'idle' || doc.state === 'busy'))
      return docs
    for (const child of children) {
      if (child.exitCode !== null) throw new Error(`engine exited ${child.exitCode}: ${child.stderrText?.()}`)
    }
    if (Date.now() > deadline) throw new Error('engines did not register in time')
    await sleep(100)
  }
}

/**
 * A target on 127.0.0.1: answers 200 after `delayMs`; keeps the first arrival (epoch ms,
 * taken when the request's headers arrive) and the count per path.
 */
export async function startTarget(delayMs = 0) {
  const first = new Map()
  const counts = new Map()
  const server = createServer((req, res) => {
    const now = Date.now()
    const path = req.url ?? '/'
    if (!first.has(path)) first.set(path, now)
    counts.set(path, (counts.get(path) ?? 0) + 1)
    req.resume()
    req.on('end', () => {
      if (delayMs > 0) setTimeout(() => res.end('ok'), delayMs)
      else res.end('ok')
    })
  })
  server.keepAliveTimeout = 30_000
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const url = `http://127.0.0.1:${server.address().port}`
  const close = () =>
    new Promise((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    })
  onCleanup(close)
  return { url, first, counts, close }
}

// ---------------------------------------------------------------- measuring

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)))

let clockTicks
export function clkTck() {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100
    } catch {
      clockTicks = 100
    }
  }
  return clockTicks
}

/** CPU seconds (user + system) a process has used so far, from /proc/<pid>/stat. */
export function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    // After the command: state is field 3, utime field 14, stime field 15 (1-based).
    return (Number(fields[11]) + Number(fields[12])) / clkTck()
  } catch {
    return Number.NaN
  }
}

/** CPU of a set of processes over a span: `const span = cpuSpan(pids); …; span.end()`. */
export function cpuSpan(pids) {
  const t0 = performance.now()
  const before = pids.map(cpuSeconds)
  return {
    end() {
      const wall = (performance.now() - t0) / 1000
      const after = pids.map(cpuSeconds)
      const cpu = after.reduce((sum, value, i) => sum + (value - before[i]), 0)
      return {
        cpuSeconds: round(cpu, 2),
        wallSeconds: round(wall, 2),
        percentOfOneCore: round((cpu / wall) * 100, 1),
      }
    },
  }
}

export function load() {
  return loadavg().map((value) => round(value, 2))
}

export function round(value, digits = 1) {
  const f = 10 ** digits
  return Math.round(value * f) / f
}

/** Nearest-rank percentile of numbers (sorted here). */
export function percentile(values, p) {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  const rank = Math.ceil((p / 100) * sorted.length)
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]
}

export function summary(values) {
  return {
    n: values.length,
    min: values.length ? Math.min(...values) : Number.NaN,
    p50: percentile(values, 50),
    p90: percentile(values, 90),
    p99: percentile(values, 99),
    max: values.length ? values.reduce((a, b) => Math.max(a, b), -Infinity) : Number.NaN,
  }
}

// ---------------------------------------------------------------- output

/** Prints rows (objects) as an aligned table with the given columns [key, title]. */
export function table(rows, columns) {
  const cells = rows.map((row) => columns.map(([key]) => format(row[key])))
  const titles = columns.map(([, title]) => title)
  const widths = titles.map((title, i) => Math.max(title.length, ...cells.map((row) => row[i].length)))
  const line = (values) =>
    values.map((value, i) => (i === 0 ? value.padEnd(widths[i]) : value.padStart(widths[i]))).join('  ')
  const out = [line(titles), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(line)]
  process.stdout.write(`${out.join('\n')}\n`)
}

function format(value) {
  if (value === undefined || value === null) return '–'
  if (typeof value === 'number') {
    if (Number.isNaN(value)) return '–'
    return Number.isInteger(value) ? String(value) : value.toFixed(value >= 100 ? 0 : value >= 10 ? 1 : 2)
  }
  return String(value)
}

export function say(text = '') {
  process.stdout.write(`${text}\n`)
}

/** Writes bench/results/job-plane-<name>-<time>[-quick].json; returns the path. */
export function saveResult(name, data) {
  const dir = join(ROOT, 'bench/results')
  mkdirSync(dir, { recursive: true })
  const stamp = new Date().toISOString().replace(/[:.]/g, '-')
  const path = join(dir, `job-plane-${name}-${stamp}${QUICK ? '-quick' : ''}.json`)
  writeFileSync(
    path,
    `${JSON.stringify({ benchmark: `job-plane/${name}`, quick: QUICK, node: process.version, at: new Date().toISOString(), ...data }, null, 2)}\n`,
  )
  return path
}

export function machine() {
  return { cores: Number(execFileSync('nproc').toString().trim()), loadAtStart: load() }
}

export function uniquePrefix(name) {
  return `bench${name}${Math.random().toString(36).slice(2, 7)}`
}
