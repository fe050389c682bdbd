#!/usr/bin/env node
// `npm run bench`: runs Stampede side by side with autocannon and wrk — throughput,
// concurrency, accuracy — prints the tables with ratios, writes bench/results/*.json and
// regenerates docs/benchmarks.md from them. Which benchmarks: the arguments
// (throughput, concurrency, accuracy; default all). Settings: see bench/README.md.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { accuracy } from './accuracy.js'
import { concurrency } from './concurrency.js'
import { writeDocs } from './docs.js'
import { cleanup, installCleanup, loadAverage, machineFacts } from './lib/processes.js'
import { renderAll } from './lib/report.js'
import { STAMPEDE_CLI, WRK } from './lib/tools.js'
import { openModel } from './open.js'
import { throughput } from './throughput.js'

const SUITES = ['throughput', 'concurrency', 'accuracy', 'open']
const env = process.env
const quick = env.BENCH_QUICK === '1'
const number = (name, fallback) =>
  env[name] !== undefined && env[name] !== '' ? Number(env[name]) : fallback

const settings = {
  quick,
  rounds: number('BENCH_ROUNDS', quick ? 1 : 3),
  // Throughput ratios are medians of alternating rounds: at least 5 on a shared machine.
  throughputRounds: number('BENCH_THROUGHPUT_ROUNDS', number('BENCH_ROUNDS', quick ? 1 : 5)),
  throughputSeconds: number('BENCH_SECONDS', quick ? 3 : 10),
  accuracySeconds: number('BENCH_ACCURACY_SECONDS', quick ? 3 : 12),
  openSeconds: number('BENCH_OPEN_SECONDS', quick ? 3 : 10),
  openRate: number('BENCH_OPEN_RATE', 20_000),
  users: number('BENCH_USERS', quick ? 5000 : 100_000),
  rampSeconds: number('BENCH_RAMP_SECONDS', quick ? 2 : 10),
  holdSeconds: number('BENCH_HOLD_SECONDS', quick ? 3 : 40),
  addressCount: number('BENCH_ADDRESSES', 4), // at least users / 12,500 (file limit)
  port: number('BENCH_PORT', 20_000),
  peers: env.BENCH_PEERS !== '0',
}

async function runSuite(suite, results, log) {
  if (suite === 'throughput') {
    results.benchmarks.throughput = await throughput({
      rounds: settings.throughputRounds,
      seconds: settings.throughputSeconds,
      log,
    })
  } else if (suite === 'concurrency') {
    results.benchmarks.concurrency = await concurrency({ ...settings, log })
  } else if (suite === 'open') {
    results.benchmarks.open = await openModel({
      rounds: settings.rounds,
      seconds: settings.openSeconds,
      rate: settings.openRate,
      log,
    })
  } else if (suite === 'accuracy') {
    results.benchmarks.accuracy = await accuracy({
      rounds: settings.rounds,
      seconds: settings.accuracySeconds,
      log,
    })
  }
}

async function main() {
  installCleanup()
  const wanted = process.argv.slice(2)
  const unknown = wanted.filter((name) => !SUITES.includes(name))
  if (unknown.length > 0) {
    console.error(`unknown benchmark ${unknown.join(', ')} (choose from ${SUITES.join(', ')})`)
    process.exit(2)
  }
  const suites = wanted.length > 0 ? SUITES.filter((name) => wanted.includes(name)) : SUITES
  const log = (text) => console.log(text)
  const machine = {
    ...machineFacts(),
    wrk: WRK ?? null,
    loadAverageAtStart: loadAverage(),
  }
  log(
    `stampede bench: ${suites.join(', ')}${quick ? ' (quick)' : ''}; ${machine.cpus} cores, load average ${machine.loadAverageAtStart?.join(' ')}`,
  )
  log(`  using ${STAMPEDE_CLI}`)
  if (!machine.taskset) log('  taskset not found: tools and targets are not pinned')

  const startedAt = new Date().toISOString()
  const results = { startedAt, settings, machine, benchmarks: {} }
  for (const suite of suites) {
    const suiteStarted = new Date().toISOString()
    try {
      await runSuite(suite, results, log)
    } catch (err) {
      // One benchmark failing does not lose the others' figures.
      log(`  ${suite} FAILED: ${err.stack ?? err}`)
      results.benchmarks[suite] = { error: String(err.message ?? err) }
    }
    results.benchmarks[suite].startedAt = suiteStarted
  }
  results.finishedAt = new Date().toISOString()
  cleanup()

  const dir = fileURLToPath(new URL('./results/', import.meta.url))
  mkdirSync(dir, { recursive: true })
  const stamp = startedAt.replace(/[:.]/g, '-')
  const file = join(dir, `${stamp}${quick ? '-quick' : ''}.json`)
  const text = `${JSON.stringify(results, null, 2)}\n`
  writeFileSync(file, text)
  if (!quick) {
    // latest.json keeps the newest run of each benchmark, so running one of them alone
    // (npm run bench:throughput) updates its section of the docs and keeps the others.
    const latestFile = join(dir, 'latest.json')
    const previous = existsSync(latestFile)
      ? JSON.parse(readFileSync(latestFile, 'utf8'))
      : { benchmarks: {} }
    const latest = { ...results, benchmarks: { ...previous.benchmarks, ...results.benchmarks } }
    writeFileSync(latestFile, `${JSON.stringify(latest, null, 2)}\n`)
  }
  log('')
  log(renderAll(results, { markdown: false }))
  log('')
  log(`results: ${file}`)
  if (quick) {
    log('quick mode: docs/benchmarks.md left as is (run without BENCH_QUICK to regenerate it)')
  } else {
    log(`docs: ${writeDocs()}`)
  }
}

main().catch((err) => {
  console.error(err)
  cleanup()
  process.exit(1)
})
