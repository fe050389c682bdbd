import { type ChildProcess, fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { isErrorCode, StampedeError } from '../lib/errors.js'
import { createHistogram, decodeHistogram, type LatencyHistogram, mergeInto } from '../lib/histogram.js'
import { nestShare, patternDuration } from '../lib/pattern.js'
import { type Summary, summarize } from '../lib/summary.js'
import { emptyPoint, type Point } from '../lib/timeline.js'
import { peakConnections } from '../lib/workload.js'
import type { LoadJob } from './job.js'
import { mergeParts, SecondMerger } from './merge.js'
import type { WorkerPool } from './pool.js'
import { prepareJob } from './prepare.js'
import type { FromWorker, ToWorker } from './protocol.js'
import { type WarmUpOutcome, warmUpOrStayCold, warmUpRoundsFor } from './warm-up.js'
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
   * Wall-clock time (ms since the epoch) of second 0 on a clock shared with other engines;
   * wins over `startDelayMs`. A run whose load is ready a little late (`lateStart`: up to
   * `JOIN_GRACE_MS` after second 0 began) joins the rush in progress; one later than that
   * starts at a later whole second of that clock and still runs its whole pattern. Either
   * way its seconds stay aligned with the other engines'. Points are numbered on the shared
   * clock; the seconds it waited are reported empty.
   */
  startAtEpoch?: number
  /** Once the start is fixed, before any second: how late it is (`lateStart`). */
  onStart?: (start: LateStart) => void
  /**
   * Load processes kept ready (an engine's): taken instead of forked, each sent its job by
   * message, handed back after the run. Without it the run forks its own and ends them.
   */
  pool?: WorkerPool
  /**
   * Each process (this one, or each forked one) warms the job's load path against a server
   * of its own before it says ready (`load/warm-up.ts`; ~1.3 s), so that second 0 runs on
   * optimized code, not on a process compiling its hot functions on the run's core. Pooled
   * processes warmed up when idle: ignored with `pool`.
   */
  warmUp?: boolean
  /** A process's warm-up ended: `index` is its load process (0 in process). */
  onWarmedUp?: (outcome: WarmUpOutcome, index: number) => void
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
  /**
   * Whole seconds between `startAtEpoch` and the start of the pattern: 0 on time (and
   * without `startAtEpoch`); else the load was ready late and the timeline begins with
   * that many empty seconds.
   */
  startShift: number
}

/**
 * How long before a late start it is decided: the start message must reach every load
 * process first (IPC on a busy machine takes a few milliseconds, rarely more).
 */
export const LATE_START_MARGIN_MS = 100

/**
 * A run whose load is ready at most this long after second 0 began joins the rush in
 * progress instead of waiting for the next whole second. A shard claimed with no start lead
 * (`startLeadMs: 0`) is always claimed after its start — by the feed's latency, 50–300 ms —
 * and waiting for the next second put its first request ~1 s after the rush was written.
 * Joining costs at most this much of the first second's load: the open model's requests due
 * before the join are counted dropped (due, never sent), the closed model's users start at
 * the join at the pattern's level then. Half a second bounds that loss to half of second 0.
 */
export const JOIN_GRACE_MS = 500

export interface LateStart {
  /** Whole seconds the pattern starts after second 0 (0: at second 0). */
  startShift: number
  /**
   * The load starts at once on the rush's clock, already running: what was due before each
   * process starts is not sent (the open model counts it dropped).
   */
  join: boolean
  /** How long after second 0 the load was ready (0 when on time). */
  lateMs: number
}

/**
 * How to start a run aimed at `startAtEpoch` when its load is ready at `now`. On time when
 * there are still `marginMs` to go (the start message must reach every process first). Up
 * to `graceMs` late: join the rush in progress. Later: the first whole second of the shared
 * clock at least `marginMs` ahead, and the whole pattern runs from there — shifting whole
 * seconds keeps a late run's seconds on the same grid as every other engine's, and joining
 * that late would skip whole seconds (all of them when the pattern is short: a run that
 * sends nothing and reports success).
 */
