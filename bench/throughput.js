import { loadAverage, sleep } from './lib/processes.js'
import { medianOf, ratio } from './lib/stats.js'
import { startNginx } from './lib/targets.js'
import { runAutocannon, runStampede, runWrk } from './lib/tools.js'

export const TOOLS = ['stampede', 'autocannon', 'wrk']

/**
 * 1. Throughput at 100 connections: nginx (one worker) pinned to core 1, each tool in
 * turn pinned to core 0, in alternating order over several rounds. Requests/s as each
 * tool reports it; CPU µs/request = CPU time of the tool's whole process tree (bash's
 * `times`, start-up included) divided by the requests it completed.
 */
export async function throughput({ rounds, seconds, connections = 100, log }) {
  const loadAtStart = loadAverage()
  const nginx = await startNginx({ core: 1 })
  const bound = { core: 0, timeoutMs: (seconds + 60) * 1000 }
  const tools = {
    stampede: () =>
      runStampede(nginx.url, ['--pattern', `${connections}:${seconds}`, '--workers', '0'], bound),
    autocannon: () => runAutocannon(nginx.url, ['-c', String(connections), '-d', String(seconds)], bound),
    wrk: () => runWrk(nginx.url, ['-t1', `-c${connections}`, `-d${seconds}s`], bound),
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
          `  throughput round ${round + 1}/${rounds} ${tool.padEnd(10)} ` +
            (run.failed
              ? `FAILED: ${run.failed}`
              : `${Math.round(run.requestsPerSecond)} req/s, ${run.cpuMicrosPerRequest} µs CPU/req, ${run.errors} errors (load ${load?.join(' ')})`),
        )
        await sleep(500)
      }
    }
  } finally {
    nginx.stop()
  }
  const medians = Object.fromEntries(
    TOOLS.map((tool) => [
      tool,
      {
        requestsPerSecond: medianOf(runs[tool], 'requestsPerSecond'),
        cpuMicrosPerRequest: medianOf(runs[tool], 'cpuMicrosPerRequest'),
        p50: medianOf(runs[tool], 'latency.p50'),
        p99: medianOf(runs[tool], 'latency.p99'),
        errors: medianOf(runs[tool], 'errors'),
      },
    ]),
  )
  const s = medians.stampede
  const ratios = {
    requestsPerSecond: {
      autocannon: ratio(s.requestsPerSecond, medians.autocannon.requestsPerSecond),
      wrk: ratio(s.requestsPerSecond, medians.wrk.requestsPerSecond),
    },
    cpuMicrosPerRequest: {
      autocannon: ratio(s.cpuMicrosPerRequest, medians.autocannon.cpuMicrosPerRequest),
      wrk: ratio(s.cpuMicrosPerRequest, medians.wrk.cpuMicrosPerRequest),
    },
  }
  return {
    config: { rounds, seconds, connections, target: 'nginx, 1 worker, core 1; tools on core 0' },
    loadAverageAtStart: loadAtStart,
    runs,
    medians,
    ratios,
    targets: {
      'requests/s ≥ 1.0× autocannon': ratios.requestsPerSecond.autocannon >= 1,
      'CPU/request ≤ autocannon': ratios.cpuMicrosPerRequest.autocannon <= 1,
    },
  }
}
