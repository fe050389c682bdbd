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

const [url, rateText, secondsText, kind = 'pool'] = process.argv.slice(2)
const warmed = kind === 'pool' ? await warmUp() : null
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
const lags = new Float64Array(Math.ceil(rate * seconds) + 16)
let count = 0
// The same, for requests due after the first second: the steady state apart from the
// start, where a cold process compiles its hot path (V8's optimizing compiler runs on a
// thread that shares the pinned core) — reported beside the whole run, never instead.
const steadyLags = new Float64Array(Math.ceil(rate * seconds) + 16)
let steadyCount = 0
let lateFirstSecond = 0
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
const observer = {
  sendLag(ms) {
    if (count < lags.length) lags[count++] = ms
  },
}
const start = await prepareModel(job, MODELS['arrival-rate'], sink, observer)
const cpuBefore = process.cpuUsage()
const startPerf = performance.now() + 200
let firstSend
let lastSend
const wrapped = observer.sendLag
observer.sendLag = (ms) => {
  const now = performance.now()
  firstSend ??= now
  lastSend = now
  if (now - ms - startPerf >= 1000) {
    if (steadyCount < steadyLags.length) steadyLags[steadyCount++] = ms
  } else if (ms > 1) lateFirstSecond++
  wrapped(ms)
}
const running = start(startPerf)
await running.done
const cpu = process.cpuUsage(cpuBefore)
const sorted = lags.subarray(0, count).sort()
const at = (q) => (count === 0 ? null : sorted[Math.min(count - 1, Math.floor(q * count))])
const steady = steadyLags.subarray(0, steadyCount).sort()
const steadyAt = (q) =>
  steadyCount === 0 ? null : steady[Math.min(steadyCount - 1, Math.floor(q * steadyCount))]
// Achieved rate: requests sent over the time from the first send to the last, per the
// asked rate's own spacing (n requests span n - 1 intervals).
const spanSeconds = (lastSend - firstSend) / 1000
process.stdout.write(
  `${JSON.stringify({
    rate,
    seconds,
    ...totals,
    achievedRate: spanSeconds > 0 ? (count - 1) / spanSeconds : null,
    sentPerSecond: totals.sent / seconds,
    lagMs: { p50: at(0.5), p90: at(0.9), p99: at(0.99), p999: at(0.999), max: at(1) },
    steadyLagMs: { p50: steadyAt(0.5), p99: steadyAt(0.99), max: steadyAt(1) },
    lateFirstSecond,
    cpuMicrosPerRequest: totals.sent > 0 ? (cpu.user + cpu.system) / totals.sent : null,
    kind,
    warmUp: warmed,
  })}\n`,
)
process.exit(0)
