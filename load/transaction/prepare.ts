import { AddressRefusedError } from '../../lib/errors.js'
import { patternDuration } from '../../lib/pattern.js'
import { compileTransaction } from '../../lib/transaction/compile.js'
import { RowPicker } from '../../lib/transaction/rows.js'
import type { LoadJob } from '../job.js'
import type { ModelObserver, StartModel } from '../model.js'
import type { SecondSink } from '../recorder.js'
import { prepareTarget, type Target } from '../target.js'
import { startTransactionRush } from './closed.js'
import { Deadlines } from './deadlines.js'
import { startTransactionArrivals } from './open.js'
import { TransactionRecorder } from './recorder.js'
import type { ExchangeObserver, TransactionUser, UserContext } from './user.js'

/** What a transaction model gets, as ModelSetup for the single-request models. */
export interface TransactionSetup {
  job: LoadJob
  startAt: number
  /** Second 0 may have begun already: what was due before the start is not sent (`ModelSetup.join`). */
  join: boolean
  recorder: TransactionRecorder
  /** Benchmarks only: told how late each arrival's first step went out (`ModelSetup.observer`). */
  observer?: ModelObserver
  context(onDone: (user: TransactionUser) => void): UserContext
}

/**
 * Compiles the job's transaction and resolves and checks every step's origin (a refused
 * or unresolvable target fails here, before any load), then returns the function that
 * starts the model at `startAt` (`performance.now()` time).
 */
export async function prepareTransaction(
  job: LoadJob,
  sink: SecondSink,
  observer?: ExchangeObserver,
  lagObserver?: ModelObserver,
): Promise<StartModel> {
  const transaction = compileTransaction(job.transaction!)
  let recorder: TransactionRecorder | undefined
  const onConnected = (micros: number) => recorder?.connected(micros)
  const first = transaction.steps[0]!.spec.request
  const targets = new Map<string, Target | Promise<Target>>()
  for (const step of transaction.steps) {
    if (targets.has(step.origin)) continue
    const target = await prepareTarget({ ...step.spec.request, url: `${step.origin}/` }, job.policy, {
      onConnected,
    })
    targets.set(step.origin, target)
  }
  // A redirect's origin: resolved and checked once, on first use, under the same policy
  // (and, when the transaction names them, only to the hosts it allows: the tenant's proven).
  const allowed = job.transaction!.redirectHosts && new Set(job.transaction!.redirectHosts)
  const target = (origin: string): Target | Promise<Target> => {
    let found = targets.get(origin)
    if (found === undefined) {
      const host = new URL(origin).hostname.replace(/^\[|\]$/g, '').toLowerCase()
      if (allowed && !allowed.has(host))
        return Promise.reject(new AddressRefusedError(host, 'a redirect to a host not proven for this rush'))
      const pending = prepareTarget({ ...first, url: `${origin}/` }, job.policy, { onConnected })
      found = pending
      targets.set(origin, pending)
      pending.then(
        (ready) => targets.set(origin, ready),
        () => targets.delete(origin),
      )
    }
    return found
  }
  const shortest = Math.min(...transaction.steps.map((step) => step.timeoutMs))
  const data = transaction.data
  return (startAt, join = false) => {
    const started = new TransactionRecorder(
      startAt,
      patternDuration(job.pattern),
      transaction.steps.length,
      sink,
    )
    recorder = started
    const deadlines = new Deadlines(shortest)
    const rows = data ? new RowPicker(data.table.rows.length, job.share, data.mode) : undefined
    const setup: TransactionSetup = {
      job,
      startAt,
      join,
      recorder: started,
      ...(lagObserver && { observer: lagObserver }),
      context: (onDone) => ({
        transaction,
        recorder: started,
        deadlines,
        rows,
        target,
        wallNow: () => Date.now(),
        onIterationEnd: onDone,
        // STAMPEDE_HTTP_CLIENT=undici: every request through undici, to compare the two paths.
        lean: !observer && process.env.STAMPEDE_HTTP_CLIENT !== 'undici',
        ...(observer ? { observer } : {}),
      }),
    }
    const running = job.model === 'rush' ? startTransactionRush(setup) : startTransactionArrivals(setup)
    running.done.finally(() => deadlines.close())
    return running
  }
}
