import type { ErrorCode } from '../lib/errors.js'
import { encodeHistogram } from '../lib/histogram.js'
import type { RunningModel } from './model.js'
import { prepareJob } from './prepare.js'
import type { FromWorker, ToWorker } from './protocol.js'

/**
 * A load worker process: receives its share of a job from the supervisor over IPC,
 * prepares it, starts on the common clock and reports each finished second.
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
  send({
    type: 'failed',
    code: code ?? ('STAMPEDE_WORKER' satisfies ErrorCode),
    message: message ?? String(err),
  })
  process.disconnect?.()
}

export function runWorker(): void {
  let start: ((startPerf: number) => RunningModel) | undefined
  let running: RunningModel | undefined

  process.on('message', (message: ToWorker) => {
    switch (message.type) {
      case 'job':
        prepareJob(message.job, (point, histogram, parts) => {
          send({
            type: 'second',
            point,
            histogram: encodeHistogram(histogram),
            ...(parts ? { parts: parts.map(encodeHistogram) } : {}),
          })
        }).then((ready) => {
          start = ready
          send({ type: 'ready' })
        }, fail)
        return
      case 'start':
        if (!start) return fail(new Error('start before the job was ready'))
        running = start(message.startAtEpoch - performance.timeOrigin)
        running.done.then(() => {
          // Disconnect once 'done' is written: a run that ends with many seconds queued
          // (a transaction whose rows ran out early) would lose its tail otherwise.
          sendThenDisconnect({ type: 'done' })
        }, fail)
        return
      case 'stop':
        if (running) running.stop()
        else {
          // Stopped before the start: done, having sent nothing.
          send({ type: 'done' })
          process.disconnect?.()
        }
        return
    }
  })
  // Ctrl-C reaches the whole process group: the supervisor decides, and tells us to stop.
  process.on('SIGINT', () => {})
  // The supervisor went away: stop sending load at once.
  process.on('disconnect', () => {
    running?.stop()
    setTimeout(() => process.exit(0), 2000).unref()
  })
}

runWorker()
