import { startArrivalRate } from './arrival-rate.js'
import { startClosed } from './closed.js'
import type { LoadJob } from './job.js'
import type { ModelStarter } from './model.js'

/**
 * The load models by their names in jobs and documents: one per file, one interface. The
 * closed model (users) is `rush` there, a wire name kept for running fleets.
 */
export const MODELS: Record<LoadJob['model'], ModelStarter> = {
  rush: startClosed,
  'arrival-rate': startArrivalRate,
}
