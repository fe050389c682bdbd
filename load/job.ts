import { type Pattern, patternPeak, type Share } from '../lib/pattern.js'
import type { AddressPolicy } from './safety.js'
import type { RequestSpec } from './spec.js'

export type LoadModelName = 'rush' | 'arrival-rate'

/**
 * One process's work, as plain data (it is sent to worker processes as JSON).
 * `share` picks this process's users (rush) or requests (arrival rate) out of the
 * whole pattern; every share of a job sends on the whole pattern's clock.
 */
export interface LoadJob {
  model: LoadModelName
  request: RequestSpec
  /** Users (rush) or requests per second (arrival rate), ramped. */
  pattern: Pattern
  share: Share
  policy: AddressPolicy
  /** Arrival rate: most requests in flight at once, for the whole job. */
  maxInFlight?: number
}

export const DEFAULT_MAX_IN_FLIGHT = 10_000

/** The most connections the job (all shares together) will hold open. */
export function peakConnections(job: Pick<LoadJob, 'model' | 'pattern' | 'maxInFlight'>): number {
  if (job.model === 'rush') return Math.ceil(patternPeak(job.pattern))
  return job.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT
}
