/**
 * The executor: carries a plan out through the cloud provider and CouchDB, and nothing else
 * decides anything here. Every action is idempotent, so a run that dies half-way leaves
 * nothing the next run cannot finish:
 * - launches carry the client token whose intent was written before the call (`reconcile.ts`);
 *   repeating one returns the same instances;
 * - terminate treats an instance that is already gone as done (the provider's contract);
 * - doc writes are conditional on the document still being as the plan saw it, and release
 *   shards before retiring their engine's doc, so an interrupted retirement is planned again;
 * - a drain marks the doc before it tags the instance; either mark alone makes the next plan
 *   treat the instance as draining.
 * Concurrency is bounded; CouchDB hiccups are retried with back-off (the AWS adapter already
 * retries throttling); one failed action never stops the others.
 */
import type { Logger } from 'pino'
import type { Clock } from '../../lib/clock.js'
import { retryTransient } from '../../lib/couch/retry.js'
import { StampedeError } from '../../lib/errors.js'
import type { CloudInstance, CloudProvider, LaunchRequest } from '../cloud/provider.js'
import { type Action, type ControllerState, DRAIN_TAG, type Plan } from './model.js'
import { describeAction } from './plan.js'
import type { FleetStore } from './store.js'

/** Everything of a RunInstances but what the plan decides (region, count, token). */
export type LaunchTemplate = Omit<LaunchRequest, 'region' | 'count' | 'clientToken' | 'fleet'>

export interface ApplyDeps {
  cloud: CloudProvider
  store: FleetStore
  fleet: string
  launchTemplate: (region: string) => LaunchTemplate
  log: Logger
  clock: Clock
  /** Most cloud or CouchDB calls in flight at once (default 8). */
  concurrency?: number
  /** Attempts per CouchDB write (default 4). */
  attempts?: number
  sleep?: (ms: number) => Promise<void>
}

export type Outcome = 'done' | 'skipped' | 'failed'

export interface ActionResult {
  action: Action
  outcome: Outcome
  detail?: string
  error?: { code: string; message: string }
}

export interface ApplyReport {
  results: ActionResult[]
  /** The plan's state with the launches' outcomes: write it back to the lease. */
  state: ControllerState
}

