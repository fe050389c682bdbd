/**
 * Autoscaling, as a pure function of one observation and what garbage collection already
 * decided: how many engines to launch per region, which idle ones to drain, which drained ones
 * to terminate, and the launch ledger to write before acting.
 *
 * Supply per region: live engines (registered, heartbeating, not draining) with their free
 * capacity, plus instances that are booting (listed without a doc, within the boot grace),
 * plus launches the ledger knows and DescribeInstances does not show yet (eventual
 * consistency), plus launches whose outcome is unknown (repeated with the same token).
 * Demand: queued shards that can still start (and those GC puts back in the queue), packed
 * first-fit decreasing into the free capacity, then into new engines of `capacity`.
 *
 * Client tokens: a launch in region R takes generation `generations[R] + 1` and the token
 * `launchClientToken(fleet, R, generation)`. The generation lives in the lease document and is
 * written (as intent, with the lease's `_rev`) before RunInstances is called, so:
 * - a run that dies after the intent repeats the same call with the same token next time, and
 *   EC2 answers with the instances the first call made, if it made any;
 * - two overlapping runs read the same generation and plan the same token (EC2 launches once;
 *   a different count fails with IdempotentParameterMismatch, never launches twice), and the
 *   lease lets only one of them write its intent anyway;
 * - a token is never reused for a new launch (generations only grow), so EC2's memory of old
 *   tokens never swallows a launch that is really wanted.
 */
import { launchClientToken } from '../cloud/provider.js'
import { duration, type GcResult } from './gc.js'
import {
  type Action,
  type Blocker,
  type ControllerState,
  DRAIN_TAG,
  type EngineRecord,
  type FleetPolicy,
  type LaunchRecord,
  type Observation,
  type RegionSummary,
  type Wait,
} from './model.js'

export interface ScaleResult {
  actions: Action[]
  waits: Wait[]
  blockers: Blocker[]
  state: ControllerState
  regions: Record<string, RegionSummary>
}

export const LAUNCH_SLOT = 'engines'

