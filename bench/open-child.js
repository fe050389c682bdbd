#!/usr/bin/env node
// One run of the open model for bench/open.js, in its own process (pinned by the parent):
// a fixed rate against the URL, in process, every request's send lag (how long after its
// due time it went out) kept through the model's bench-only observer. Prints one JSON line.
// `pool`: first the warm-up an engine's pooled load process runs when it is forked
// (load/warm-up.ts), as the process a shard gets; `cold`: a process fresh from its imports.
import { prepareModel } from '../dist/load/model.js'
import { MODELS } from '../dist/load/models.js'
import { LOCAL_POLICY } from '../dist/load/safety.js'
import { warmUp } from '../dist/load/warm-up.js'
import { sendLagRecorder } from './lib/send-lag.js'

const [url, rateText, secondsText, kind = 'pool'] = process.argv.slice(2)
const rate = Number(rateText)
const seconds = Number(secondsText)
// As a load process receives its job: JSON over IPC.
const job = JSON.parse(
  JSON.stringify({
    model: 'arrival-rate',
    request: { method: 'GET', url, headers: {}, timeoutMs: 5000 },
    pattern: [{ start: rate, end: rate, duration: seconds }],
    share: { index: 0, of: 1 },
    policy: LOCAL_POLICY,
  }),
)
const totals = { sent: 0, hits: 0, errors: 0, timeouts: 0, dropped: 0, errorKinds: {}, peakInFlight: 0 }
const sink = (point) => {
  if (process.env.OPEN_DEBUG)
    console.error(
      JSON.stringify({
        t: point.t,
        sent: point.sent,
        dropped: point.dropped,
        c: point.concurrency,
        connects: point.connects,
        lat: Math.round(point.latencyMax / 1000),
      }),
    )
  totals.sent += point.sent
  totals.hits += point.hits
  totals.timeouts += point.timeouts
  totals.dropped += point.dropped
  for (const [kind, n] of Object.entries(point.errors)) {
    totals.errors += n
    if (n > 0) totals.errorKinds[kind] = (totals.errorKinds[kind] ?? 0) + n
  }
  totals.peakInFlight = Math.max(totals.peakInFlight, point.concurrency)
}
const lag = sendLagRecorder(Math.ceil(rate * seconds))
// The warm-up runs with the observer the measured run has, as an engine's runs with none: code
// optimized without it deoptimized at its first call and compiled again in the measured first
// second (load/warm-up.ts `warmUp`). The observer's figures start over at the run.
lag.startingAt(performance.now())
const warmed = kind === 'pool' ? await warmUp(undefined, undefined, lag.observer) : null
const start = await prepareModel(job, MODELS['arrival-rate'], sink, lag.observer)
const cpuBefore = process.cpuUsage()
const startPerf = performance.now() + 200
lag.startingAt(startPerf)
const running = start(startPerf)
await running.done
const cpu = process.cpuUsage(cpuBefore)
process.stdout.write(
  `${JSON.stringify({
    rate,
    seconds,
    ...totals,
    ...lag.summary(),
    sentPerSecond: totals.sent / seconds,
    cpuMicrosPerRequest: totals.sent > 0 ? (cpu.user + cpu.system) / totals.sent : null,
    kind,
    warmUp: warmed,
  })}\n`,
)
process.exit(0)
