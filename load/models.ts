import { startArrivalRate } from './arrival-rate.js'
import type { LoadJob } from './job.js'
import type { ModelStarter } from './model.js'
import { startRush } from './rush.js'

/** The load models by name: one per file, one interface. */
export const MODELS: Record<LoadJob['model'], ModelStarter> = {
  rush: startRush,
  'arrival-rate': startArrivalRate,
}
