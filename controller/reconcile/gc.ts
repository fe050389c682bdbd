/**
 * Garbage collection, as a pure function of one observation: which instances to terminate,
 * which engine docs to retire (`gone`) and which shards to hand back. The safety rules:
 *
 * - The cloud was listed first (see `observe.ts`): a doc written after the listing belongs to an
 *   instance younger than any grace below, so it is never judged on a listing that predates it.
 * - Nothing younger than its grace is touched. An instance without an engine doc is left to boot
 *   for `bootGraceMs` after its launch; a doc whose instance DescribeInstances does not show is
 *   left alone until its heartbeat has been silent for `gcGraceMs` (DescribeInstances is
 *   eventually consistent, and engines off EC2 are never listed at all).
 * - The cloud's word is final only when it is final: `terminated` retires the doc at once;
 *   `shutting-down` waits, because the engine may be draining on SIGTERM and still finishing
 *   its shards.
 * - A released shard that never started goes back to the queue while its pattern has time
 *   left; a started one becomes `lost` (never run twice), and the rush reports it.
 */
import type { CloudInstance } from '../cloud/provider.js'
import type { Action, EngineRecord, FleetPolicy, Observation, ShardRecord, Wait } from './model.js'

export interface GcResult {
  actions: Action[]
  waits: Wait[]
  /** Instances terminated or whose docs are retired by this plan: not supply any more. */
  doomed: Set<string>
  /** Shards this plan puts back in the queue: demand again. */
  requeued: ShardRecord[]
}

export function collectGarbage(observation: Observation, policy: FleetPolicy): GcResult {
  const { now } = observation
  const actions: Action[] = []
  const waits: Wait[] = []
  const doomed = new Set<string>()
  const retired = new Map<string, string>()
  const docs = new Map(observation.engines.map((doc) => [doc.instanceId, doc]))
  const listed = new Set(observation.instances.map((instance) => instance.id))

  const terminate = (instance: CloudInstance, reason: string) => {
    doomed.add(instance.id)
    actions.push({ kind: 'terminate', instance: { id: instance.id, region: instance.region }, reason })
  }
  const retire = (doc: EngineRecord, reason: string) => {
    doomed.add(doc.instanceId)
    retired.set(doc.instanceId, reason)
    actions.push({
      kind: 'retire-engine',
      instanceId: doc.instanceId,
      region: doc.region,
      seenHeartbeatAt: doc.heartbeatAt,
      reason,
    })
  }

  for (const instance of sortById(observation.instances)) {
    const doc = docs.get(instance.id)
    const subject = instance.id
    const region = instance.region
    switch (instance.state) {
      case 'terminated':
        if (doc) retire(doc, `instance terminated${instance.stateReason ? ` (${instance.stateReason})` : ''}`)
        break
      case 'shutting-down':
      case 'stopping':
        if (doc && now - doc.heartbeatAt > policy.heartbeatStaleMs) {
          retire(
            doc,
            `instance ${instance.state} and heartbeat silent for ${duration(now - doc.heartbeatAt)}`,
          )
        } else if (doc) {
          waits.push({
            subject,
            region,
            reason: `instance ${instance.state}: its engine may still be draining`,
          })
        }
        break
      case 'stopped':
        terminate(instance, 'instance stopped: engines are terminated, never stopped')
        if (doc) retire(doc, 'instance stopped')
        break
      case 'pending':
      case 'running': {
        const age = now - instance.launchTime
        if (!doc) {
          if (age < policy.bootGraceMs) {
            waits.push({
              subject,
              region,
              reason: `booting: launched ${duration(age)} ago, boot grace ${duration(policy.bootGraceMs)}`,
            })
          } else {
            terminate(
              instance,
              `no engine registered within the boot grace (launched ${duration(age)} ago, grace ${duration(policy.bootGraceMs)})`,
            )
          }
        } else if (now - doc.heartbeatAt > policy.heartbeatStaleMs) {
          const silent = `heartbeat silent for ${duration(now - doc.heartbeatAt)} (stale after ${duration(policy.heartbeatStaleMs)})`
          terminate(instance, `replacing: ${silent}`)
          retire(doc, `replaced: ${silent}`)
        }
        break
      }
    }
  }

  for (const doc of sortBy(observation.engines, (doc) => doc.instanceId)) {
    if (listed.has(doc.instanceId)) continue
    // A just-launched instance's doc is fresh, so this also leaves alone what Describe lags behind on.
    const silent = now - doc.heartbeatAt
    if (silent > policy.gcGraceMs) {
      retire(
        doc,
        `instance unknown to DescribeInstances and heartbeat silent for ${duration(silent)} (grace ${duration(policy.gcGraceMs)})`,
      )
    } else if (silent > policy.heartbeatStaleMs) {
      waits.push({
        subject: doc.instanceId,
        region: doc.region,
        reason: `instance unknown to DescribeInstances, heartbeat silent for ${duration(silent)}: retired after ${duration(policy.gcGraceMs)}`,
      })
    }
  }

  const requeued: ShardRecord[] = []
  for (const shard of sortById(observation.shards)) {
    const release = (to: 'queued' | 'lost', reason: string) => {
      actions.push({
        kind: 'release-shard',
        shard: shard.id,
        region: shard.region,
        engine: shard.engine,
        from: shard.state,
        to,
        reason,
      })
      if (to === 'queued') requeued.push({ ...shard, state: 'queued' })
    }
    if (shard.state === 'queued') {
      if (now > shard.endsAt + policy.shardLeaseGraceMs)
        release('lost', 'no engine claimed it before its pattern ended')
      continue
    }
    const holder = shard.engine
    const why =
      holder !== undefined && retired.has(holder)
        ? `engine ${holder} retired: ${retired.get(holder)}`
        : shard.leaseUntil !== undefined && now > shard.leaseUntil + policy.shardLeaseGraceMs
          ? `lease of engine ${holder ?? '?'} expired ${duration(now - shard.leaseUntil)} ago`
          : undefined
    if (why === undefined) continue
    if (shard.state === 'claimed' && shard.endsAt > now) release('queued', `never started; ${why}`)
    else release('lost', shard.state === 'claimed' ? `never started and its pattern is over; ${why}` : why)
  }

  return { actions, waits, doomed, requeued }
}

/** `1h 2m`, `5m 3s`, `42s`, `350ms`: for reasons people read. */
export function duration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`
  const s = Math.floor(ms / 1000)
  if (s < 60) return `${s}s`
  const m = Math.floor(s / 60)
  if (m < 60) return s % 60 ? `${m}m ${s % 60}s` : `${m}m`
  const h = Math.floor(m / 60)
  return m % 60 ? `${h}h ${m % 60}m` : `${h}h`
}

function sortById<T extends { id: string }>(items: readonly T[]): T[] {
  return sortBy(items, (item) => item.id)
}

function sortBy<T>(items: readonly T[], key: (item: T) => string): T[] {
  return [...items].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0))
}