export async function applyPlan(plan: Plan, deps: ApplyDeps): Promise<ApplyReport> {
  const results: ActionResult[] = []
  const state = structuredClone(plan.state)
  const limit = deps.concurrency ?? 8
  const record = (result: ActionResult) => {
    results.push(result)
    const { action } = result
    const fields = {
      action: action.kind,
      outcome: result.outcome,
      reason: action.reason,
      ...subjectOf(action),
      ...(result.detail !== undefined && { detail: result.detail }),
      ...(result.error && { err: result.error }),
    }
    if (result.outcome === 'failed')
      deps.log.warn(fields, `${describeAction(action)} — failed: ${result.error?.message}`)
    else deps.log.info(fields, describeAction(action))
  }
  const couch = <T>(what: string, fn: () => Promise<T>) =>
    retryCouch(what, fn, deps.attempts ?? 4, deps.sleep)

  const of = <K extends Action['kind']>(kind: K) =>
    plan.actions.filter((a): a is Extract<Action, { kind: K }> => a.kind === kind)

  // Terminations: one call (the provider batches per region); gone counts as done.
  const terminations = of('terminate')
  if (terminations.length > 0) {
    try {
      const outcomes = await deps.cloud.terminate(terminations.map((a) => a.instance))
      const stateOf = new Map(outcomes.map((o) => [o.id, o.state]))
      for (const action of terminations)
        record({ action, outcome: 'done', detail: stateOf.get(action.instance.id) ?? 'gone' })
    } catch (error) {
      for (const action of terminations) record({ action, outcome: 'failed', error: errorOf(error) })
    }
  }

  // Shards before the docs of the engines that held them.
  await mapLimit(of('release-shard'), limit, async (action) => {
    try {
      const moved = await couch(`releasing ${action.shard}`, () =>
        deps.store.releaseShard({ ...action, now: deps.clock.now() }),
      )
      record({ action, outcome: moved ? 'done' : 'skipped', ...(!moved && { detail: 'the shard moved on' }) })
    } catch (error) {
      record({ action, outcome: 'failed', error: errorOf(error) })
    }
  })
  await mapLimit(of('retire-engine'), limit, async (action) => {
    try {
      const retired = await couch(`retiring engine:${action.instanceId}`, () =>
        deps.store.retireEngine(action.region, action.instanceId, action.seenHeartbeatAt, action.reason),
      )
      record({
        action,
        outcome: retired ? 'done' : 'skipped',
        ...(!retired && { detail: 'the engine heartbeated since, or is gone already' }),
      })
    } catch (error) {
      record({ action, outcome: 'failed', error: errorOf(error) })
    }
  })

  // Drains: mark the doc (the engine stops claiming), then tag the instance (the controller's record).
  const marked: Extract<Action, { kind: 'drain' }>[] = []
  await mapLimit(of('drain'), limit, async (action) => {
    try {
      const ok = await couch(`draining engine:${action.instance.id}`, () =>
        deps.store.markDraining(action.instance.region, action.instance.id, action.reason),
      )
      if (ok) marked.push(action)
      else record({ action, outcome: 'skipped', detail: 'the engine is no longer idle' })
    } catch (error) {
      record({ action, outcome: 'failed', error: errorOf(error) })
    }
  })
  if (marked.length > 0) {
    try {
      await deps.cloud.tag(
        marked.map((a) => a.instance),
        { [DRAIN_TAG]: String(deps.clock.now()) },
      )
      for (const action of marked) record({ action, outcome: 'done' })
    } catch (error) {
      // The doc says draining: the next plan treats the instance as draining all the same.
      for (const action of marked) record({ action, outcome: 'failed', error: errorOf(error) })
    }
  }

  // Launches: the intent (token, count) is in the lease already.
  await mapLimit(of('launch'), limit, async (action) => {
    const entry = state.launches.find((l) => l.clientToken === action.clientToken)
    try {
      const instances: CloudInstance[] = await deps.cloud.launch({
        ...deps.launchTemplate(action.region),
        fleet: deps.fleet,
        region: action.region,
        count: action.count,
        clientToken: action.clientToken,
      })
      if (entry) {
        entry.status = 'launched'
        entry.instanceIds = instances.map((i) => i.id).sort()
      }
      record({ action, outcome: 'done', detail: instances.map((i) => i.id).join(',') })
    } catch (error) {
      const e = errorOf(error)
      // A refused launch launched nothing: forget it (the next plan asks again, with a new token).
      // An unknown outcome (transient, timeout) stays `requested` and is repeated with the same token.
      if (entry && !isRetryable(error)) state.launches.splice(state.launches.indexOf(entry), 1)
      record({ action, outcome: 'failed', error: e })
    }
  })

  return { results, state }
}

function subjectOf(action: Action): Record<string, string | number> {
  switch (action.kind) {
    case 'launch':
      return { region: action.region, count: action.count, clientToken: action.clientToken }
    case 'drain':
    case 'terminate':
      return { region: action.instance.region, instance: action.instance.id }
    case 'release-shard':
      return { region: action.region, shard: action.shard, to: action.to }
    case 'retire-engine':
      return { region: action.region, instance: action.instanceId }
  }
}

function errorOf(error: unknown): { code: string; message: string } {
  return {
    code: error instanceof StampedeError ? error.code : 'STAMPEDE_UNEXPECTED',
    message: (error as Error).message ?? String(error),
  }
}

function isRetryable(error: unknown): boolean {
  return (error as { retryable?: boolean }).retryable === true || !(error instanceof StampedeError)
}

/**
 * A CouchDB call, repeated by the one rule for CouchDB failures (`isTransient`: a failed
 * connection, 5xx, 429). A conflict that `updateDoc` gave up on, or a rejected document, is a
 * final answer: not repeated. Whatever fails says what was being done.
 */
async function retryCouch<T>(
  what: string,
  fn: () => Promise<T>,
  attempts: number,
  sleep: ((ms: number) => Promise<void>) | undefined,
): Promise<T> {
  try {
    return await retryTransient(fn, { attempts, baseMs: 200, ...(sleep && { sleep }) })
  } catch (error) {
    throw error instanceof StampedeError
      ? error
      : new StampedeError('STAMPEDE_COUCH', `${what}: ${(error as Error).message}`, { cause: error })
  }
}

/** Runs `fn` over `items` with at most `limit` at once. */
export async function mapLimit<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]!)
  })
  await Promise.all(workers)
}
