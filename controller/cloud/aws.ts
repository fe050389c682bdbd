/**
 * The CloudProvider over EC2. The only file that imports the EC2 SDK, and only through `Ec2Api`,
 * the four calls Stampede makes. One client per region (EC2 is regional); throttling and
 * transient errors are retried by the SDK's own retry strategy with our back-off
 * (`ConfiguredRetryStrategy`: `maxAttempts`, `backoffMs(attempt)`), so `RequestLimitExceeded`
 * is survived below this file and only surfaces as a `CloudError` once the attempts are spent.
 *
 * IAM: the calls made are exactly ec2:RunInstances (+ ec2:CreateTags at launch through
 * TagSpecifications, + iam:PassRole for the instance profile, + ssm:GetParameters for a
 * `resolve:ssm:` image), ec2:DescribeInstances, ec2:TerminateInstances and ec2:CreateTags;
 * see packaging/iam/controller-policy.json.
 */
import {
  CreateTagsCommand,
  type CreateTagsCommandInput,
  type CreateTagsCommandOutput,
  DescribeInstancesCommand,
  type DescribeInstancesCommandInput,
  type DescribeInstancesCommandOutput,
  EC2Client,
  type Instance as Ec2Instance,
  RunInstancesCommand,
  type RunInstancesCommandInput,
  type RunInstancesCommandOutput,
  TerminateInstancesCommand,
  type TerminateInstancesCommandInput,
  type TerminateInstancesCommandOutput,
} from '@aws-sdk/client-ec2'
import { ConfiguredRetryStrategy } from '@smithy/core/retry'
import {
  byRegion,
  CloudError,
  type CloudInstance,
  type CloudProvider,
  FLEET_TAG,
  type FleetRef,
  fleetTags,
  type InstanceRef,
  type InstanceState,
  type LaunchRequest,
  type TerminateResult,
} from './provider.js'

/** The EC2 calls Stampede makes, and nothing else. */
export interface Ec2Api {
  runInstances(input: RunInstancesCommandInput): Promise<RunInstancesCommandOutput>
  describeInstances(input: DescribeInstancesCommandInput): Promise<DescribeInstancesCommandOutput>
  terminateInstances(input: TerminateInstancesCommandInput): Promise<TerminateInstancesCommandOutput>
  createTags(input: CreateTagsCommandInput): Promise<CreateTagsCommandOutput>
  destroy(): void
}

export interface AwsCredentials {
  accessKeyId: string
  secretAccessKey: string
  sessionToken?: string
}

export interface AwsCloudOptions {
  /** An endpoint for every region (an emulator), or per region. Default: the real EC2 endpoints. */
  endpoint?: string | ((region: string) => string)
  /** Static credentials. Default: the SDK's credential chain (env, profile, instance role…). */
  credentials?: AwsCredentials
  /** Attempts per call, the first included (default 10). */
  maxAttempts?: number
  /** Delay before retry `attempt` (1-based), in ms. Default: full jitter over 250 ms · 2^attempt, at most 20 s. */
  backoffMs?: (attempt: number) => number
  /** DescribeInstances page size, 5–1000 (default 1000). */
  pageSize?: number
  /** Per-request timeout (default 20 s). */
  requestTimeoutMs?: number
  /** Replaces the SDK client (unit tests). */
  api?: (region: string) => Ec2Api
}

export const DEFAULT_MAX_ATTEMPTS = 10

export function defaultBackoffMs(attempt: number): number {
  return Math.random() * Math.min(20_000, 250 * 2 ** attempt)
}

/** An `Ec2Api` over a real `EC2Client` for one region. */
export function ec2Api(region: string, options: AwsCloudOptions = {}): Ec2Api {
  const endpoint = typeof options.endpoint === 'function' ? options.endpoint(region) : options.endpoint
  const client = new EC2Client({
    region,
    ...(endpoint !== undefined && { endpoint }),
    ...(options.credentials && { credentials: options.credentials }),
    retryStrategy: new ConfiguredRetryStrategy(
      options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
      options.backoffMs ?? defaultBackoffMs,
    ),
    requestHandler: { requestTimeout: options.requestTimeoutMs ?? 20_000, connectionTimeout: 5_000 },
  })
  return {
    runInstances: (input) => client.send(new RunInstancesCommand(input)),
    describeInstances: (input) => client.send(new DescribeInstancesCommand(input)),
    terminateInstances: (input) => client.send(new TerminateInstancesCommand(input)),
    createTags: (input) => client.send(new CreateTagsCommand(input)),
    destroy: () => client.destroy(),
  }
}

