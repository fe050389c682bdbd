import type { LoadJob } from './job.js'
import { type ModelObserver, prepareModel, type StartModel } from './model.js'
import { MODELS } from './models.js'
import type { SecondSink } from './recorder.js'

/**
 * Prepares a job on its path: a transaction runs on its own (load/transaction/), loaded
 * only when a job has one, so the single request keeps its allocation-free path and its
 * worker start-up untouched. `observer`: benchmarks only (`ModelSetup.observer`).
 */
export async function prepareJob(
  job: LoadJob,
  sink: SecondSink,
  observer?: ModelObserver,
): Promise<StartModel> {
  if (!job.transaction) return prepareModel(job, MODELS[job.model], sink, observer)
  const { prepareTransaction } = await import('./transaction/prepare.js')
  return prepareTransaction(job, sink, undefined, observer)
}
