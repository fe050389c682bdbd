/**
 * One reconcile's plan: garbage collection first (what is dead is not supply), then scaling
 * over what survives. Pure: the same observation and policy always give the same plan, which
 * is what makes overlapping and retried runs safe and what `--dry-run` prints.
 */
import { collectGarbage, duration } from './gc.js'
import type { Action, FleetPolicy, Observation, Plan } from './model.js'
import { planScale } from './scale.js'

export function planReconcile(observation: Observation, policy: FleetPolicy): Plan {
  const gc = collectGarbage(observation, policy)
  const scale = planScale(observation, policy, gc)
  return {
    at: observation.now,
    actions: dedupe([...gc.actions, ...scale.actions]),
    waits: [...gc.waits, ...scale.waits],
    blockers: scale.blockers,
    state: scale.state,
    regions: scale.regions,
  }
}

/** One terminate per instance, whatever number of rules asked for it (the first reason wins). */
function dedupe(actions: Action[]): Action[] {
  const seen = new Set<string>()
  return actions.filter((action) => {
    if (action.kind !== 'terminate') return true
    if (seen.has(action.instance.id)) return false
    seen.add(action.instance.id)
    return true
  })
}

/** A plan converges when it blocks on nothing; waits (booting, draining) are time, not trouble. */
export function isEmptyPlan(plan: Plan): boolean {
  return plan.actions.length === 0 && plan.blockers.length === 0
}

/** The plan as lines for people (`--dry-run`, the log). */
export function formatPlan(plan: Plan): string[] {
  const lines: string[] = []
  for (const [region, r] of Object.entries(plan.regions)) {
    lines.push(
      `${region}: ${r.live} live, ${r.booting} booting, ${r.draining} draining; ${r.queued} queued shard${r.queued === 1 ? '' : 's'} (${r.queuedConnections} connections); fleet ${r.fleet} → ${r.desired}`,
    )
  }
  for (const action of plan.actions) lines.push(`  ${describeAction(action)}`)
  for (const blocker of plan.blockers) lines.push(`  blocked in ${blocker.region}: ${blocker.reason}`)
  for (const wait of plan.waits) lines.push(`  waiting on ${wait.subject} (${wait.region}): ${wait.reason}`)
  if (plan.actions.length === 0) lines.push('  nothing to do')
  return lines
}

export function describeAction(action: Action): string {
  switch (action.kind) {
    case 'launch':
      return `launch ${action.count} in ${action.region} (generation ${action.generation}${action.replay ? ', repeated' : ''}): ${action.reason}`
    case 'drain':
      return `drain ${action.instance.id} (${action.instance.region}): ${action.reason}`
    case 'terminate':
      return `terminate ${action.instance.id} (${action.instance.region}): ${action.reason}`
    case 'release-shard':
      return `${action.to === 'queued' ? 'requeue' : 'mark lost'} ${action.shard} (${action.from}${action.engine ? ` on ${action.engine}` : ''}): ${action.reason}`
    case 'retire-engine':
      return `retire engine:${action.instanceId} (${action.region}): ${action.reason}`
  }
}

export { duration }