export function lateStart(
  startAtEpoch: number,
  now: number,
  marginMs = LATE_START_MARGIN_MS,
  graceMs = JOIN_GRACE_MS,
): LateStart {
  const late = now - startAtEpoch
  if (now + marginMs <= startAtEpoch) return { startShift: 0, join: false, lateMs: 0 }
  if (late <= graceMs) return { startShift: 0, join: true, lateMs: Math.max(0, late) }
  return { startShift: Math.ceil((late + marginMs) / 1000), join: false, lateMs: late }
}

/**
 * V8 flags of every load process Node starts from its command line.
 *
 * `--no-memory-reducer`: V8's memory reducer runs a full mark-compact when it judges the
 * process idle by its allocation rate, and a load process that keeps its schedule allocates
 * little. Measured at 20,000 requests/s (bench:open's pooled process, 10-s runs): a
 * "Mark-Compact (reduce)" paused the loop 34 ms in the 8th second, and its backlog opened
 * 86 connections; whole-run send-lag p99 9.6–32 ms with the reducer, 0.61–0.86 ms without
 * (`--trace-gc`). A load process's heap is small and lives as long as its pool; the
 * ordinary collections still run. A start-up flag: `v8.setFlagsFromString` once the heap is
 * set up leaves the reducer in place (measured), so it goes on the fork's command line.
 */
export const LOAD_PROCESS_V8_FLAGS: readonly string[] = ['--no-memory-reducer']

/**
 * How to start a load worker process. A single-executable build has no worker file: it
 * points `path` at its own binary, sets `env` so that the binary starts as a worker, clears
 * `execArgv` (such a binary takes no flag before a script) and passes the V8 flags as
 * `--node-options=…` in `args` (packaging/sea-main.ts).
 */
export const workerEntry: {
  path: string
  args: string[]
  env: Record<string, string>
  execArgv: string[]
} = {
  path: fileURLToPath(new URL('./worker-main.js', import.meta.url)),
  args: [],
  env: {},
  execArgv: [...LOAD_PROCESS_V8_FLAGS],
}

/** Forks one load process (its channel open: jobs and results go over IPC). */
export function forkWorker(): ChildProcess {
  return fork(workerEntry.path, workerEntry.args, {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, ...workerEntry.env },
    // This process's own flags (a profiler's, say) and the load process's.
    execArgv: [...new Set([...process.execArgv, ...workerEntry.execArgv])],
  })
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
  let startShift = 0
  let parts: LatencyHistogram[] | undefined
  const emit = (point: Point, secondHistogram: LatencyHistogram, secondParts?: LatencyHistogram[]) => {
    timeline.push(point)
    mergeInto(histogram, secondHistogram)
    if (secondParts) {
      parts = mergeParts(parts, secondParts)
      options.onSecond?.(point, secondHistogram, secondParts)
    } else options.onSecond?.(point, secondHistogram)
  }
  const merger = new SecondMerger(Math.max(1, workers), (point, secondHistogram, secondParts) => {
    // Load processes count from the start they were given; the timeline, from the shared clock.
    point.t += startShift
    emit(point, secondHistogram, secondParts)
  })
  const delay = options.startDelayMs ?? 100
  /** Fixes the start (epoch ms of second 0, and whether to join in progress) once the load is ready. */
  const startEpoch = (): StartAt => {
    const now = performance.timeOrigin + performance.now()
    if (options.startAtEpoch === undefined) return { epoch: now + delay, join: false }
    // In this process the start is a timer set at once; load processes hear it by IPC.
    const late = lateStart(options.startAtEpoch, now, workers === 0 ? 0 : LATE_START_MARGIN_MS)
    startShift = late.startShift
    options.onStart?.(late)
    // Seconds of the shared clock spent getting ready: empty on this run's side.
    for (let t = 0; t < startShift; t++) emit(emptyPoint(t), createHistogram())
    return { epoch: options.startAtEpoch + startShift * 1000, join: late.join }
  }

  if (workers === 0) {
    const start = await prepareJob(job, (point, h, p) => merger.add(0, point, h, p))
    if (options.warmUp && !options.signal?.aborted)
      options.onWarmedUp?.(await warmUpOrStayCold(options.signal, warmUpRoundsFor(job)), 0)
    // Aborted while the target was being resolved or the load path warmed: nothing was sent, nothing starts.
    if (options.signal?.aborted) cutShort = true
    else {
      const { epoch, join } = startEpoch()
      const running = start(epoch - performance.timeOrigin, join)
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
    cutShort = await runWorkers(job, workers, merger, startEpoch, options)
  }
  const duration = cutShort ? timeline.length : startShift + patternDuration(job.pattern)
  const result: LoadResult = {
    timeline,
    histogram,
    summary: summarize(timeline, histogram, duration),
    cutShort,
    workers,
    startShift,
  }
  if (parts) result.parts = parts
  return result
}

