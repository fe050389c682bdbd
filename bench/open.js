import { fileURLToPath } from 'node:url'
import { LOAD_PROCESS_V8_FLAGS } from '../dist/load/run.js'
import { busyShare, machineCpu } from './lib/netstat.js'
import { loadAverage, runMeasured, sleep } from './lib/processes.js'
import { median } from './lib/stats.js'
import { startNginx } from './lib/targets.js'

const CHILD = fileURLToPath(new URL('./open-child.js', import.meta.url))

/**
 * 3b. Open model precision: the arrival-rate model at a fixed rate (20,000 requests/s)
 * against nginx (core 1), Stampede in process on core 0 (bench/open-child.js). Per run:
 * the send lag of every request (its send time minus its due time: p50/p99/max) and the
 * achieved rate (requests sent over the span from the first send to the last, against
 * the asked rate). Each round runs two processes: `pool`, one that first ran the warm-up an
 * engine's pooled load process runs when forked (load/warm-up.ts) — what a shard gets; its
 * rounds run with the send-lag observer the measured run has — and `cold`, one fresh from its imports (a `--no-worker-pool` engine's, or a CLI run's).
 * The targets are judged on the first; the second is reported beside it. Medians per kind.
 */
const KINDS = ['pool', 'cold']
export async function openModel({ rounds, seconds, rate = 20_000, log }) {
  const loadAtStart = loadAverage()
  const nginx = await startNginx({ core: 1 })
  const runs = []
  try {
    for (let round = 0; round < rounds; round++) {
      for (const kind of KINDS) {
        const load = loadAverage()
        const machineBefore = machineCpu()
        const measured = await runMeasured(
          process.execPath,
          // With the V8 flags a forked load process gets (load/run.ts).
          [...LOAD_PROCESS_V8_FLAGS, CHILD, nginx.url, String(rate), String(seconds), kind],
          {
            core: 0,
            timeoutMs: (seconds + 60) * 1000,
          },
        )
        const line = measured.stdout.trim().split('\n').at(-1)
        let run
        try {
          run = { round, kind, loadAverage: load, ...JSON.parse(line) }
        } catch {
          run = {
            round,
            kind,
            loadAverage: load,
            failed: `exit ${measured.code}: ${measured.stderr.slice(-300)}`,
          }
        }
        // Whether the machine had CPU to spare: on a saturated one the process waits for a core.
        run.machineBusy = busyShare(machineBefore, machineCpu())
        run.cpuCores =
          measured.cpuSeconds === undefined ? undefined : measured.cpuSeconds / measured.wallSeconds
        if (!run.failed) run.rateRatio = run.achievedRate / rate
        runs.push(run)
        log(
          `  open model round ${round + 1}/${rounds} (${kind} process) ` +
            (run.failed
              ? `FAILED: ${run.failed}`
              : `${Math.round(run.achievedRate)} req/s achieved of ${rate} (${((run.rateRatio - 1) * 100).toFixed(3)}%), ` +
                `send lag p50 ${run.lagMs.p50.toFixed(3)} ms p99 ${run.lagMs.p99.toFixed(3)} ms max ${run.lagMs.max.toFixed(1)} ms ` +
                `(after the first second: p99 ${run.steadyLagMs.p99?.toFixed(3)} ms, max ${run.steadyLagMs.max?.toFixed(1)} ms; ${run.lateFirstSecond} sent > 1 ms late in the first), ` +
                `${run.errors} errors, ${run.dropped} dropped, ${run.cpuMicrosPerRequest.toFixed(1)} µs CPU/req, machine ${Math.round(run.machineBusy * 100)}% busy (load ${load?.join(' ')})`),
        )
        await sleep(500)
      }
    }
  } finally {
    nginx.stop()
  }
  const medians = mediansOf(runs.filter((run) => !run.failed && run.kind === 'pool'))
  const coldMedians = mediansOf(runs.filter((run) => !run.failed && run.kind === 'cold'))
  return {
    config: {
      rounds,
      seconds,
      rate,
      target: 'nginx, 1 worker, core 1; Stampede in process on core 0',
      kinds:
        'pool: after the warm-up of a pooled load process (load/warm-up.ts); cold: fresh from its imports',
    },
    loadAverageAtStart: loadAtStart,
    loadAverageAtEnd: loadAverage(),
    runs,
    medians,
    coldMedians,
    targets: {
      'send lag p99 < 1 ms (whole run, pooled process)': medians.lagP99 < 1,
      'send lag p99 < 1 ms after the first second (pooled process)': medians.steadyLagP99 < 1,
      'achieved rate within 0.5% of asked': medians.rateDeviationPercent <= 0.5,
    },
  }
}

function mediansOf(ok) {
  return {
    achievedRate: median(ok.map((run) => run.achievedRate)),
    rateDeviationPercent: median(ok.map((run) => Math.abs(run.rateRatio - 1) * 100)),
    lagP50: median(ok.map((run) => run.lagMs.p50)),
    lagP99: median(ok.map((run) => run.lagMs.p99)),
    lagMax: median(ok.map((run) => run.lagMs.max)),
    steadyLagP99: median(ok.map((run) => run.steadyLagMs?.p99)),
    steadyLagMax: median(ok.map((run) => run.steadyLagMs?.max)),
    lateFirstSecond: median(ok.map((run) => run.lateFirstSecond)),
    errors: median(ok.map((run) => run.errors)),
    dropped: median(ok.map((run) => run.dropped)),
    cpuMicrosPerRequest: median(ok.map((run) => run.cpuMicrosPerRequest)),
    loadAverage: median(ok.map((run) => run.loadAverage?.[0])),
    machineBusy: median(ok.map((run) => run.machineBusy)),
    warmUpMs: median(ok.map((run) => run.warmUp?.ms)),
  }
}
