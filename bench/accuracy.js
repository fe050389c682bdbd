import { loadAverage, sleep } from './lib/processes.js'
import { medianOf, ratio } from './lib/stats.js'
import { startSlowServer } from './lib/targets.js'
import { runAutocannon, runStampede, runWrk } from './lib/tools.js'

// The peers side by side (the undici-only variant is a throughput figure, not an accuracy one).
const TOOLS = ['stampede', 'autocannon', 'wrk']

const DELAY_MS = 50

/**
 * 3. Accuracy: a Node target that answers after exactly 50 ms (pinned to core 1), 100
 * connections, each tool on core 0: p50 and p99 side by side. Stampede's connect time is
 * reported on its own (summary.connectMean).
 */
export async function accuracy({ rounds, seconds, connections = 100, log }) {
  const loadAtStart = loadAverage()
  const target = await startSlowServer({ delayMs: DELAY_MS, core: 1 })
  const bound = { core: 0, timeoutMs: (seconds + 60) * 1000 }
  const tools = {
    stampede: () =>
      runStampede(
        target.url,
        ['--pattern', `${connections}:${seconds}`, '--workers', '0', '--timeout', '5s'],
        bound,
      ),
    autocannon: () => runAutocannon(target.url, ['-c', String(connections), '-d', String(seconds)], bound),
    wrk: () => runWrk(target.url, ['-t1', `-c${connections}`, `-d${seconds}s`], bound),
  }
  const runs = Object.fromEntries(TOOLS.map((tool) => [tool, []]))
  try {
    for (let round = 0; round < rounds; round++) {
      const order = TOOLS.map((_, i) => TOOLS[(i + round) % TOOLS.length])
      for (const tool of order) {
        const load = loadAverage()
        const run = { round, loadAverage: load, ...(await tools[tool]()) }
        runs[tool].push(run)
        log(
          `  accuracy   round ${round + 1}/${rounds} ${tool.padEnd(10)} ` +
            (run.failed
              ? `FAILED: ${run.failed}`
              : `p50 ${run.latency.p50} ms, p99 ${run.latency.p99} ms, ${run.errors} errors` +
                (run.connectMeanMs !== undefined ? `, connect mean ${run.connectMeanMs} ms` : '') +
                ` (load ${load?.join(' ')})`),
        )
        await sleep(500)
      }
    }
  } finally {
    target.stop()
  }
  const medians = Object.fromEntries(
    TOOLS.map((tool) => [
      tool,
      {
        p50: medianOf(runs[tool], 'latency.p50'),
        p90: medianOf(runs[tool], 'latency.p90'),
        p99: medianOf(runs[tool], 'latency.p99'),
        max: medianOf(runs[tool], 'latency.max'),
        requestsPerSecond: medianOf(runs[tool], 'requestsPerSecond'),
        connectMeanMs: medianOf(runs[tool], 'connectMeanMs'),
        errors: medianOf(runs[tool], 'errors'),
      },
    ]),
  )
  const s = medians.stampede
  const ratios = {
    p50: { wrk: ratio(s.p50, medians.wrk.p50), autocannon: ratio(s.p50, medians.autocannon.p50) },
    p99: { wrk: ratio(s.p99, medians.wrk.p99), autocannon: ratio(s.p99, medians.autocannon.p99) },
  }
  const within5 = (r) => r !== undefined && Math.abs(r - 1) <= 0.05
  return {
    config: {
      rounds,
      seconds,
      connections,
      delayMs: DELAY_MS,
      target: 'Node http + setTimeout, core 1; tools on core 0',
    },
    loadAverageAtStart: loadAtStart,
    runs,
    medians,
    ratios,
    targets: {
      'p50 within 5% of wrk': within5(ratios.p50.wrk),
      'p99 within 5% of wrk': within5(ratios.p99.wrk),
    },
  }
}