export function planScale(observation: Observation, policy: FleetPolicy, gc: GcResult): ScaleResult {
  const { now } = observation
  const actions: Action[] = []
  const waits: Wait[] = []
  const blockers: Blocker[] = []
  const regions: Record<string, RegionSummary> = {}
  const docs = new Map(observation.engines.map((doc) => [doc.instanceId, doc]))
  const listedIds = new Set(observation.instances.map((instance) => instance.id))
  const held = heldShards(observation)
  const generations = { ...observation.state.generations }
  const idleSince: Record<string, number> = {}
  const launches = settleLedger(observation, policy)

  for (const region of policy.regions) {
    const limits = policy.limits[region] ?? { min: 0, max: 0 }
    const instances = observation.instances.filter(
      (i) => i.region === region && (i.state === 'pending' || i.state === 'running') && !gc.doomed.has(i.id),
    )
    const drainedAt = (id: string): number | undefined => {
      const tag = instances.find((i) => i.id === id)?.tags[DRAIN_TAG]
      if (tag !== undefined && Number.isFinite(Number(tag))) return Number(tag)
      // The engine drains by itself (SIGTERM, spot notice): no settling time needed.
      return docs.get(id)?.state === 'draining' ? Number.NEGATIVE_INFINITY : undefined
    }

    // Supply.
    const live: EngineRecord[] = []
    const draining: string[] = []
    let booting = 0
    for (const instance of instances) {
      const doc = docs.get(instance.id)
      if (drainedAt(instance.id) !== undefined) draining.push(instance.id)
      else if (doc) live.push(doc)
      else booting++
    }
    // Engines off this fleet's listing (not yet listed, or not on EC2) that heartbeat: capacity, not fleet.
    const unlisted = observation.engines.filter(
      (doc) =>
        doc.region === region &&
        !listedIds.has(doc.instanceId) &&
        !gc.doomed.has(doc.instanceId) &&
        (doc.state === 'idle' || doc.state === 'busy') &&
        now - doc.heartbeatAt <= policy.heartbeatStaleMs,
    )
    live.push(...unlisted)
    let invisible = 0
    for (const launch of launches.filter((l) => l.region === region)) {
      if (launch.status === 'requested') {
        invisible += launch.count
        actions.push({
          kind: 'launch',
          region,
          count: launch.count,
          generation: launch.generation,
          clientToken: launch.clientToken,
          replay: true,
          reason: `finishing the launch asked at ${new Date(launch.requestedAt).toISOString()} (${launch.reason}): outcome unknown, same client token`,
        })
      } else {
        for (const id of launch.instanceIds ?? []) {
          if (!listedIds.has(id) && !docs.has(id)) invisible++
        }
      }
    }
    booting += invisible
    const fleet = instances.length - draining.length + invisible

    // Demand, packed into free capacity first, then into new engines.
    const demand = [
      ...observation.shards.filter((s) => s.region === region && s.state === 'queued' && s.endsAt > now),
      ...gc.requeued.filter((s) => s.region === region),
    ].sort((a, b) => b.connections - a.connections || (a.id < b.id ? -1 : 1))
    const slots = [
      ...live
        .filter((doc) => doc.state !== 'draining')
        .map((doc) => ({ id: doc.instanceId, free: Math.max(0, doc.capacity - doc.inUse) })),
      ...Array.from({ length: booting }, () => ({ id: '', free: policy.capacity })),
    ]
    const used = new Set<string>()
    let newEngines = 0
    for (const shard of demand) {
      const slot = slots.find((s) => s.free >= shard.connections)
      if (slot) {
        slot.free -= shard.connections
        if (slot.id) used.add(slot.id)
      } else if (shard.connections <= policy.capacity) {
        newEngines++
        slots.push({ id: '', free: policy.capacity - shard.connections })
      } else {
        blockers.push({
          region,
          reason: `shard ${shard.id} needs ${shard.connections} connections; an engine takes ${policy.capacity}`,
        })
      }
    }

    let desired = Math.max(limits.min, fleet + newEngines)
    if (desired > limits.max) {
      if (newEngines > 0)
        blockers.push({
          region,
          reason: `demand needs ${fleet + newEngines} engines; the maximum is ${limits.max}`,
        })
      desired = Math.max(limits.max, fleet)
    }
    const launch = desired - fleet
    if (launch > 0) {
      const generation = (generations[region] ?? 0) + 1
      generations[region] = generation
      const reason =
        newEngines > 0
          ? `${demand.length} queued shard${demand.length === 1 ? '' : 's'} (${sum(demand.map((s) => s.connections))} connections) need ${newEngines} more engine${newEngines === 1 ? '' : 's'}`
          : `below the minimum of ${limits.min} (${fleet} in the fleet)`
      const clientToken = launchClientToken({ fleet: policy.fleet, region, generation, slot: LAUNCH_SLOT })
      launches.push({
        region,
        generation,
        clientToken,
        count: launch,
        requestedAt: now,
        status: 'requested',
        reason,
      })
      actions.push({ kind: 'launch', region, count: launch, generation, clientToken, replay: false, reason })
    }

    // Scale in: idle past the cooldown, holding nothing, above the minimum (or above the maximum).
    for (const doc of live) {
      if (doc.state === 'idle' && doc.inUse === 0 && !held.has(doc.instanceId) && !used.has(doc.instanceId)) {
        // The engine's own word if it gives one, else when this controller first saw it idle.
        idleSince[doc.instanceId] = Math.min(
          doc.idleSince ?? now,
          observation.state.idleSince[doc.instanceId] ?? now,
        )
      }
    }
    const ours = new Set(instances.map((i) => i.id))
    const candidates = live
      .filter((doc) => ours.has(doc.instanceId) && idleSince[doc.instanceId] !== undefined)
      .sort(
        (a, b) =>
          idleSince[a.instanceId]! - idleSince[b.instanceId]! || (a.instanceId < b.instanceId ? -1 : 1),
      )
    let drains = 0
    if (launch <= 0) {
      for (const doc of candidates) {
        const idleFor = now - idleSince[doc.instanceId]!
        const overMax = fleet - drains > limits.max
        if (fleet - drains <= limits.min) break
        if (!overMax && idleFor < policy.cooldownMs) continue
        drains++
        actions.push({
          kind: 'drain',
          instance: { id: doc.instanceId, region },
          reason: overMax
            ? `above the maximum of ${limits.max} (${fleet - drains + 1} in the fleet), idle`
            : `idle for ${duration(idleFor)} (cooldown ${duration(policy.cooldownMs)}), above the minimum of ${limits.min}`,
        })
      }
    }

    // Drained instances are terminated once they hold nothing and had time to notice.
    for (const id of draining) {
      const shards = held.get(id) ?? 0
      const doc = docs.get(id)
      const since = now - drainedAt(id)!
      if (shards > 0 || (doc?.inUse ?? 0) > 0) {
        waits.push({
          subject: id,
          region,
          reason: `draining: still holds ${shards} shard${shards === 1 ? '' : 's'}`,
        })
      } else if (since < policy.drainSettleMs && doc) {
        waits.push({
          subject: id,
          region,
          reason: `draining: giving the engine ${duration(policy.drainSettleMs)} to notice`,
        })
      } else {
        actions.push({
          kind: 'terminate',
          instance: { id, region },
          reason: !doc
            ? 'drained and never registered'
            : Number.isFinite(since)
              ? `drained ${duration(since)} ago and holds nothing`
              : 'its engine is draining and holds nothing',
        })
      }
    }

    regions[region] = {
      live: live.length,
      booting,
      draining: draining.length,
      queued: demand.length,
      queuedConnections: sum(demand.map((s) => s.connections)),
      fleet,
      desired,
    }
  }

  return { actions, waits, blockers, state: { generations, launches, idleSince }, regions }
}

/**
 * The ledger as it should stand now: `requested` launches that DescribeInstances shows in full
 * become `launched`; `launched` ones are kept for the boot grace (they count as booting while
 * Describe lags), then dropped.
 */
function settleLedger(observation: Observation, policy: FleetPolicy): LaunchRecord[] {
  const byToken = new Map<string, string[]>()
  for (const instance of observation.instances) {
    if (!instance.clientToken) continue
    byToken.set(instance.clientToken, [...(byToken.get(instance.clientToken) ?? []), instance.id])
  }
  const out: LaunchRecord[] = []
  for (const launch of observation.state.launches) {
    if (!policy.regions.includes(launch.region)) continue
    if (launch.status === 'requested') {
      const seen = byToken.get(launch.clientToken) ?? []
      out.push(
        seen.length >= launch.count
          ? { ...launch, status: 'launched', instanceIds: seen.sort() }
          : { ...launch },
      )
    } else if (observation.now - launch.requestedAt <= policy.bootGraceMs) {
      out.push({ ...launch })
    }
  }
  return out
}

/** Instance id → how many claimed or running shards it holds. */
function heldShards(observation: Observation): Map<string, number> {
  const held = new Map<string, number>()
  for (const shard of observation.shards) {
    if (shard.engine !== undefined && shard.state !== 'queued')
      held.set(shard.engine, (held.get(shard.engine) ?? 0) + 1)
  }
  return held
}

const sum = (values: number[]) => values.reduce((a, b) => a + b, 0)
