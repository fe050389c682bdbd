import { loadAverage, sleep } from './lib/processes.js'
import { median, medianOf, ratio } from './lib/stats.js'
import { startNginx } from './lib/targets.js'
import { runAutocannon, runStampede, runWrk } from './lib/tools.js'

/**
 * `stampede` is the default path (the lean HTTP/1.1 client for plain http:);
 * `stampede-undici` the same run with every request through undici
 * (STAMPEDE_HTTP_CLIENT=undici), the path TLS and a user's connection header take.
 */
export const TOOLS = ['stampede', 'stampede-undici', 'autocannon', 'wrk']

/**
 * 1. Throughput at 100 connections: nginx (one worker) pinned to core 1, each tool in
 * turn pinned to core 0, in alternating order over several rounds. Requests/s as each
 * tool reports it; CPU µs/request = CPU time of the tool's whole process tree (bash's
 * `times`, start-up included) divided by the requests it completed. Ratios are the
 * median of each round's ratio (the rounds alternate, so a round's tools saw about the
 * same load on a shared machine) and, beside them, the ratio of the medians.
 */
export async function throughput({ rounds, seconds, connections = 100, log }) {
  const loadAtStart = loadAverage()
  const nginx = await startNginx({ core: 1 })
  const bound = { core: 0, timeoutMs: (seconds + 60) * 1000 }
  const rush = ['--pattern', `${connections}:${seconds}`, '--workers', '0']
  const tools = {
    stampede: () => runStampede(nginx.url, rush, bound),
    'stampede-undici': () =>
      runStampede(nginx.url, rush, { ...bound, env: { STAMPEDE_HTTP_CLIENT: 'undici' } }),
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
          `  throughput round ${round + 1}/${rounds} ${tool.padEnd(15)} ` +
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
        // 1-minute load average when the tool's runs started, median over the rounds.
        loadAverage: median(runs[tool].map((run) => run.loadAverage?.[0])),
      },
    ]),
  )
  // Stampede ÷ peer in each round, then the median over the rounds.
  const perRound = (field, peer) =>
    median(
      runs.stampede.map((run, round) => {
        const other = runs[peer][round]
        return run.failed || !other || other.failed ? undefined : ratio(run[field], other[field])
      }),
    )
  const s = medians.stampede
  const peers = ['stampede-undici', 'autocannon', 'wrk']
  const ratios = {
    requestsPerSecond: Object.fromEntries(peers.map((peer) => [peer, perRound('requestsPerSecond', peer)])),
    cpuMicrosPerRequest: Object.fromEntries(
      peers.map((peer) => [peer, perRound('cpuMicrosPerRequest', peer)]),
    ),
    ofMedians: {
      requestsPerSecond: Object.fromEntries(
        peers.map((peer) => [peer, ratio(s.requestsPerSecond, medians[peer].requestsPerSecond)]),
      ),
      cpuMicrosPerRequest: Object.fromEntries(
        peers.map((peer) => [peer, ratio(s.cpuMicrosPerRequest, medians[peer].cpuMicrosPerRequest)]),
      ),
    },
  }
  return {
    config: { rounds, seconds, connections, target: 'nginx, 1 worker, core 1; tools on core 0' },
    loadAverageAtStart: loadAtStart,
    loadAverageAtEnd: loadAverage(),
    runs,
    medians,
    ratios,
    targets: {
      'requests/s ≥ 1.25× autocannon': ratios.requestsPerSecond.autocannon >= 1.25,
      'CPU/request ≤ 0.8× autocannon': ratios.cpuMicrosPerRequest.autocannon <= 0.8,
    },
  }
}