/** Most instance ids EC2 takes in one TerminateInstances or CreateTags call. */
const BATCH = 1000

export class AwsCloudProvider implements CloudProvider {
  readonly #options: AwsCloudOptions
  readonly #apis = new Map<string, Ec2Api>()

  constructor(options: AwsCloudOptions = {}) {
    const pageSize = options.pageSize ?? 1000
    if (!Number.isInteger(pageSize) || pageSize < 5 || pageSize > 1000)
      throw new RangeError('pageSize must be an integer from 5 to 1000')
    this.#options = { ...options, pageSize }
  }

  /** The region's client, made on first use. */
  api(region: string): Ec2Api {
    let api = this.#apis.get(region)
    if (!api) {
      api = this.#options.api ? this.#options.api(region) : ec2Api(region, this.#options)
      this.#apis.set(region, api)
    }
    return api
  }

  close(): void {
    for (const api of this.#apis.values()) api.destroy()
    this.#apis.clear()
  }

  async list(fleet: FleetRef): Promise<CloudInstance[]> {
    const perRegion = await Promise.all(fleet.regions.map((region) => this.#listRegion(fleet.name, region)))
    return perRegion.flat()
  }

  async #listRegion(fleet: string, region: string): Promise<CloudInstance[]> {
    const instances: CloudInstance[] = []
    const seen = new Set<string>()
    let nextToken: string | undefined
    do {
      const page = await this.#call('DescribeInstances', region, (api) =>
        api.describeInstances({
          Filters: [{ Name: `tag:${FLEET_TAG}`, Values: [fleet] }],
          MaxResults: this.#options.pageSize,
          ...(nextToken !== undefined && { NextToken: nextToken }),
        }),
      )
      for (const reservation of page.Reservations ?? []) {
        for (const instance of reservation.Instances ?? []) instances.push(toCloudInstance(instance, region))
      }
      if (page.NextToken !== undefined && seen.has(page.NextToken)) {
        throw new CloudError({
          cloudCode: 'PaginationLoop',
          region,
          operation: 'DescribeInstances',
          message: 'the same NextToken came back twice',
        })
      }
      nextToken = page.NextToken || undefined
      if (nextToken) seen.add(nextToken)
    } while (nextToken)
    return instances
  }

  async launch(request: LaunchRequest): Promise<CloudInstance[]> {
    const tags = { ...request.tags, ...fleetTags(request.fleet) }
    const profile = request.instanceProfile
    const input: RunInstancesCommandInput = {
      ClientToken: request.clientToken,
      ImageId: request.imageId,
      InstanceType: request.instanceType as RunInstancesCommandInput['InstanceType'],
      MinCount: request.minCount ?? request.count,
      MaxCount: request.count,
      UserData: Buffer.from(request.userData, 'utf8').toString('base64'),
      TagSpecifications: [
        { ResourceType: 'instance', Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) },
      ],
      MetadataOptions: {
        HttpTokens: 'required',
        HttpPutResponseHopLimit: request.metadataHopLimit ?? 1,
        HttpEndpoint: 'enabled',
      },
      ...(profile !== undefined && {
        IamInstanceProfile: profile.startsWith('arn:') ? { Arn: profile } : { Name: profile },
      }),
      ...(request.subnetId !== undefined && { SubnetId: request.subnetId }),
      ...(request.az !== undefined && { Placement: { AvailabilityZone: request.az } }),
      ...(request.securityGroupIds !== undefined && { SecurityGroupIds: request.securityGroupIds }),
      ...(request.spot && {
        InstanceMarketOptions: {
          MarketType: 'spot',
          SpotOptions: { SpotInstanceType: 'one-time', InstanceInterruptionBehavior: 'terminate' },
        },
      }),
    }
    const output = await this.#call('RunInstances', request.region, (api) => api.runInstances(input))
    return (output.Instances ?? []).map((instance) => toCloudInstance(instance, request.region))
  }

