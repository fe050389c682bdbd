#!/usr/bin/env node
// `npm run bench:pipelining`: HTTP/1.1 pipelining at 100 connections — Stampede without
// it (`--pipelining 1`, the default), with `--pipelining 10`, and autocannon `-p 10` —
// nginx (one worker) on core 1, each tool on core 0, alternating over rounds (as the
// throughput benchmark). Results go to bench/results/pipelining.json and into
// docs/benchmarks.md (section 6). Settings: BENCH_ROUNDS (default 3), BENCH_SECONDS (10),
// BENCH_PIPELINING (10).
import { mkdirSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { writePipeliningSection } from './docs.js'
import { cleanup, installCleanup, loadAverage, sleep } from './lib/processes.js'
import { renderPipelining } from './lib/report.js'
import { median, medianOf } from './lib/stats.js'
import { startNginx } from './lib/targets.js'
import { runAutocannon, runStampede } from './lib/tools.js'

const env = process.env
const rounds = Number(env.BENCH_ROUNDS || 3)
const seconds = Number(env.BENCH_SECONDS || 10)
const depth = Number(env.BENCH_PIPELINING || 10)
const connections = 100

export async function pipelining({ log }) {
  const startedAt = new Date().toISOString()
  const loadAtStart = loadAverage()
  const nginx = await startNginx({ core: 1 })
  const bound = { core: 0, timeoutMs: (seconds + 60) * 1000 }
  const rush = ['--pattern', `${connections}:${seconds}`, '--workers', '0']
  const tools = {
    'stampede --pipelining 1': () => runStampede(nginx.url, rush, bound),
    [`stampede --pipelining ${depth}`]: () =>
      runStampede(nginx.url, [...rush, '--pipelining', String(depth)], bound),
    [`autocannon -p ${depth}`]: () =>
      runAutocannon(
        nginx.url,
        ['-c', String(connections), '-d', String(seconds), '-p', String(depth)],
        bound,
      ),
  }
  const names = Object.keys(tools)
  const runs = Object.fromEntries(names.map((name) => [name, []]))
  try {
    for (let round = 0; round < rounds; round++) {
      for (const name of names.map((_, i) => names[(i + round) % names.length])) {
        const load = loadAverage()
        const run = { round, loadAverage: load, ...(await tools[name]()) }
        runs[name].push(run)
        log(
          `  pipelining round ${round + 1}/${rounds} ${name.padEnd(26)} ` +
            (run.failed
              ? `FAILED: ${run.failed}`
              : `${Math.round(run.requestsPerSecond)} req/s, ${run.cpuMicrosPerRequest} µs CPU/req, p50 ${run.latency.p50} ms, ${run.errors} errors (load ${load?.join(' ')})`),
        )
        await sleep(500)
      }
    }
  } finally {
    nginx.stop()
  }
  const medians = Object.fromEntries(
    names.map((name) => [
      name,
      {
        requestsPerSecond: medianOf(runs[name], 'requestsPerSecond'),
        cpuMicrosPerRequest: medianOf(runs[name], 'cpuMicrosPerRequest'),
        p50: medianOf(runs[name], 'latency.p50'),
        p99: medianOf(runs[name], 'latency.p99'),
        errors: medianOf(runs[name], 'errors'),
        loadAverage: median(runs[name].map((run) => run.loadAverage?.[0])),
      },
    ]),
  )
  return {
    startedAt,
    config: { rounds, seconds, connections, depth, target: 'nginx, 1 worker, core 1; tools on core 0' },
    loadAverageAtStart: loadAtStart,
    loadAverageAtEnd: loadAverage(),
    runs,
    medians,
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  installCleanup()
  try {
    const result = await pipelining({ log: (text) => console.log(text) })
    const dir = fileURLToPath(new URL('./results/', import.meta.url))
    mkdirSync(dir, { recursive: true })
    writeFileSync(`${dir}pipelining.json`, `${JSON.stringify(result, null, 2)}\n`)
    console.log(`\n${renderPipelining(result, { markdown: false })}\n`)
    console.log(writePipeliningSection(result))
  } finally {
    cleanup()
  }
}
