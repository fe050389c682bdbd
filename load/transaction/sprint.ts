import { WHOLE } from '../../lib/pattern.js'
import type { TransactionSpec } from '../../lib/transaction/spec.js'
import type { LoadJob } from '../job.js'
import type { AddressPolicy } from '../safety.js'
import { prepareTransaction } from './prepare.js'
import type { ExchangeRecord } from './user.js'

/**
 * One pass of a transaction by one new user, every exchange kept in full: what each step
 * sent (the variables it used), what came back, what it extracted. It runs on the open
 * model's path with exactly one arrival, so it is the code a rush runs.
 */
export async function sprintTransaction(
  spec: TransactionSpec,
  policy: AddressPolicy,
): Promise<ExchangeRecord[]> {
  const records: ExchangeRecord[] = []
  const job: LoadJob = {
    model: 'arrival-rate',
    request: spec.steps[0]!.request,
    transaction: spec,
    // One arrival: the integral of a rate of 1/s over one second.
    pattern: [{ start: 1, end: 1, duration: 1 }],
    share: WHOLE,
    policy,
  }
  const start = await prepareTransaction(job, () => {}, { exchange: (record) => records.push(record) })
  await start(performance.now()).done
  return records
}
