import type { Pattern, Share } from '../lib/pattern.js'
import type { RequestSpec } from '../lib/request-spec.js'
import type { TransactionSpec } from '../lib/transaction/spec.js'
import type { LoadModelName } from '../lib/workload.js'
import type { AddressPolicy } from './safety.js'

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
  /**
   * Closed model, single request: each user keeps up to this many requests in flight on
   * its connection (HTTP/1.1 pipelining, `--pipelining N`). Absent or 1: one at a time.
   */
  pipelining?: number
  /**
   * A transaction (several steps) instead of the one request; `request` is then its first
   * step's. Arrival rate: `maxInFlight` counts transactions in flight.
   */
  transaction?: TransactionSpec
}
