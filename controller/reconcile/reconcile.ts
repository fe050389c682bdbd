/**
 * One reconcile run, and the loop. The order is the safety argument:
 *
 * 1. take the lease (or stop: another run acts);
 * 2. observe: list the cloud first, then read the documents (see gc.ts for why);
 * 3. plan (pure);
 * 4. write the plan's state into the lease — the intent: launch tokens and counts — with the
 *    lease's `_rev` (a run that lost its lease finds out here, before acting);
 * 5. apply; 6. write the outcomes (launched instance ids), release the lease.
 *
 * `--dry-run` reads the state without taking the lease, plans, and writes nothing.
 */

import type { Logger } from 'pino'
import type { Clock } from '../../lib/clock.js'
import type { CloudProvider } from '../cloud/provider.js'
import { type ActionResult, type ApplyDeps, applyPlan, type LaunchTemplate } from './apply.js'
import { acquireLease, LeaseHeldError, readLeaseState } from './lease.js'
import type { ControllerState, FleetPolicy, Observation, Plan } from './model.js'
import { isEmptyPlan, planReconcile } from './plan.js'
import type { FleetStore } from './store.js'

export interface ReconcileDeps {
  cloud: CloudProvider
  store: FleetStore
  policy: FleetPolicy
  launchTemplate: (region: string) => LaunchTemplate
  log: Logger
  clock: Clock
  /** Who this run is, for the lease (`host:pid:random`). */
  holder: string
  /** How long the lease holds without a write (default 2 min; each write extends it). */
  leaseTtlMs?: number
  dryRun?: boolean
  concurrency?: number
  sleep?: ApplyDeps['sleep']
}

export type RunOutcome = 'converged' | 'not-converged' | 'lease-held' | 'dry-run'

export interface RunReport {
  outcome: RunOutcome
  /** One line: why the run ended as it did. */
  reason: string
  plan?: Plan
  results: ActionResult[]
}

/** Reads what the planner needs: the cloud first, then the documents. */
export async function observe(
  cloud: CloudProvider,
  store: FleetStore,
  policy: FleetPolicy,
  state: ControllerState,
  clock: Clock,
): Promise<Observation> {
  const instances = await cloud.list({ name: policy.fleet, regions: policy.regions })
  const perRegion = await Promise.all(
    policy.regions.map(async (region) => ({
      engines: await store.engines(region),
      shards: await store.shards(region),
    })),
  )
  return {
    now: clock.now(),
    instances,
    engines: perRegion.flatMap((r) => r.engines),
    shards: perRegion.flatMap((r) => r.shards),
    state,
  }
}

export async function reconcileOnce(deps: ReconcileDeps): Promise<RunReport> {
  const started = deps.clock.now()
  const { log, policy } = deps
  if (deps.dryRun) {
    const stored = await readLeaseState(deps.store.leaseDb())
    const plan = planReconcile(
      await observe(deps.cloud, deps.store, policy, stored.state, deps.clock),
      policy,
    )
    return {
      outcome: 'dry-run',
      reason: `${plan.actions.length} action(s) planned, none taken`,
      plan,
      results: [],
    }
  }

  let lease: Awaited<ReturnType<typeof acquireLease>>
  try {
    lease = await acquireLease(deps.store.leaseDb(), {
      holder: deps.holder,
      ttlMs: deps.leaseTtlMs ?? 120_000,
      clock: deps.clock,
    })
  } catch (error) {
    if (!(error instanceof LeaseHeldError)) throw error
    log.info({ holder: error.holder, expiresAt: error.expiresAt }, error.message)
    return { outcome: 'lease-held', reason: error.message, results: [] }
  }

  let plan: Plan | undefined
  let results: ActionResult[] = []
  let state: ControllerState | undefined
  try {
    plan = planReconcile(await observe(deps.cloud, deps.store, policy, lease.state(), deps.clock), policy)
    await lease.save(plan.state)
    const report = await applyPlan(plan, {
      cloud: deps.cloud,
      store: deps.store,
      fleet: policy.fleet,
      launchTemplate: deps.launchTemplate,
      log,
      clock: deps.clock,
      ...(deps.concurrency !== undefined && { concurrency: deps.concurrency }),
      ...(deps.sleep !== undefined && { sleep: deps.sleep }),
    })
    results = report.results
    state = report.state
  } finally {
    // Outcomes first; a lost lease or an unreachable CouchDB leaves the intent, which the next run finishes.
    await lease
      .release(state)
      .catch((error) => log.warn({ err: (error as Error).message }, 'releasing the lease failed'))
  }

  const failed = results.filter((r) => r.outcome === 'failed')
  const count = (kind: string) => results.filter((r) => r.action.kind === kind && r.outcome === 'done').length
  const summary = {
    ms: deps.clock.now() - started,
    actions: plan.actions.length,
    failed: failed.length,
    launched: results
      .filter((r) => r.action.kind === 'launch' && r.outcome === 'done')
      .reduce((n, r) => n + (r.action.kind === 'launch' ? r.action.count : 0), 0),
    terminated: count('terminate'),
    drained: count('drain'),
    retired: count('retire-engine'),
    released: count('release-shard'),
    waits: plan.waits.length,
    blockers: plan.blockers.map((b) => `${b.region}: ${b.reason}`),
    regions: plan.regions,
  }
  let outcome: RunOutcome = 'converged'
  let reason = plan.actions.length === 0 ? 'nothing to do' : `${plan.actions.length} action(s) applied`
  if (failed.length > 0) {
    outcome = 'not-converged'
    const first = failed[0]!
    reason = `${failed.length} of ${plan.actions.length} action(s) failed; first: ${first.action.kind}: ${first.error?.message}`
  } else if (plan.blockers.length > 0) {
    outcome = 'not-converged'
    reason = `blocked: ${summary.blockers.join('; ')}`
  }
  log.info({ summary, outcome }, `reconcile ${outcome}: ${reason}`)
  return { outcome, reason, plan, results }
}

export interface LoopOptions {
  intervalMs: number
  signal: AbortSignal
  /** Waits between runs; a run that failed doubles the wait, up to `maxBackoffMs` (default 5 min). */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>
  maxBackoffMs?: number
  onRun?: (report: RunReport) => void
}

/** Runs until the signal; a failing run backs off the next one (Karpenter's requeue back-off). */
export async function reconcileLoop(deps: ReconcileDeps, options: LoopOptions): Promise<void> {
  const sleep = options.sleep ?? abortableSleep
  let failures = 0
  while (!options.signal.aborted) {
    let report: RunReport
    try {
      report = await reconcileOnce(deps)
    } catch (error) {
      deps.log.error({ err: (error as Error).message }, 'reconcile failed')
      report = { outcome: 'not-converged', reason: (error as Error).message, results: [] }
    }
    options.onRun?.(report)
    failures =
      report.outcome === 'not-converged' && report.results.every((r) => r.outcome !== 'done')
        ? failures + 1
        : 0
    const wait = Math.min(options.maxBackoffMs ?? 300_000, options.intervalMs * 2 ** Math.min(failures, 10))
    await sleep(wait, options.signal)
  }
}

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms)
    function done() {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
    signal.addEventListener('abort', done, { once: true })
  })
}

export { isEmptyPlan }