interface StartAt {
  /** Second 0, ms since the epoch. */
  epoch: number
  join: boolean
}

async function runWorkers(
  job: LoadJob,
  count: number,
  merger: SecondMerger,
  startEpoch: () => StartAt,
  { signal, pool, warmUp: warmUpFirst, onWarmedUp }: RunOptions,
): Promise<boolean> {
  const children: ChildProcess[] = []
  // From the pool: loaded already, and they stay after the run (`keep`).
  const lent = pool ? pool.take(count) : undefined
  /** Whether each reported `done`: a pooled one is then handed back clean. */
  const doneBy: boolean[] = []
  const detach: Array<() => void> = []
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
    const child = lent ? lent[index]! : forkWorker()
    children.push(child)
    let finished = false
    let settledHere = false
    const settleHere = () => {
      if (settledHere) return
      settledHere = true
      settle()
    }
    let ended: () => void = () => {}
    const onMessage = (message: FromWorker) => {
      switch (message.type) {
        case 'ready':
          settleHere()
          return
        case 'warmed': {
          const { type: _, ...report } = message
          onWarmedUp?.(report, index)
          return
        }
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
          doneBy[index] = true
          merger.finish(index)
          // A pooled process stays: its run is over with 'done', not with its exit.
          if (lent) ended()
          return
        case 'failed':
          // A code of ours is kept (a usage error or a refusal in a worker is still one);
          // any other (a system error's) is named in the message.
          failure ??= isErrorCode(message.code)
            ? new StampedeError(message.code, message.message)
            : new StampedeError('STAMPEDE_WORKER', `${message.message} (${message.code})`)
          stopAll()
          allSettled()
          return
      }
    }
    child.on('message', onMessage)
    exits.push(
      new Promise<void>((resolve) => {
        ended = resolve
        // A failed send is told by its callback; 'error' matters only when no process started.
        const onError = (err: Error) => {
          if (child.pid !== undefined) return
          failure ??= new StampedeError('STAMPEDE_WORKER_START', `cannot start a load worker: ${err.message}`)
          finished = true
          merger.finish(index)
          stopAll()
          allSettled()
          resolve()
        }
        child.on('error', onError)
        const onExit = (code: number | null, signalName: NodeJS.Signals | null) => {
          // 'exit' can come before the last IPC messages are read (a worker whose run ended
          // with many seconds queued): judge once the channel is drained and closed.
          if (child.connected) {
            child.once('disconnect', () => judge(code, signalName))
            return
          }
          judge(code, signalName)
        }
        child.on('exit', onExit)
        detach.push(() => {
          child.off('message', onMessage)
          child.off('exit', onExit)
          child.off('error', onError)
        })
        const judge = (code: number | null, signalName: NodeJS.Signals | null) => {
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
        }
      }),
    )
    const share = nestShare(job.share, { index, of: count })
    tell(child, {
      type: 'job',
      job: { ...job, share },
      ...(lent && { keep: true }),
      // Pooled processes warmed up while idle.
      ...(warmUpFirst && !lent && { warmUp: true }),
    })
  }

  signal?.addEventListener('abort', onAbort, { once: true })
  if (signal?.aborted) onAbort()
  try {
    await settled
    if (!failure && !cutShort) {
      started = true
      const { epoch, join } = startEpoch()
      for (const child of children) tell(child, { type: 'start', startAtEpoch: epoch, ...(join && { join }) })
    }
    await Promise.all(exits)
  } finally {
    signal?.removeEventListener('abort', onAbort)
    if (pool && lent) {
      for (const [index, child] of lent.entries()) {
        detach[index]?.()
        pool.give(child, doneBy[index] === true)
      }
    } else for (const child of children) if (child.exitCode === null) child.kill('SIGKILL')
  }
  if (failure) throw failure
  return cutShort
}
