/**
 * The plain data the reconcile planners read and write. Everything here is JSON: what
 * `observe.ts` reads from the cloud and CouchDB, what the planners (`scale.ts`, `gc.ts`,
 * `plan.ts`) decide, and what the executor (`apply.ts`) carries out.
 */
import type { EngineState } from '../../lib/documents.js'
import type { CloudInstance } from '../cloud/provider.js'

/** Tag the controller puts on an instance it decided to drain; value: epoch ms of the decision. */
export const DRAIN_TAG = 'stampede:drain'

/** An engine document, reduced to what the planners read. */
export interface EngineRecord {
  instanceId: string
  region: string
  state: EngineState
  capacity: number
  inUse: number
  heartbeatAt: number
  startedAt: number
  /** When the engine last became idle, if it says (optional: older engines do not). */
  idleSince?: number
}

/** An unfinished shard (queued, claimed or running), reduced to what the planners read. */
export interface ShardRecord {
  id: string
  region: string
  state: 'queued' | 'claimed' | 'running'
  connections: number
  engine?: string
  leaseUntil?: number
  /** Epoch ms when its pattern ends: after it, nobody claims it any more. */
  endsAt: number
}

/**
 * One RunInstances the controller asked for, kept in the lease document between runs.
 * `requested`: the intent is written, the outcome is unknown (the run may have died): the next
 * run repeats the call with the same client token, which EC2 answers with the same instances
 * if the first call reached it. `launched`: the call returned these instances; they count as
 * booting until DescribeInstances shows them or the boot grace passes.
 */
export interface LaunchRecord {
  region: string
  generation: number
  clientToken: string
  count: number
  requestedAt: number
  status: 'requested' | 'launched'
  instanceIds?: string[]
  reason: string
}

/** The controller's memory between runs, stored in the lease document. */
export interface ControllerState {
  /** Last launch generation used per region: the next launch takes the next number. */
  generations: Record<string, number>
  launches: LaunchRecord[]
  /** Instance id → when the controller first saw its engine idle (for the cooldown). */
  idleSince: Record<string, number>
}

export const emptyState = (): ControllerState => ({ generations: {}, launches: [], idleSince: {} })

export interface RegionLimits {
  min: number
  max: number
}

/** The knobs of a reconcile. Durations in milliseconds. */
export interface FleetPolicy {
  fleet: string
  regions: string[]
  limits: Record<string, RegionLimits>
  /** Connections one new engine takes (its `--capacity`); registered engines report their own. */
  capacity: number
  /** An engine idle this long is drained (above the region's minimum). */
  cooldownMs: number
  /** An instance that has not registered this long after launch is terminated. */
  bootGraceMs: number
  /** An engine whose heartbeat is older than this is replaced. */
  heartbeatStaleMs: number
  /** A doc whose instance DescribeInstances does not know is retired after this much silence. */
  gcGraceMs: number
  /** A claimed or running shard whose lease expired this long ago is released. */
  shardLeaseGraceMs: number
  /** Time a drained engine gets to notice before its instance is terminated. */
  drainSettleMs: number
}

export interface Observation {
  now: number
  /** Every instance tagged with the fleet, as DescribeInstances reports them (listed first). */
  instances: CloudInstance[]
  /** Engine docs that are not `gone`. */
  engines: EngineRecord[]
  /** Unfinished shards of every region. */
  shards: ShardRecord[]
  state: ControllerState
}

export interface InstanceTarget {
  id: string
  region: string
}

export type Action =
  | {
      kind: 'launch'
      region: string
      count: number
      generation: number
      clientToken: string
      /** True when this repeats a launch an earlier run asked for (same token). */
      replay: boolean
      reason: string
    }
  | { kind: 'drain'; instance: InstanceTarget; reason: string }
  | { kind: 'terminate'; instance: InstanceTarget; reason: string }
  | {
      kind: 'release-shard'
      shard: string
      region: string
      engine: string | undefined
      from: ShardRecord['state']
      to: 'queued' | 'lost'
      reason: string
    }
  | {
      kind: 'retire-engine'
      instanceId: string
      region: string
      /** The heartbeat the plan saw: a doc that heartbeated since is alive, and is not retired. */
      seenHeartbeatAt: number
      reason: string
    }

/** Something deliberately left alone this run, and why (young, booting, finishing work). */
export interface Wait {
  subject: string
  region: string
  reason: string
}

/** Something the controller cannot fix by itself (demand above the maximum, an oversized shard). */
export interface Blocker {
  region: string
  reason: string
}

export interface Plan {
  at: number
  actions: Action[]
  waits: Wait[]
  blockers: Blocker[]
  /** The state to write (as intent) before acting. */
  state: ControllerState
  /** Per region: what the planner counted, for the log and the dry run. */
  regions: Record<string, RegionSummary>
}

export interface RegionSummary {
  /** Registered, heartbeating, not draining. */
  live: number
  /** Launched but not registered yet, within the boot grace. */
  booting: number
  draining: number
  /** Queued shards that can still start, and their connections. */
  queued: number
  queuedConnections: number
  /** Instances of the fleet counted against min/max. */
  fleet: number
  /** What the region should have after this plan. */
  desired: number
}
