import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { watchTree } from './proc-watch.js'
import { runMeasured } from './processes.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
/** This checkout's build, or another one (BENCH_STAMPEDE=/path/to/dist/cli/main.js) to compare a change. */
export const STAMPEDE_CLI = process.env.BENCH_STAMPEDE || join(ROOT, 'dist/cli/main.js')
export const AUTOCANNON_CLI = join(ROOT, 'node_modules/.bin/autocannon')
export const WRK = ['/usr/bin/wrk', '/usr/local/bin/wrk'].find((path) => existsSync(path))

/** What the bench knows about one run of one tool; every figure comes from its output. */
function result(tool, run, fields) {
  const cpuMicrosPerRequest =
    run.cpuSeconds !== undefined && fields.requests > 0 ? (run.cpuSeconds * 1e6) / fields.requests : undefined
  return {
    tool,
    exitCode: run.code,
    timedOut: run.timedOut,
    wallSeconds: round(run.wallSeconds, 3),
    cpuSeconds: run.cpuSeconds,
    cpuMicrosPerRequest: round(cpuMicrosPerRequest, 2),
    peakRss: run.peakRss,
    ...fields,
  }
}

const round = (value, digits) => (value === undefined ? undefined : Number(value.toFixed(digits)))

/** Runs `command args`, pinned, measured, and (with watchRss) polled for peak RSS. */
async function measured(command, args, { core, timeoutMs, watchRss, env }) {
  let watcher
  const run = await runMeasured(command, args, {
    core,
    timeoutMs,
    env,
    onStart: (child) => {
      if (watchRss) watcher = watchTree(child.pid)
    },
  })
  if (watcher) run.peakRss = watcher.stop()
  return run
}

/**
 * Stampede's CLI (`rush … --json FILE -q`). `options.args` are its extra arguments
 * (pattern, workers, resolve, timeout). The figures come from the JSON summary.
 */
export async function runStampede(url, args, { core, timeoutMs, watchRss = false, env } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'stampede-bench-'))
  const json = join(dir, 'out.json')
  try {
    const run = await measured(process.execPath, [STAMPEDE_CLI, 'rush', url, ...args, '--json', json, '-q'], {
      core,
      timeoutMs,
      watchRss,
      env,
    })
    if (!existsSync(json)) {
      return result('stampede', run, {
        failed: `no JSON (exit ${run.code}): ${run.stderr.trim().slice(-500)}`,
      })
    }
    let out
    try {
      out = JSON.parse(readFileSync(json, 'utf8'))
    } catch {
      const why = run.timedOut ? 'killed at the time bound' : `exit ${run.code}`
      return result('stampede', run, { failed: `incomplete JSON (${why}): ${run.stderr.trim().slice(-300)}` })
    }
    const s = out.summary
    return result('stampede', run, {
      requests: s.hits,
      requestsPerSecond: s.hitsPerSecond,
      errors: s.errors,
      timeouts: s.timeouts,
      non2xx: Object.entries(s.statuses)
        .filter(([code]) => !code.startsWith('2'))
        .reduce((sum, [, n]) => sum + n, 0),
      latency: {
        p50: s.latency.p50,
        p90: s.latency.p90,
        p99: s.latency.p99,
        max: s.latency.max,
        mean: s.latency.mean,
      },
      connectMeanMs: s.connectMean,
      connects: s.connects,
      workers: out.workers,
      peakConcurrency: s.peakConcurrency,
      durationSeconds: s.duration,
    })
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** autocannon's CLI from node_modules/.bin, `--json` on stdout. */
export async function runAutocannon(url, args, { core, timeoutMs, watchRss = false } = {}) {
  const run = await measured(AUTOCANNON_CLI, [...args, '--json', url], { core, timeoutMs, watchRss })
  const line = run.stdout
    .trim()
    .split('\n')
    .findLast((l) => l.startsWith('{'))
  if (!line)
    return result('autocannon', run, {
      failed: `no JSON (exit ${run.code}): ${run.stderr.trim().slice(-500)}`,
    })
  const out = JSON.parse(line)
  const requests = out.requests.total
  return result('autocannon', run, {
    requests,
    requestsPerSecond: round(requests / out.duration, 1),
    errors: out.errors + out.timeouts,
    timeouts: out.timeouts,
    non2xx: out.non2xx,
    latency: {
      p50: out.latency.p50,
      p90: out.latency.p90,
      p99: out.latency.p99,
      max: out.latency.max,
      mean: out.latency.average,
    },
    durationSeconds: out.duration,
  })
}

/** Parses wrk's durations: 50.61ms, 1.02s, 720.00us, 2.00m. */
function wrkMillis(text) {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text)
  if (!m) return undefined
  const factor = { us: 0.001, ms: 1, s: 1000, m: 60_000 }[m[2]]
  return round(Number(m[1]) * factor, 3)
}

/** Debian's wrk, `--latency` for the percentile table. */
export async function runWrk(url, args, { core, timeoutMs, watchRss = false } = {}) {
  if (!WRK) return { tool: 'wrk', failed: 'wrk is not installed (apt-get install wrk)' }
  const run = await measured(WRK, [...args, '--latency', url], { core, timeoutMs, watchRss })
  const text = run.stdout
  const total = /(\d+) requests in ([\d.]+\w+)/.exec(text)
  if (!total)
    return result('wrk', run, { failed: `no summary (exit ${run.code}): ${(text + run.stderr).slice(-500)}` })
  const pct = (p) => {
    const m = new RegExp(`^\\s+${p}%\\s+(\\S+)`, 'm').exec(text)
    return m ? wrkMillis(m[1]) : undefined
  }
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text)
  const socketErrors = socket ? socket.slice(1).map(Number) : [0, 0, 0, 0]
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(text)?.[1] ?? 0)
  const maxMatch = /^\s+Latency\s+\S+\s+\S+\s+(\S+)/m.exec(text)
  return result('wrk', run, {
    requests: Number(total[1]),
    requestsPerSecond: Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1]),
    errors: socketErrors.reduce((a, b) => a + b, 0) + non2xx,
    timeouts: socketErrors[3],
    socketErrors: {
      connect: socketErrors[0],
      read: socketErrors[1],
      write: socketErrors[2],
      timeout: socketErrors[3],
    },
    non2xx,
    latency: { p50: pct(50), p90: pct(90), p99: pct(99), max: maxMatch ? wrkMillis(maxMatch[1]) : undefined },
    durationSeconds: wrkMillis(total[2]) / 1000,
  })
}
