import type { ErrorCode } from '../lib/errors.js'
import { encodeHistogram } from '../lib/histogram.js'
import type { RunningModel, StartModel } from './model.js'
import { prepareJob } from './prepare.js'
import type { FromWorker, ToWorker } from './protocol.js'
import { warmUpOrStayCold, warmUpRoundsFor } from './warm-up.js'

// A load worker process: receives its share of a job from the supervisor over IPC,
// prepares it, starts on the common clock and reports each finished second.

/**
 * Disconnects once `message` is written, never synchronously: messages that arrive before this
 * module's listener exists are replayed by Node in one loop, which then writes to the channel
 * and throws (`Cannot set properties of null`, exit 1) if a handler disconnected meanwhile —
 * as a job stopped before its process had loaded did.
 */
function sendThenDisconnect(message: FromWorker): void {
  if (!process.connected) return
  process.send?.(message, undefined, {}, () => process.disconnect?.())
}

function send(message: FromWorker): void {
  // After a stop before the start the channel may be closed already: nothing to tell.
  if (process.connected) process.send?.(message)
}

function fail(err: unknown): void {
  const { code, message } = err as { code?: string; message?: string }
  sendThenDisconnect({
    type: 'failed',
    code: code ?? ('STAMPEDE_WORKER' satisfies ErrorCode),
    message: message ?? String(err),
  })
}

export function runWorker(): void {
  let start: StartModel | undefined
  let running: RunningModel | undefined
  /** The job in hand counts from 1; a job stopped before it was ready is dropped by bumping it. */
  let job = 0
  /** In a pool the process outlives its job: after `done` it waits for the next one. */
  let keep = false
  /** A job is in hand (from 'job' until its 'done'): a 'stop' with none in hand is stale. */
  let busy = false
  /** A warm-up in progress: a job or a disconnect stops it. */
  let warming: AbortController | undefined
  /** The job in hand is over: a pooled process stays for the next one, any other leaves. */
  const sayDone = () => {
    if (keep) send({ type: 'done' })
    // Disconnect once 'done' is written: a run that ends with many seconds queued
    // (a transaction whose rows ran out early) would lose its tail otherwise.
    else sendThenDisconnect({ type: 'done' })
  }
  const finished = () => {
    busy = false
    start = undefined
    running = undefined
    sayDone()
  }

  process.on('message', (message: ToWorker) => {
    switch (message.type) {
      case 'warm-up': {
        if (busy || warming) return
        const controller = new AbortController()
        warming = controller
        warmUpOrStayCold(controller.signal).then((report) => {
          if (warming === controller) warming = undefined
          send({ type: 'warmed', ...report })
        })
        return
      }
      case 'job': {
        warming?.abort()
        warming = undefined
        const mine = ++job
        busy = true
        keep = message.keep === true
        prepareJob(message.job, (point, histogram, parts) => {
          send({
            type: 'second',
            point,
            histogram: encodeHistogram(histogram),
            ...(parts ? { parts: parts.map(encodeHistogram) } : {}),
          })
        })
          .then(async (ready) => {
            // Prepared first, so that a refused target fails at once, not after the warm-up.
            // A 'stop' meanwhile aborts the warm-up and bumps `job`: nothing follows.
            if (mine === job && message.warmUp) {
              const controller = new AbortController()
              warming = controller
              const report = await warmUpOrStayCold(controller.signal, warmUpRoundsFor(message.job))
              if (warming === controller) warming = undefined
              if (mine === job) send({ type: 'warmed', ...report })
            }
            return ready
          })
          .then((ready) => {
            // Stopped while preparing or warming: its 'done' is sent; a 'ready' now would reach the next run.
            if (mine !== job) return
            start = ready
            send({ type: 'ready' })
          }, fail)
        return
      }
      case 'start':
        if (!start) return fail(new Error('start before the job was ready'))
        running = start(message.startAtEpoch - performance.timeOrigin, message.join === true)
        running.done.then(finished, fail)
        return
      case 'stop':
        if (!busy) return
        warming?.abort()
        warming = undefined
        if (running) running.stop()
        else {
          busy = false
          // Stopped before the start: done, having sent nothing.
          job++
          start = undefined
          sayDone()
        }
        return
    }
  })
  // Ctrl-C reaches the whole process group: the supervisor decides, and tells us to stop.
  process.on('SIGINT', () => {})
  // The supervisor went away (it ended, died, or its pool let this process go): stop
  // sending load at once, and leave — an idle process has nothing keeping it.
  process.on('disconnect', () => {
    warming?.abort()
    running?.stop()
    setTimeout(() => process.exit(0), 2000).unref()
  })
}

runWorker()
// Loaded: a pool may now count this process ready.
send({ type: 'warm' })
