import { setFlagsFromString } from 'node:v8'
import { patternDuration, shareCount } from '../lib/pattern.js'
import { compileStatusMatcher } from '../lib/request-spec.js'
import { peakConnections } from '../lib/workload.js'
import type { ExchangeContext } from './exchange.js'
import { TimeoutQueue } from './exchange.js'
import type { LoadJob } from './job.js'
import { Recorder, type SecondSink } from './recorder.js'
import { prepareRequest } from './request.js'
import { prepareTarget } from './target.js'

/**
 * From this many connections in one process on, memory rules: requests in flight for a
 * second or more survive young-generation collections and pile up as old garbage between
 * full ones. V8's optimize-for-size heuristics collect sooner: measured here with 15,000
 * connections against a target answering after 1 s, peak RSS fell from 320 to about
 * 230 MiB at the same hit rate. Below this, throughput matters more than the heap.
 */
export const LEAN_HEAP_CONNECTIONS = 2000

let lean = false
function leanHeap(): void {
  if (lean) return
  lean = true
  setFlagsFromString('--optimize-for-size')
}

/** A load model at work in this process. */
export interface RunningModel {
  /** Stops sending; requests in flight finish or time out; then `done` settles. */
  stop(): void
  done: Promise<void>
}

/** What every model gets: the job, its clock, the recorder and the shared exchange context. */
export interface ModelSetup {
  job: LoadJob
  /** `performance.now()` time of second 0. */
  startPerf: number
  /**
   * Second 0 may have begun already (a late run joining the rush, load/run.ts `lateStart`):
   * what was due before the model starts is not sent.
   */
  join: boolean
  recorder: Recorder
  timeouts: TimeoutQueue
  /** Builds an exchange context whose `onDone` the model supplies. */
  context(onDone: ExchangeContext['onDone']): ExchangeContext
  /** Benchmarks only (bench/open.js): told how late each open-model request was sent. */
  observer?: ModelObserver
}

export interface ModelObserver {
  /** A request of the open model was sent `lagMs` after it was due. */
  sendLag(lagMs: number): void
}

export type ModelStarter = (setup: ModelSetup) => RunningModel

/**
 * Starts a prepared job with second 0 at `startPerf` (`performance.now()` time); `join`: it
 * may have begun already, and only what is due from now on is sent (`ModelSetup.join`).
 */
export type StartModel = (startPerf: number, join?: boolean) => RunningModel

/**
 * Resolves and checks the target (this is where a refused or unresolvable target fails,
 * before any load), then returns the function that starts the model at `startPerf`
 * (`performance.now()` time).
 */
export async function prepareModel(
  job: LoadJob,
  starter: ModelStarter,
  sink: SecondSink,
  observer?: ModelObserver,
): Promise<StartModel> {
  if (shareCount(peakConnections(job), job.share) >= LEAN_HEAP_CONNECTIONS) leanHeap()
  let recorder: Recorder | undefined
  const target = await prepareTarget(job.request, job.policy, {
    onConnected: (micros) => recorder?.connected(micros),
  })
  const request = prepareRequest(job.request)
  // STAMPEDE_HTTP_CLIENT=undici: every request through undici, to compare the two paths.
  const undiciOnly = process.env.STAMPEDE_HTTP_CLIENT === 'undici'
  const statusPassed = compileStatusMatcher(job.request.expectStatus)
  return (startPerf, join = false) => {
    const started = new Recorder(startPerf, patternDuration(job.pattern), sink)
    recorder = started
    const timeouts = new TimeoutQueue(job.request.timeoutMs)
    const running = starter({
      job,
      startPerf,
      join,
      recorder: started,
      timeouts,
      ...(observer ? { observer } : {}),
      context: (onDone) => ({
        target,
        recorder: started,
        timeouts,
        request: request.options,
        requestBytes: request.bytes,
        wire: undiciOnly ? null : request.wire,
        statusPassed,
        onDone,
      }),
    })
    running.done.finally(() => timeouts.close())
    return running
  }
}
