import { type Pattern, patternPeak } from './pattern.js'

/**
 * What a run asks for, wherever it runs (this process, worker processes, engines):
 * the load model and the connections it will hold.
 */
/**
 * A load model's name in jobs and documents: `rush` is the closed model (ramped users,
 * `load/closed.ts`), `arrival-rate` the open one. These are wire names, replicated between
 * regions and read by engines of other versions: the closed model keeps the name `rush`
 * although a rush is also the command and the distributed job.
 */
export type LoadModelName = 'rush' | 'arrival-rate'

/** Arrival rate: the default cap on requests in flight, for the whole run. */
export const DEFAULT_MAX_IN_FLIGHT = 10_000

/** The most connections a run holds at once: its peak users, or its in-flight cap. */
export function peakConnections(run: {
  model: LoadModelName
  pattern: Pattern
  maxInFlight?: number
}): number {
  if (run.model === 'rush') return Math.ceil(patternPeak(run.pattern))
  return run.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT
}
