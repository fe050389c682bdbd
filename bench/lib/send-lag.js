// Send-lag statistics of one open-model run (bench/open-child.js, bench/transaction-open-child.js):
// the model's bench-only observer is told how late each request (or arrival) went out after
// its due time; this keeps every figure and summarizes them.

/**
 * `expected`: how many sends the run makes at most; `startingAt(startPerf)` tells second 0
 * (`performance.now()` time) before the run starts, and forgets what was observed before.
 * The figures for the sends due after the first second are kept apart too: the steady state
 * apart from the start, where a cold process compiles its hot path (V8's optimizing compiler
 * runs on a thread that shares the pinned core) — reported beside the whole run, never instead.
 */
export function sendLagRecorder(expected) {
  let startPerf = 0
  const lags = new Float64Array(expected + 16)
  const steadyLags = new Float64Array(expected + 16)
  let count = 0
  let steadyCount = 0
  let lateFirstSecond = 0
  let firstSend
  let lastSend
  const observer = {
    sendLag(ms) {
      const now = performance.now()
      firstSend ??= now
      lastSend = now
      if (now - ms - startPerf >= 1000) {
        if (steadyCount < steadyLags.length) steadyLags[steadyCount++] = ms
      } else if (ms > 1) lateFirstSecond++
      if (count < lags.length) lags[count++] = ms
    },
  }
  const quantiles = (values, n) => {
    const sorted = values.subarray(0, n).sort()
    return (q) => (n === 0 ? null : sorted[Math.min(n - 1, Math.floor(q * n))])
  }
  const summary = () => {
    const at = quantiles(lags, count)
    const steadyAt = quantiles(steadyLags, steadyCount)
    // Achieved rate: sends over the time from the first to the last, per the asked rate's
    // own spacing (n sends span n - 1 intervals).
    const spanSeconds = (lastSend - firstSend) / 1000
    return {
      achievedRate: spanSeconds > 0 ? (count - 1) / spanSeconds : null,
      lagMs: { p50: at(0.5), p90: at(0.9), p99: at(0.99), p999: at(0.999), max: at(1) },
      steadyLagMs: { p50: steadyAt(0.5), p99: steadyAt(0.99), max: steadyAt(1) },
      lateFirstSecond,
    }
  }
  // Also starts over: a warm-up that runs with this observer (so that the measured run's
  // optimized code has seen it: load/warm-up.ts `warmUp`) calls it first, the run again.
  const startingAt = (perf) => {
    startPerf = perf
    count = 0
    steadyCount = 0
    lateFirstSecond = 0
    firstSend = undefined
    lastSend = undefined
  }
  return { observer, startingAt, summary }
}