  async terminate(instances: readonly InstanceRef[]): Promise<TerminateResult[]> {
    const results: TerminateResult[] = []
    for (const [region, group] of byRegion(instances)) {
      for (const batch of chunks([...new Set(group.map((i) => i.id))], BATCH)) {
        const { done, gone } = await this.#tolerateGone('TerminateInstances', region, batch, (api, ids) =>
          api.terminateInstances({ InstanceIds: ids }),
        )
        for (const change of done?.TerminatingInstances ?? []) {
          if (change.InstanceId)
            results.push({
              id: change.InstanceId,
              region,
              state: (change.CurrentState?.Name ?? 'shutting-down') as InstanceState,
            })
        }
        for (const id of gone) results.push({ id, region, state: 'gone' })
      }
    }
    return results
  }

  async tag(instances: readonly InstanceRef[], tags: Record<string, string>): Promise<void> {
    const Tags = Object.entries(tags).map(([Key, Value]) => ({ Key, Value }))
    if (Tags.length === 0) return
    for (const [region, group] of byRegion(instances)) {
      for (const batch of chunks([...new Set(group.map((i) => i.id))], BATCH)) {
        await this.#tolerateGone('CreateTags', region, batch, (api, ids) =>
          api.createTags({ Resources: ids, Tags }),
        )
      }
    }
  }

  /**
   * EC2 fails a whole batch when one id is unknown (`InvalidInstanceID.NotFound`, naming the ids
   * in its message). Those are gone, which is what the caller wanted: drop them and go again.
   */
  async #tolerateGone<T>(
    operation: string,
    region: string,
    ids: string[],
    send: (api: Ec2Api, ids: string[]) => Promise<T>,
  ): Promise<{ done: T | undefined; gone: string[] }> {
    const gone: string[] = []
    let remaining = ids
    while (remaining.length > 0) {
      try {
        return { done: await this.#call(operation, region, (api) => send(api, remaining)), gone }
      } catch (error) {
        if (!(error instanceof CloudError) || error.cloudCode !== 'InvalidInstanceID.NotFound') throw error
        const named = new Set(notFoundIds(error.message).filter((id) => remaining.includes(id)))
        if (named.size === 0) throw error
        gone.push(...named)
        remaining = remaining.filter((id) => !named.has(id))
      }
    }
    return { done: undefined, gone }
  }

  async #call<T>(operation: string, region: string, send: (api: Ec2Api) => Promise<T>): Promise<T> {
    try {
      return await send(this.api(region))
    } catch (error) {
      throw toCloudError(error, operation, region)
    }
  }
}

function toCloudError(error: unknown, operation: string, region: string): CloudError {
  const e = error as {
    name?: string
    code?: string
    message?: string
    $metadata?: { attempts?: number; httpStatusCode?: number }
  }
  const cloudCode = (e.name && e.name !== 'Error' ? e.name : e.code) ?? 'Unknown'
  const attempts = e.$metadata?.attempts
  const message = `${e.message ?? String(error)}${attempts && attempts > 1 ? ` (after ${attempts} attempts)` : ''}`
  const status = e.$metadata?.httpStatusCode
  const retryable =
    status === undefined || status >= 500 || CloudError.codeFor(cloudCode) === 'STAMPEDE_CLOUD_THROTTLED'
  return new CloudError({ cloudCode, region, operation, message, retryable }, { cause: error })
}

/** The ids an `InvalidInstanceID.NotFound` message names: `The instance IDs 'i-1, i-2' do not exist`. */
export function notFoundIds(message: string): string[] {
  return [...message.matchAll(/'([^']*)'/g)]
    .flatMap((m) => m[1]!.split(/\s*,\s*/))
    .filter((id) => /^i-[0-9a-f]+$/.test(id))
}

function toCloudInstance(instance: Ec2Instance, region: string): CloudInstance {
  const tags: Record<string, string> = {}
  for (const tag of instance.Tags ?? []) if (tag.Key !== undefined) tags[tag.Key] = tag.Value ?? ''
  return {
    id: instance.InstanceId ?? '',
    region,
    az: instance.Placement?.AvailabilityZone ?? '',
    type: instance.InstanceType ?? '',
    state: (instance.State?.Name ?? 'pending') as InstanceState,
    launchTime: instance.LaunchTime?.getTime() ?? 0,
    tags,
    ...(instance.ImageId && { imageId: instance.ImageId }),
    ...(instance.ClientToken && { clientToken: instance.ClientToken }),
    ...(instance.StateReason?.Code && { stateReason: instance.StateReason.Code }),
  }
}

function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = []
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size))
  return out
}
