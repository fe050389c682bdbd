import { type ChildProcess, fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { StampedeError } from '../lib/errors.js'
import { createHistogram, decodeHistogram, type LatencyHistogram, mergeInto } from '../lib/histogram.js'
import { nestShare, patternDuration } from '../lib/pattern.js'
import { type Summary, summarize } from '../lib/summary.js'
import type { Point } from '../lib/timeline.js'
import { type LoadJob, peakConnections } from './job.js'
import { mergeParts, SecondMerger } from './merge.js'
import { prepareJob } from './prepare.js'
import type { FromWorker, ToWorker } from './protocol.js'
import { defaultCores, openFileLimit, planWorkers } from './workers.js'

export interface RunOptions {
  /** Load processes: 'auto' (default), or a count; 0 runs the load in this process. */
  workers?: number | 'auto'
  /**
   * Each merged second, in order, as soon as every process has reported it; a
   * transaction's also with `parts` (the iterations' histogram, then each step's).
   */
  onSecond?: (point: Point, histogram: LatencyHistogram, parts?: LatencyHistogram[]) => void
  /** Aborting stops sending; requests in flight finish or time out; the result is partial. */
  signal?: AbortSignal
  /** Milliseconds between every process being ready and the common start. */
  startDelayMs?: number
  /**
   * Wall-clock time (ms since the epoch) of second 0, shared with other engines; wins over
   * `startDelayMs`. A run that is ready late starts at once, on that clock.
   */
  startAtEpoch?: number
}

export interface LoadResult {
  timeline: Point[]
  histogram: LatencyHistogram
  summary: Summary
  /** True when the run was stopped before its pattern ended. */
  cutShort: boolean
  /** A transaction's whole-run histograms: the iterations', then each step's. */
  parts?: LatencyHistogram[]
  workers: number
}

/**
 * How to start a load worker process. A single-executable build has no worker file: it
 * points `path` at its own binary and sets `env` so that the binary starts as a worker.
 */
export const workerEntry: { path: string; args: string[]; env: Record<string, string> } = {
  path: fileURLToPath(new URL('./worker-main.js', import.meta.url)),
  args: [],
  env: {},
}

/**
 * Runs a job to the end: in this process, or split over worker processes whose seconds
 * merge exactly (points add up, histograms add up). Resolves with the merged timeline,
 * histogram and summary.
 */
export async function runLoad(job: LoadJob, options: RunOptions = {}): Promise<LoadResult> {
  const workers = planWorkers({
    requested: options.workers ?? 'auto',
    peakConnections: peakConnections(job),
    cores: defaultCores(),
    fdLimit: openFileLimit(),
  })
  const timeline: Point[] = []
  const histogram = createHistogram()
  let cutShort = false
  let parts: LatencyHistogram[] | undefined
  const merger = new SecondMerger(Math.max(1, workers), (point, secondHistogram, secondParts) => {
    timeline.push(point)
    mergeInto(histogram, secondHistogram)
    if (secondParts) {
      parts = mergeParts(parts, secondParts)
      options.onSecond?.(point, secondHistogram, secondParts)
    } else options.onSecond?.(point, secondHistogram)
  })
  const delay = options.startDelayMs ?? 100
  const startEpoch = () => options.startAtEpoch ?? performance.timeOrigin + performance.now() + delay

  if (workers === 0) {
    const start = await prepareJob(job, (point, h, p) => merger.add(0, point, h, p))
    // Aborted while the target was being resolved: nothing was sent, nothing starts.
    if (options.signal?.aborted) cutShort = true
    else {
      const running = start(startEpoch() - performance.timeOrigin)
      const onAbort = () => {
        cutShort = true
        running.stop()
      }
      options.signal?.addEventListener('abort', onAbort, { once: true })
      await running.done
      options.signal?.removeEventListener('abort', onAbort)
    }
    merger.finish(0)
  } else {
    cutShort = await runWorkers(job, workers, merger, startEpoch, options.signal)
  }
  const duration = cutShort ? timeline.length : patternDuration(job.pattern)
  const result: LoadResult = {
    timeline,
    histogram,
    summary: summarize(timeline, histogram, duration),
    cutShort,
    workers,
  }
  if (parts) result.parts = parts
  return result
}

async function runWorkers(
  job: LoadJob,
  count: number,
  merger: SecondMerger,
  startEpoch: () => number,
  signal?: AbortSignal,
): Promise<boolean> {
  const children: ChildProcess[] = []
  let failure: StampedeError | undefined
  let cutShort = false
  let started = false
  // A worker that failed may close its channel between the check and the write: such a
  // send fails quietly (its exit is handled on its own), never as an unhandled 'error'.
  const tell = (child: ChildProcess, message: ToWorker) => {
    if (child.connected) child.send(message, () => {})
  }
  const stopAll = () => {
    for (const child of children) tell(child, { type: 'stop' })
  }
  const onAbort = () => {
    cutShort = true
    stopAll()
  }

  // Every worker either reports ready or ends (stopped before the start, or failed).
  let settledCount = 0
  let allSettled: () => void
  const settled = new Promise<void>((resolve) => {
    allSettled = resolve
  })
  const settle = () => {
    if (++settledCount === count) allSettled()
  }
  const exits: Promise<void>[] = []

  for (let index = 0; index < count; index++) {
    const child = fork(workerEntry.path, workerEntry.args, {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env: { ...process.env, ...workerEntry.env },
    })
    children.push(child)
    let finished = false
    let settledHere = false
    const settleHere = () => {
      if (settledHere) return
      settledHere = true
      settle()
    }
    child.on('message', (message: FromWorker) => {
      switch (message.type) {
        case 'ready':
          settleHere()
          return
        case 'second':
          merger.add(
            index,
            message.point,
            decodeHistogram(message.histogram),
            message.parts?.map(decodeHistogram),
          )
          return
        case 'done':
          // A worker stopped before the start is done without having been ready.
          if (!started) settleHere()
          finished = true
          merger.finish(index)
          return
        case 'failed':
          failure ??= new StampedeError(message.code, message.message)
          stopAll()
          allSettled()
          return
      }
    })
    exits.push(
      new Promise<void>((resolve) => {
        // A failed send is told by its callback; 'error' matters only when no process started.
        child.on('error', (err) => {
          if (child.pid !== undefined) return
          failure ??= new StampedeError('STAMPEDE_WORKER_START', `cannot start a load worker: ${err.message}`)
          finished = true
          merger.finish(index)
          stopAll()
          allSettled()
          resolve()
        })
        child.on('exit', (code, signalName) => {
          if (!finished) {
            failure ??= new StampedeError(
              'STAMPEDE_WORKER_EXIT',
              `load worker ${index} exited before finishing (${signalName ?? `code ${code}`})`,
            )
            merger.finish(index)
            stopAll()
            allSettled()
          }
          resolve()
        })
      }),
    )
    tell(child, { type: 'job', job: { ...job, share: nestShare(job.share, { index, of: count }) } })
  }

  signal?.addEventListener('abort', onAbort, { once: true })
  if (signal?.aborted) onAbort()
  try {
    await settled
    if (!failure && !cutShort) {
      started = true
      const startAtEpoch = startEpoch()
      for (const child of children) tell(child, { type: 'start', startAtEpoch })
    }
    await Promise.all(exits)
  } finally {
    signal?.removeEventListener('abort', onAbort)
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL')
  }
  if (failure) throw failure
  return cutShort
}
