/**
 * The controller's one port to a cloud. Decisions (autoscale, garbage collection) are pure
 * functions over what `list` returns; the executor turns their plan into `launch`, `terminate`
 * and `tag` calls. `aws.ts` implements it over the EC2 API, `fake.ts` in memory for unit tests.
 */
import { createHash } from 'node:crypto'
import { type ErrorCode, StampedeError } from '../../lib/errors.js'

/** The tag that marks an instance as belonging to a fleet; its value is the fleet's name. */
export const FLEET_TAG = 'stampede:fleet'
/** The tag that says what an instance is for (`engine`). */
export const ROLE_TAG = 'stampede:role'
export const ENGINE_ROLE = 'engine'

export type InstanceState = 'pending' | 'running' | 'shutting-down' | 'terminated' | 'stopping' | 'stopped'

export interface CloudInstance {
  id: string
  region: string
  /** Availability zone, e.g. `us-east-1a`. */
  az: string
  /** Instance type, e.g. `c7g.large`. */
  type: string
  state: InstanceState
  /** Epoch milliseconds. */
  launchTime: number
  tags: Record<string, string>
  imageId?: string
  clientToken?: string
  /** Why the instance stopped or terminated, when the cloud says (`Server.SpotInstanceTermination`). */
  stateReason?: string
}

export interface FleetRef {
  /** The value of the fleet tag. */
  name: string
  regions: readonly string[]
}

export interface LaunchRequest {
  fleet: string
  region: string
  /**
   * Idempotency key: the same token in the same region returns the same instances, never
   * launches again (for a while: EC2 keeps tokens for a limited time). Use `launchClientToken`.
   */
  clientToken: string
  /** An AMI id or `resolve:ssm:<parameter name>`. */
  imageId: string
  instanceType: string
  /** How many instances (all or nothing unless `minCount` says fewer will do). */
  count: number
  minCount?: number
  /** Plain text; the adapter encodes it. */
  userData: string
  /** Extra tags; the fleet and role tags are always added and cannot be overridden. */
  tags?: Record<string, string>
  /** Instance profile, by name or ARN. */
  instanceProfile?: string
  subnetId?: string
  az?: string
  securityGroupIds?: string[]
  /** Hop limit of the IMDSv2 PUT response (default 1: only the instance itself can get a token). */
  metadataHopLimit?: number
  spot?: boolean
}

export interface InstanceRef {
  id: string
  region: string
}

export interface TerminateResult extends InstanceRef {
  /** The state the cloud reported after the call; `gone` when it no longer knew the instance. */
  state: InstanceState | 'gone'
}

/**
 * The contract every provider keeps:
 * - `list(fleet)` returns every instance tagged with the fleet in the fleet's regions, terminated
 *   ones included while the cloud still reports them. It may lag behind launches and
 *   terminations (EC2 is eventually consistent): callers give young instances a grace period.
 * - `launch(request)` is idempotent by `clientToken` within a region: retrying a launch that
 *   reached the cloud returns the same instances.
 * - `terminate(instances)` treats an instance that is already terminated or unknown as done
 *   (`state: 'gone'` or `'terminated'`); it never fails because of one.
 * - `tag(instances, tags)` sets tags; instances that are gone are skipped.
 * Failures are `CloudError`s; throttling has been retried with back-off before one is thrown.
 */
export interface CloudProvider {
  list(fleet: FleetRef): Promise<CloudInstance[]>
  launch(request: LaunchRequest): Promise<CloudInstance[]>
  terminate(instances: readonly InstanceRef[]): Promise<TerminateResult[]>
  tag(instances: readonly InstanceRef[], tags: Record<string, string>): Promise<void>
}

/** A cloud call that failed, with the provider's own error code (`RequestLimitExceeded`, …). */
export class CloudError extends StampedeError {
  readonly cloudCode: string
  readonly region: string
  readonly operation: string
  readonly retryable: boolean
  constructor(
    details: { cloudCode: string; region: string; operation: string; message: string; retryable?: boolean },
    options?: { cause?: unknown },
  ) {
    super(
      CloudError.codeFor(details.cloudCode),
      `${details.operation} in ${details.region} failed: ${details.cloudCode}: ${details.message}`,
      options,
    )
    this.name = 'CloudError'
    this.cloudCode = details.cloudCode
    this.region = details.region
    this.operation = details.operation
    this.retryable = details.retryable ?? false
  }

  static codeFor(cloudCode: string): ErrorCode {
    if (/Throttl|RequestLimitExceeded|TooManyRequests/.test(cloudCode)) return 'STAMPEDE_CLOUD_THROTTLED'
    if (cloudCode === 'IdempotentParameterMismatch') return 'STAMPEDE_CLOUD_IDEMPOTENCY'
    if (cloudCode === 'InsufficientInstanceCapacity' || cloudCode === 'InstanceLimitExceeded')
      return 'STAMPEDE_CLOUD_CAPACITY'
    if (cloudCode === 'UnauthorizedOperation' || cloudCode === 'AuthFailure') return 'STAMPEDE_CLOUD_DENIED'
    return 'STAMPEDE_CLOUD'
  }
}

/** The tags every instance of a fleet carries. */
export function fleetTags(fleet: string): Record<string, string> {
  return { [FLEET_TAG]: fleet, [ROLE_TAG]: ENGINE_ROLE }
}

/**
 * A deterministic ClientToken (pure): the same fleet, region, generation and slot always give
 * the same token, so a retried or overlapping reconcile that plans the same launch cannot launch
 * twice. `generation` is whatever the planner bumps to mean "a new launch is wanted for this
 * slot" (say, the number of launches it has already made for it). At most 64 ASCII characters.
 */
export function launchClientToken(key: {
  fleet: string
  region: string
  generation: number | string
  slot: number | string
}): string {
  const digest = createHash('sha256')
    .update(JSON.stringify([key.fleet, key.region, String(key.generation), String(key.slot)]))
    .digest('hex')
  return `stampede-${digest.slice(0, 48)}`
}

/** Groups instance references by region, keeping order. */
export function byRegion<T extends InstanceRef>(instances: readonly T[]): Map<string, T[]> {
  const groups = new Map<string, T[]>()
  for (const instance of instances) {
    const group = groups.get(instance.region) ?? []
    group.push(instance)
    groups.set(instance.region, group)
  }
  return groups
}
