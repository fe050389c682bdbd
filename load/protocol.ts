import type { Point } from '../lib/timeline.js'
import type { LoadJob } from './job.js'

/** Messages between a supervisor and its load worker processes (JSON over the IPC channel). */
export type ToWorker =
  | { type: 'job'; job: LoadJob }
  /** Start at this wall-clock time (ms since the epoch, fractional), shared by all workers. */
  | { type: 'start'; startAtEpoch: number }
  | { type: 'stop' }

export type FromWorker =
  | { type: 'ready' }
  /** `parts`: a transaction's iteration and step histograms, encoded. */
  | { type: 'second'; point: Point; histogram: string; parts?: string[] }
  | { type: 'done' }
  | { type: 'failed'; code: string; message: string }
