import type { Point } from '../lib/timeline.js'
import type { LoadJob } from './job.js'
import type { WarmUpReport } from './warm-up.js'

/** Messages between a supervisor and its load worker processes (JSON over the IPC channel). */
export type ToWorker =
  /**
   * `keep`: the process belongs to a pool (`load/pool.ts`): after `done` it stays, connected,
   * for the next job, instead of disconnecting and exiting. `warmUp`: a fresh process warms
   * the job's load path first (`load/warm-up.ts`), then prepares the job and says `ready`.
   */
  | { type: 'job'; job: LoadJob; keep?: boolean; warmUp?: boolean }
  /**
   * Start at this wall-clock time (ms since the epoch, fractional), shared by all workers;
   * `join`: second 0 has begun already — start at once, sending only what is due from now
   * (load/run.ts `lateStart`).
   */
  | { type: 'start'; startAtEpoch: number; join?: boolean }
  | { type: 'stop' }
  /**
   * A pool's idle process: run the load path against a server of its own until a job
   * arrives or the rounds end (`load/warm-up.ts`), then report `warmed`.
   */
  | { type: 'warm-up' }

export type FromWorker =
  /** Its modules are loaded: sent once, at start (a pool counts it ready). */
  | { type: 'warm' }
  /**
   * Its warm-up ended (every round run, stopped by a job, or `failed`: it stays cold); after a
   * job's `warmUp`, it comes before `ready`.
   */
  | ({ type: 'warmed'; failed?: string } & WarmUpReport)
  | { type: 'ready' }
  /** `parts`: a transaction's iteration and step histograms, encoded. */
  | { type: 'second'; point: Point; histogram: string; parts?: string[] }
  | { type: 'done' }
  | { type: 'failed'; code: string; message: string }
