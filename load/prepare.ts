import type { LoadJob } from './job.js'
import { prepareModel, type RunningModel } from './model.js'
import { MODELS } from './models.js'
import type { SecondSink } from './recorder.js'
import { prepareTransaction } from './transaction/prepare.js'

/**
 * Prepares a job on its path: a transaction runs on its own (load/transaction/), so the
 * single request keeps its allocation-free path untouched.
 */
export function prepareJob(job: LoadJob, sink: SecondSink): Promise<(startAt: number) => RunningModel> {
  return job.transaction ? prepareTransaction(job, sink) : prepareModel(job, MODELS[job.model], sink)
}
