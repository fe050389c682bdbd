import { arrivalTime, shareCount } from '../../lib/pattern.js'
import { DEFAULT_MAX_IN_FLIGHT } from '../../lib/workload.js'
import type { RunningModel } from '../model.js'
import type { TransactionSetup } from './prepare.js'
import { TransactionUser } from './user.js'

/**
 * The open model for a transaction: each arrival runs the whole transaction as a new
 * visitor (an empty cookie jar), on the arrival schedule of the single-request path.
 * Arrival k of the whole run belongs to the share whose index is k modulo the share
 * count; arrivals due while this share's cap of transactions in flight is used up are
 * counted as dropped.
 */
export function startTransactionArrivals(setup: TransactionSetup): RunningModel {
  const { job, startAt, recorder } = setup
  const cap = Math.max(1, shareCount(job.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT, job.share))
  const idle: TransactionUser[] = []
  let created = 0
  let inFlight = 0
  let k = job.share.index
  let due = arrivalTime(job.pattern, k)
  if (setup.join) {
    // Joining a rush in progress: arrivals due before now are dropped, not sent in a burst
    // (as the single-request model does: load/arrival-rate.ts `skipPast`).
    const now = performance.now()
    while (due !== undefined && startAt + due * 1000 < now) {
      recorder.steps[0]!.dropped(startAt + due * 1000)
      k += job.share.of
      due = arrivalTime(job.pattern, k)
    }
  }
  let stopping = false
  let cutShort = false
  let exhausted = false
  let timer: NodeJS.Timeout | undefined
  let settle: () => void
  const done = new Promise<void>((resolve) => {
    settle = resolve
  })

  const context = setup.context((user) => {
    inFlight--
    recorder.concurrency(inFlight)
    if (stopping) {
      user.close()
      if (inFlight === 0) finish()
    } else idle.push(user)
  })

  const pump = () => {
    timer = undefined
    const now = performance.now()
    recorder.roll(now)
    while (due !== undefined && !exhausted) {
      const dueAt = startAt + due * 1000
      if (dueAt > now) break
      if (inFlight < cap) {
        let user = idle.pop()
        if (!user) user = new TransactionUser(context, job.share.index + created++ * job.share.of)
        user.resetSession()
        user.active = true
        inFlight++
        if (!user.startIteration(now, dueAt)) {
          inFlight--
          exhausted = true
          idle.push(user)
        }
      } else {
        recorder.steps[0]!.dropped(now)
      }
      k += job.share.of
      due = arrivalTime(job.pattern, k)
    }
    recorder.concurrency(inFlight)
    if (due === undefined || exhausted) stop(false)
    else timer = setTimeout(pump, Math.max(0, startAt + due * 1000 - performance.now()))
  }

  const finish = () => {
    recorder.finish(cutShort)
    for (const user of idle) user.destroy()
    idle.length = 0
    settle()
  }

  const stop = (early: boolean) => {
    if (stopping) return
    stopping = true
    cutShort = early
    if (timer) clearTimeout(timer)
    for (const user of idle) user.close()
    idle.length = 0
    if (inFlight === 0) finish()
  }

  timer = setTimeout(pump, Math.max(0, startAt + (due ?? 0) * 1000 - performance.now()))
  return { stop: () => stop(true), done }
}
