#!/usr/bin/env node
import { LOCAL_POLICY } from '../dist/load/safety.js'
// One run of the transaction's open model for bench/transaction.js, in its own process
// (pinned by the parent): a fixed rate of arrivals, each the four-step shop transaction,
// against the shop target, in process; every arrival's send lag (how long after its due
// time its first step went out) through the model's bench-only observer. Prints one JSON line.
// `pool`: first the warm-up an engine's pooled load process runs (load/warm-up.ts: the single
// request's rounds, then the transaction's); `cold`: a process fresh from its imports.
import { prepareTransaction } from '../dist/load/transaction/prepare.js'
import { warmUp } from '../dist/load/warm-up.js'
import { sendLagRecorder } from './lib/send-lag.js'
import { shopTransaction } from './lib/shop-transaction.js'

const [base, rateText, secondsText, kind = 'pool'] = process.argv.slice(2)
const rate = Number(rateText)
const seconds = Number(secondsText)
const transaction = shopTransaction(base)
// As a load process receives its job: JSON over IPC.
const job = JSON.parse(
  JSON.stringify({
    model: 'arrival-rate',
    request: transaction.steps[0].request,
    transaction,
    pattern: [{ start: rate, end: rate, duration: seconds }],
    share: { index: 0, of: 1 },
    policy: LOCAL_POLICY,
  }),
)
const totals = { sent: 0, hits: 0, errors: 0, timeouts: 0, dropped: 0, iterations: 0 }
const sink = (point) => {
  totals.sent += point.sent
  totals.hits += point.hits
  totals.timeouts += point.timeouts
  totals.dropped += point.dropped
  totals.iterations += point.iterations?.hits ?? 0
  for (const n of Object.values(point.errors)) totals.errors += n
}
const lag = sendLagRecorder(Math.ceil(rate * seconds))
// The warm-up runs with the observer the measured run has, as an engine's runs with none: code
// optimized without it deoptimized at its first call and compiled again in the measured first
// second (load/warm-up.ts `warmUp`). The observer's figures start over at the run.
lag.startingAt(performance.now())
const warmed = kind === 'pool' ? await warmUp(undefined, undefined, lag.observer) : null
const start = await prepareTransaction(job, sink, undefined, lag.observer)
const cpuBefore = process.cpuUsage()
const startPerf = performance.now() + 200
lag.startingAt(startPerf)
await start(startPerf).done
const cpu = process.cpuUsage(cpuBefore)
process.stdout.write(
  `${JSON.stringify({
    rate,
    seconds,
    ...totals,
    ...lag.summary(),
    cpuMicrosPerRequest: totals.sent > 0 ? (cpu.user + cpu.system) / totals.sent : null,
    kind,
    warmUp: warmed,
  })}\n`,
)
process.exit(0)
