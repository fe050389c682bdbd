import { arrivalTime, shareCount } from '../lib/pattern.js'
import { DEFAULT_MAX_IN_FLIGHT } from '../lib/workload.js'
import { type LoadExchange, newExchange } from './exchange.js'
import type { ModelSetup, RunningModel } from './model.js'

/**
 * The open model: requests arrive on a ramped schedule whether or not earlier ones have
 * answered. Latency counts from each request's due time, not from when it could be sent,
 * so a slow target cannot hide its queueing (no coordinated omission). Requests due while
 * this process's share of the in-flight cap is used up are counted as dropped, not sent
 * late and not hidden. Request number k of the whole run belongs to the share whose index
 * is k modulo the share count.
 */
export function startArrivalRate(setup: ModelSetup): RunningModel {
  const { job, startPerf, recorder } = setup
  const cap = Math.max(1, shareCount(job.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT, job.share))
  const idle: LoadExchange[] = []
  let inFlight = 0
  let k = job.share.index
  let due = arrivalTime(job.pattern, k)
  let stopping = false
  let cutShort = false
  let timer: NodeJS.Timeout | undefined
  let settle: () => void
  const done = new Promise<void>((resolve) => {
    settle = resolve
  })

  const context = setup.context((exchange) => {
    inFlight--
    recorder.concurrency(inFlight)
    if (stopping) {
      exchange.close()
      if (inFlight === 0) finish()
    } else idle.push(exchange)
  })

  const pump = () => {
    timer = undefined
    const now = performance.now()
    recorder.roll(now)
    while (due !== undefined) {
      const dueAt = startPerf + due * 1000
      if (dueAt > now) break
      if (inFlight < cap) {
        let exchange = idle.pop()
        if (!exchange) exchange = newExchange(context)
        inFlight++
        exchange.send(now, dueAt)
      } else {
        recorder.dropped(now)
      }
      k += job.share.of
      due = arrivalTime(job.pattern, k)
    }
    recorder.concurrency(inFlight)
    if (due === undefined) stop(false)
    else timer = setTimeout(pump, Math.max(0, startPerf + due * 1000 - performance.now()))
  }

  const finish = () => {
    recorder.finish(cutShort)
    for (const exchange of idle) exchange.destroy()
    idle.length = 0
    settle()
  }

  const stop = (early: boolean) => {
    if (stopping) return
    stopping = true
    cutShort = early
    if (timer) clearTimeout(timer)
    for (const exchange of idle) exchange.close()
    idle.length = 0
    if (inFlight === 0) finish()
  }

  timer = setTimeout(pump, Math.max(0, startPerf + (due ?? 0) * 1000 - performance.now()))
  return { stop: () => stop(true), done }
}
