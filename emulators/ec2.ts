/**
 * An EC2 Query-API emulator on 127.0.0.1 that the real `@aws-sdk/client-ec2` talks to through
 * its `endpoint` option.
 *
 * Wire format (what the SDK sends and parses): a form-encoded POST `Action=…&Version=2016-11-15&…`
 * with lists flattened as `InstanceId.1`, `Filter.1.Value.2`, `TagSpecification.1.Tag.1.Key`;
 * answers are XML in the `http://ec2.amazonaws.com/doc/2016-11-15/` namespace, lists as
 * `<xxxSet><item>…`; errors are `<Response><Errors><Error><Code/><Message/></Error></Errors>
 * <RequestID/></Response>` (the request id is also sent as `x-amzn-requestid`, where the SDK
 * reads `$metadata.requestId`).
 *
 * Regions: one emulator serves every region. The region of a call is taken from the path when
 * the endpoint carries one (`http://127.0.0.1:PORT/eu-west-1`), otherwise from the credential
 * scope of the SigV4 `Authorization` header, i.e. the client's own `region`. So one endpoint
 * with one `EC2Client` per region is enough; `endpointFor(region)` gives the explicit form.
 * Signatures are not verified; a request without `Authorization` is refused (AuthFailure).
 *
 * Time: every duration (pending → running → shutting-down → terminated, eventual consistency,
 * terminated instances staying visible for an hour, the throttling bucket) is measured on the
 * injected clock and evaluated lazily; side effects that time triggers (stopping the process of
 * an instance whose spot interruption came due) run on the next request or `tick()`.
 *
 * Not emulated: other actions (DescribeInstanceStatus, Stop/Start, spot requests, fleets…),
 * VPC objects (a SubnetId is taken as given), security groups, volumes (volume tag specifications
 * are validated and recorded, not stored), DryRun, launch templates, signature checking, quotas
 * other than an optional per-region capacity.
 */
import { randomUUID } from 'node:crypto'
import http from 'node:http'
import { type Clock, systemClock } from '../lib/clock.js'
import { type ImdsEmulator, type ImdsOptions, startImds } from './imds.js'
import { listenLocal } from './listen.js'

export const EC2_API_VERSION = '2016-11-15'
const XMLNS = `http://ec2.amazonaws.com/doc/${EC2_API_VERSION}/`

export type InstanceStateName = 'pending' | 'running' | 'shutting-down' | 'terminated'
const STATE_CODES: Record<InstanceStateName, number> = {
  pending: 0,
  running: 16,
  'shutting-down': 32,
  terminated: 48,
}

export interface MetadataOptions {
  httpTokens: 'optional' | 'required'
  httpPutResponseHopLimit: number
  httpEndpoint: 'enabled' | 'disabled'
}

/** An instance as the emulator holds it. `tags` is live (CreateTags changes it); the state is `ec2.stateOf(id)`. */
export interface EmulatedInstance {
  readonly id: string
  readonly reservationId: string
  readonly region: string
  readonly az: string
  readonly type: string
  /** The AMI id, after resolving a `resolve:ssm:` name. */
  readonly imageId: string
  readonly launchTime: number
  readonly launchIndex: number
  /** The user-data, decoded from base64 (what the instance's IMDS serves). */
  readonly userData: string | undefined
  readonly tags: Record<string, string>
  readonly clientToken: string | undefined
  readonly iamInstanceProfile: { arn: string; name: string } | undefined
  readonly metadataOptions: MetadataOptions
  readonly subnetId: string | undefined
  readonly spot: boolean
  readonly accountId: string
}

/** What `onLaunch` returns: how to stop the "instance" (a real process, say) when EC2 terminates it. */
export interface LaunchHandle {
  stop(): void | Promise<void>
}
export type LaunchHook = (
  instance: EmulatedInstance,
) => LaunchHandle | undefined | Promise<LaunchHandle | undefined>

/** One API call as received, for tests to assert on and to compare with an IAM policy. */
export interface Ec2Call {
  seq: number
  at: number
  region: string
  action: string
  /** The form parameters as sent, `Action` and `Version` included. */
  params: Record<string, string>
  /** DescribeInstances: how many instances the page held, and whether it carried a NextToken. */
  page?: { instances: number; nextToken: boolean }
  /** RunInstances: the tag specifications, per resource type. */
  tagSpecifications?: Array<{ resourceType: string; tags: Record<string, string> }>
  /** CreateTags: the tags it sets. */
  requestTags?: Record<string, string>
  /** TerminateInstances / CreateTags: the instances acted on, with their tags before the call. */
  resources?: Array<{ id: string; tags: Record<string, string> }>
  /** RunInstances: the image as asked (a `resolve:ssm:` name stays a name here). */
  imageId?: string
  /** RunInstances: the instance profile, by name or ARN as asked. */
  instanceProfile?: string
  subnetId?: string
  /** HTTP status of the answer. */
  status: number
  /** The AWS error code when the call failed (`RequestLimitExceeded` when throttled). */
  error?: string
}

export interface Ec2EmulatorOptions {
  clock?: Clock
  /** 0 (default) picks a free port on 127.0.0.1. */
  port?: number
  accountId?: string
  /** How long an instance stays `pending` (default 1000 ms). */
  pendingMs?: number
  /** How long a terminated instance stays `shutting-down` (default 1000 ms). */
  shuttingDownMs?: number
  /** How long a terminated instance stays visible to DescribeInstances (default 1 h, as on EC2). */
  terminatedVisibleMs?: number
  /** Eventual consistency: a new instance is invisible to every call but RunInstances for this long (default 0). */
  visibilityDelayMs?: number
  /** Regions served; default any. */
  regions?: string[]
  /** `resolve:ssm:` names → AMI ids. Unlisted names under `/aws/service/` resolve to a stable fake AMI. */
  ssmParameters?: Record<string, string>
  /** Most non-terminated instances a region holds; past it RunInstances fails with InsufficientInstanceCapacity. */
  capacityPerRegion?: number
  /**
   * DescribeInstances with MaxResults pages over the region's instances first and filters each
   * page after, as real EC2 may: a page can come back short, or empty, and still carry a
   * NextToken. Default false: filters first, so every page but the last is full.
   */
  filterAfterPaging?: boolean
  onLaunch?: LaunchHook
}

class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message)
  }
}

interface Instance extends EmulatedInstance {
  seq: number
  visibleAt: number
  /** When the instance left pending/running (terminate, kill, spot interruption come due). */
  terminateAt: number | undefined
  stateReason: { code: string; message: string } | undefined
  handle: Promise<LaunchHandle | undefined> | undefined
  stopped: boolean
  imds: ImdsEmulator | undefined
}

interface Injected {
  remaining: number
  code: string
  status: number
  message: string
  actions: string[] | undefined
}

const owners = new WeakMap<EmulatedInstance, Ec2Emulator>()

export class Ec2Emulator {
  readonly calls: Ec2Call[] = []
  onLaunch: LaunchHook | undefined
  readonly #server: http.Server
  readonly #clock: Clock
  readonly #options: Required<
    Omit<Ec2EmulatorOptions, 'onLaunch' | 'regions' | 'capacityPerRegion' | 'clock' | 'port'>
  >
  readonly #regions: Set<string> | undefined
  #capacity: number | undefined
  #visibilityDelayMs: number
  readonly #instances = new Map<string, Instance>()
  readonly #tokens = new Map<string, { fingerprint: string; reservationId: string; ids: string[] }>()
  #seq = 0
  #reservations = 0
  #callSeq = 0
  #injected: Injected[] = []
  #bucket:
    | { perSecond: number; burst: number; tokens: number; at: number; actions: string[] | undefined }
    | undefined
  #failRate:
    | { fraction: number; applied: boolean; actions: string[] | undefined; next: () => number }
    | undefined
  #timer: NodeJS.Timeout | undefined
  #url = ''

  constructor(options: Ec2EmulatorOptions = {}) {
    this.#clock = options.clock ?? systemClock
    this.#options = {
      accountId: options.accountId ?? '000000000000',
      pendingMs: options.pendingMs ?? 1000,
      shuttingDownMs: options.shuttingDownMs ?? 1000,
      terminatedVisibleMs: options.terminatedVisibleMs ?? 3600_000,
      visibilityDelayMs: options.visibilityDelayMs ?? 0,
      ssmParameters: options.ssmParameters ?? {},
      filterAfterPaging: options.filterAfterPaging ?? false,
    }
    this.#visibilityDelayMs = this.#options.visibilityDelayMs
    this.#regions = options.regions && new Set(options.regions)
    this.#capacity = options.capacityPerRegion
    this.onLaunch = options.onLaunch
    this.#server = http.createServer((req, res) => this.#receive(req, res))
  }

  /** `http://127.0.0.1:PORT`: the region comes from each client's signature. */
  get url(): string {
    return this.#url
  }

  /** An endpoint that pins the region by path, whatever the client signs with. */
  endpointFor(region: string): string {
    return `${this.#url}/${region}`
  }

  async listen(port = 0): Promise<this> {
    this.#url = `http://127.0.0.1:${await listenLocal(this.#server, port)}`
    if (this.#clock === systemClock) {
      this.#timer = setInterval(() => this.tick(), 250)
      this.#timer.unref()
    }
    return this
  }

  /** Stops the server, every launched "instance" still running, and every instance IMDS. */
  async close(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer)
    this.#server.closeAllConnections()
    await new Promise<void>((resolve) => this.#server.close(() => resolve()))
    await Promise.all([...this.#instances.values()].map((i) => this.#stop(i)))
    await Promise.all([...this.#instances.values()].map((i) => i.imds?.close()))
  }

  // ── switches ────────────────────────────────────────────────────────────────

  /** Throttle: the next `count` calls (of these actions, or any) fail with RequestLimitExceeded (503). */
  throttleNext(count: number, actions?: string[]): void {
    this.failNext(count, {
      code: 'RequestLimitExceeded',
      status: 503,
      message: 'Request limit exceeded.',
      actions,
    })
  }

  /** Throttle by rate: a token bucket of `burst` calls refilled at `perSecond` on the clock. `undefined` lifts it. */
  throttleRate(limit: { perSecond: number; burst?: number; actions?: string[] } | undefined): void {
    this.#bucket = limit && {
      perSecond: limit.perSecond,
      burst: limit.burst ?? limit.perSecond,
      tokens: limit.burst ?? limit.perSecond,
      at: this.#clock.now(),
      actions: limit.actions,
    }
  }

  /** The next `count` calls (of these actions, or any) fail with this error (default InternalError, 500). */
  failNext(
    count: number,
    error: { code?: string; status?: number; message?: string; actions?: string[] | undefined } = {},
  ): void {
    this.#injected.push({
      remaining: count,
      code: error.code ?? 'InternalError',
      status: error.status ?? 500,
      message: error.message ?? 'An internal error has occurred.',
      actions: error.actions,
    })
  }

  /**
   * Fails a share of the calls (of these actions, or any) with a 500 `InternalError`, chosen by
   * a seeded generator so a run can be repeated. `applied`: the failing call is carried out
   * first and only its answer is an error (the answer lost on the way back: the caller cannot
   * tell whether it happened). `undefined` lifts it.
   */
  failRate(
    rate: { fraction: number; seed?: number; applied?: boolean; actions?: string[] } | undefined,
  ): void {
    this.#failRate = rate && {
      fraction: rate.fraction,
      applied: rate.applied ?? false,
      actions: rate.actions,
      next: mulberry32(rate.seed ?? 1),
    }
  }

  /** Eventual consistency from now on: instances launched later stay invisible for this long. */
  setVisibilityDelay(ms: number): void {
    this.#visibilityDelayMs = ms
  }

  setCapacityPerRegion(count: number | undefined): void {
    this.#capacity = count
  }

  /** The instance ends now, as if the host died: terminated at once (no shutting-down), its process stopped. */
  async kill(id: string, reason = 'Server.InternalError'): Promise<void> {
    const instance = this.#get(id)
    if (instance.terminateAt === undefined) {
      instance.terminateAt = this.#clock.now() - this.#options.shuttingDownMs
      instance.stateReason = { code: reason, message: `${reason}: emulated` }
    }
    await this.#stop(instance)
  }

  /**
   * A spot interruption: announced on the instance's IMDS (when it has one from `startInstanceImds`)
   * and the instance starts shutting down `warningMs` later (default two minutes, as on EC2).
   */
  interruptSpot(id: string, warningMs = 120_000): void {
    const instance = this.#get(id)
    const at = this.#clock.now() + warningMs
    instance.imds?.announceSpotInterruption({ at })
    if (instance.terminateAt === undefined || instance.terminateAt > at) {
      instance.terminateAt = at
      instance.stateReason = {
        code: 'Server.SpotInstanceTermination',
        message: 'Server.SpotInstanceTermination: Spot instance termination',
      }
    }
  }

  /** Applies what time has made due: stops the processes of instances that are shutting down. */
  tick(): void {
    for (const instance of this.#instances.values()) {
      if (
        !instance.stopped &&
        instance.handle &&
        this.#state(instance) !== 'pending' &&
        this.#state(instance) !== 'running'
      ) {
        void this.#stop(instance)
      }
    }
  }

  // ── inspection ──────────────────────────────────────────────────────────────

  /** Every instance the emulator holds (visible or not, terminated ones included). */
  instances(region?: string): EmulatedInstance[] {
    return [...this.#instances.values()].filter((i) => region === undefined || i.region === region)
  }

  instance(id: string): EmulatedInstance | undefined {
    return this.#instances.get(id)
  }

  stateOf(id: string): InstanceStateName {
    return this.#state(this.#get(id))
  }

  /** Calls of one action, in order. */
  callsOf(action: string): Ec2Call[] {
    return this.calls.filter((c) => c.action === action)
  }

  resetCalls(): void {
    this.calls.length = 0
  }

  /** @internal used by `startInstanceImds`. */
  attachImds(instance: EmulatedInstance, imds: ImdsEmulator): void {
    this.#get(instance.id).imds = imds
  }

  // ── the wire ────────────────────────────────────────────────────────────────

  #receive(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      const requestId = randomUUID()
      const url = new URL(req.url ?? '/', 'http://emulator')
      const params: Record<string, string> = {}
      for (const [k, v] of url.searchParams) params[k] = v
      for (const [k, v] of new URLSearchParams(Buffer.concat(chunks).toString('utf8'))) params[k] = v
      const action = params.Action ?? ''
      const call: Ec2Call = {
        seq: ++this.#callSeq,
        at: this.#clock.now(),
        region: '',
        action,
        params,
        status: 200,
      }
      let status = 200
      let body: string
      try {
        call.region = this.#region(url.pathname, req.headers.authorization)
        this.calls.push(call)
        this.tick()
        this.#checkInjected(action)
        const rate = this.#failRate
        const fail =
          rate !== undefined &&
          (rate.actions === undefined || rate.actions.includes(action)) &&
          rate.next() < rate.fraction
        const internal = () => new ApiError(500, 'InternalError', 'An internal error has occurred.')
        if (fail && !rate.applied) throw internal()
        body = this.#dispatch(call, params)
        if (fail) throw internal()
      } catch (error) {
        const e = error instanceof ApiError ? error : new ApiError(500, 'InternalError', String(error))
        if (!call.region) this.calls.push(call)
        status = e.status
        call.status = status
        call.error = e.code
        body = `<Response><Errors><Error><Code>${esc(e.code)}</Code><Message>${esc(e.message)}</Message></Error></Errors><RequestID>${requestId}</RequestID></Response>`
      }
      if (status === 200)
        body = `<${action}Response xmlns="${XMLNS}"><requestId>${requestId}</requestId>${body}</${action}Response>`
      res.writeHead(status, { 'content-type': 'text/xml;charset=UTF-8', 'x-amzn-requestid': requestId })
      res.end(`<?xml version="1.0" encoding="UTF-8"?>\n${body}`)
    })
  }

  #region(pathname: string, authorization: string | undefined): string {
    const fromPath = pathname.split('/').filter(Boolean)[0]
    const fromSignature = /Credential=[^/,]+\/\d{8}\/([^/,]+)\/ec2\/aws4_request/.exec(
      authorization ?? '',
    )?.[1]
    if (!authorization)
      throw new ApiError(401, 'AuthFailure', 'AWS was not able to validate the provided access credentials')
    const region = fromPath ?? fromSignature
    if (!region)
      throw new ApiError(
        400,
        'InvalidParameterValue',
        'the region could not be told from the path or the signature',
      )
    if (this.#regions && !this.#regions.has(region)) {
      throw new ApiError(400, 'UnsupportedOperation', `region ${region} is not served by this emulator`)
    }
    return region
  }

  #checkInjected(action: string): void {
    const matches = (actions: string[] | undefined) => actions === undefined || actions.includes(action)
    const injected = this.#injected.find((i) => i.remaining > 0 && matches(i.actions))
    if (injected) {
      injected.remaining--
      this.#injected = this.#injected.filter((i) => i.remaining > 0)
      throw new ApiError(injected.status, injected.code, injected.message)
    }
    const bucket = this.#bucket
    if (bucket && matches(bucket.actions)) {
      const now = this.#clock.now()
      bucket.tokens = Math.min(bucket.burst, bucket.tokens + ((now - bucket.at) / 1000) * bucket.perSecond)
      bucket.at = now
      if (bucket.tokens < 1) throw new ApiError(503, 'RequestLimitExceeded', 'Request limit exceeded.')
      bucket.tokens -= 1
    }
  }

  #dispatch(call: Ec2Call, params: Record<string, string>): string {
    switch (call.action) {
      case 'RunInstances':
        return this.#runInstances(call, params)
      case 'DescribeInstances':
        return this.#describeInstances(call, params)
      case 'TerminateInstances':
        return this.#terminateInstances(call, params)
      case 'CreateTags':
        return this.#createTags(call, params)
      default:
        throw new ApiError(
          400,
          'InvalidAction',
          `The action ${call.action || '(none)'} is not valid for this web service.`,
        )
    }
  }

  // ── actions ─────────────────────────────────────────────────────────────────

  #runInstances(call: Ec2Call, params: Record<string, string>): string {
    const region = call.region
    const now = this.#clock.now()
    const imageAsked = params.ImageId
    if (!imageAsked)
      throw new ApiError(400, 'MissingParameter', 'The request must contain the parameter ImageId')
    call.imageId = imageAsked
    const minCount = integer(params, 'MinCount', 1, Number.MAX_SAFE_INTEGER)
    const maxCount = integer(params, 'MaxCount', 1, Number.MAX_SAFE_INTEGER)
    if (minCount > maxCount)
      throw new ApiError(400, 'InvalidParameterValue', 'MinCount must be less than or equal to MaxCount')
    const tagSpecifications = members(params, 'TagSpecification').map((spec) => {
      const resourceType = spec.ResourceType ?? ''
      if (!['instance', 'volume', 'network-interface', 'spot-instances-request'].includes(resourceType)) {
        throw new ApiError(
          400,
          'InvalidParameterValue',
          `'${resourceType}' is not a valid taggable resource type for this operation.`,
        )
      }
      return { resourceType, tags: tagsOf(spec, 'Tag') }
    })
    call.tagSpecifications = tagSpecifications
    const profile = params['IamInstanceProfile.Arn'] ?? params['IamInstanceProfile.Name']
    if (profile !== undefined) call.instanceProfile = profile
    if (params.SubnetId !== undefined) call.subnetId = params.SubnetId

    const clientToken = params.ClientToken
    if (clientToken !== undefined && (clientToken.length > 64 || !/^[\x20-\x7e]+$/.test(clientToken))) {
      throw new ApiError(
        400,
        'InvalidParameterValue',
        'ClientToken must be at most 64 printable ASCII characters',
      )
    }
    const fingerprint = JSON.stringify(
      Object.entries(params)
        .filter(([k]) => k !== 'ClientToken')
        .sort(),
    )
    if (clientToken !== undefined) {
      const seen = this.#tokens.get(`${region}\n${clientToken}`)
      if (seen) {
        if (seen.fingerprint !== fingerprint) {
          throw new ApiError(
            400,
            'IdempotentParameterMismatch',
            'The client token you have provided is associated with a request for a different set of parameters.',
          )
        }
        const instances = seen.ids.map((id) => this.#get(id))
        return reservationXml(
          seen.reservationId,
          this.#options.accountId,
          instances.map((i) => this.#instanceXml(i)),
        )
      }
    }

    const imageId = this.#resolveImage(imageAsked)
    const type = params.InstanceType ?? 'm1.small'
    if (!/^[a-z][a-z0-9-]*\.[a-z0-9-]+$/.test(type))
      throw new ApiError(400, 'InvalidParameterValue', `Invalid value '${type}' for InstanceType.`)
    let userData: string | undefined
    if (params.UserData !== undefined) {
      if (!/^[A-Za-z0-9+/]*={0,2}$/.test(params.UserData) || params.UserData.length % 4 !== 0) {
        throw new ApiError(400, 'InvalidParameterValue', 'Invalid BASE64 encoding of user data.')
      }
      const raw = Buffer.from(params.UserData, 'base64')
      if (raw.length > 16384)
        throw new ApiError(400, 'InvalidParameterValue', 'User data is limited to 16384 bytes')
      userData = raw.toString('utf8')
    }
    const tokens = params['MetadataOptions.HttpTokens'] ?? 'optional'
    if (tokens !== 'optional' && tokens !== 'required')
      throw new ApiError(400, 'InvalidParameterValue', `Invalid value '${tokens}' for HttpTokens`)
    const hops =
      params['MetadataOptions.HttpPutResponseHopLimit'] === undefined
        ? 1
        : integer(params, 'MetadataOptions.HttpPutResponseHopLimit', 1, 64)
    const endpoint = params['MetadataOptions.HttpEndpoint'] ?? 'enabled'
    if (endpoint !== 'enabled' && endpoint !== 'disabled')
      throw new ApiError(400, 'InvalidParameterValue', `Invalid value '${endpoint}' for HttpEndpoint`)
    let iamInstanceProfile: EmulatedInstance['iamInstanceProfile']
    if (profile !== undefined) {
      const name = profile.startsWith('arn:') ? profile.slice(profile.lastIndexOf('/') + 1) : profile
      if (!/^[\w+=,.@-]{1,128}$/.test(name))
        throw new ApiError(
          400,
          'InvalidParameterValue',
          `Value (${profile}) for parameter iamInstanceProfile is invalid.`,
        )
      iamInstanceProfile = {
        name,
        arn: profile.startsWith('arn:')
          ? profile
          : `arn:aws:iam::${this.#options.accountId}:instance-profile/${name}`,
      }
    }
    const zones = ['a', 'b', 'c'].map((z) => `${region}${z}`)
    const askedZone = params['Placement.AvailabilityZone']
    if (askedZone !== undefined && !zones.includes(askedZone)) {
      throw new ApiError(400, 'InvalidParameterValue', `Invalid availability zone: [${askedZone}]`)
    }

    const alive = [...this.#instances.values()].filter(
      (i) => i.region === region && this.#state(i) !== 'terminated',
    ).length
    const room = this.#capacity === undefined ? maxCount : this.#capacity - alive
    if (room < minCount) {
      throw new ApiError(
        500,
        'InsufficientInstanceCapacity',
        `We currently do not have sufficient ${type} capacity in the Availability Zone you requested.`,
      )
    }
    const reservationId = `r-${hex17(++this.#reservations)}`
    const created: Instance[] = []
    const inRegion = [...this.#instances.values()].filter((i) => i.region === region).length
    for (let index = 0; index < Math.min(maxCount, room); index++) {
      const seq = ++this.#seq
      const instanceTags = Object.assign(
        {},
        ...tagSpecifications.filter((s) => s.resourceType === 'instance').map((s) => s.tags),
      )
      const instance: Instance = {
        id: `i-${hex17(seq)}`,
        reservationId,
        region,
        az: askedZone ?? zones[(inRegion + index) % zones.length]!,
        type,
        imageId,
        launchTime: now,
        launchIndex: index,
        userData,
        tags: instanceTags,
        clientToken,
        iamInstanceProfile,
        metadataOptions: { httpTokens: tokens, httpPutResponseHopLimit: hops, httpEndpoint: endpoint },
        subnetId: params.SubnetId,
        spot: params['InstanceMarketOptions.MarketType'] === 'spot',
        accountId: this.#options.accountId,
        seq,
        visibleAt: now + this.#visibilityDelayMs,
        terminateAt: undefined,
        stateReason: undefined,
        handle: undefined,
        stopped: false,
        imds: undefined,
      }
      this.#instances.set(instance.id, instance)
      owners.set(instance, this)
      created.push(instance)
    }
    if (clientToken !== undefined) {
      this.#tokens.set(`${region}\n${clientToken}`, {
        fingerprint,
        reservationId,
        ids: created.map((i) => i.id),
      })
    }
    for (const instance of created) {
      const hook = this.onLaunch
      if (hook) {
        instance.handle = Promise.resolve()
          .then(() => hook(instance))
          .catch((error) => {
            process.emitWarning(`ec2 emulator: onLaunch for ${instance.id} failed: ${error}`)
            return undefined
          })
      }
    }
    return reservationXml(
      reservationId,
      this.#options.accountId,
      created.map((i) => this.#instanceXml(i)),
    )
  }

  #describeInstances(call: Ec2Call, params: Record<string, string>): string {
    const ids = indexed(params, 'InstanceId')
    const maxResults = params.MaxResults === undefined ? undefined : integer(params, 'MaxResults', 5, 1000)
    if (ids.length > 0 && maxResults !== undefined) {
      throw new ApiError(
        400,
        'InvalidParameterCombination',
        'The parameter instancesSet cannot be used with the parameter maxResults',
      )
    }
    const filters = members(params, 'Filter').map((f) => {
      const name = f.Name ?? ''
      const values = indexed(f, 'Value').map(globRegExp)
      const test = FILTERS[name.startsWith('tag:') ? 'tag:' : name]
      if (!test) throw new ApiError(400, 'InvalidParameterValue', `The filter '${name}' is invalid`)
      return (i: Instance) => test(i, values, name, this.#state(i))
    })
    let after = 0
    if (params.NextToken !== undefined) {
      const decoded = /^\d+$/.test(Buffer.from(params.NextToken, 'base64url').toString('utf8'))
      if (!decoded) throw new ApiError(400, 'InvalidParameterValue', 'Invalid value for NextToken')
      after = Number(Buffer.from(params.NextToken, 'base64url').toString('utf8'))
    }
    let candidates: Instance[]
    if (ids.length > 0) {
      candidates = this.#visible(call.region, ids)
    } else {
      candidates = [...this.#instances.values()].filter((i) => i.region === call.region && this.#isVisible(i))
    }
    const filterFirst = !this.#options.filterAfterPaging
    const matching = candidates
      .filter((i) => i.seq > after && (!filterFirst || filters.every((f) => f(i))))
      .sort((a, b) => a.seq - b.seq)
    const window = maxResults === undefined ? matching : matching.slice(0, maxResults)
    const page = filterFirst ? window : window.filter((i) => filters.every((f) => f(i)))
    call.page = { instances: page.length, nextToken: window.length < matching.length }
    const reservations: string[] = []
    for (let start = 0; start < page.length; ) {
      let end = start + 1
      while (end < page.length && page[end]!.reservationId === page[start]!.reservationId) end++
      const group = page.slice(start, end)
      reservations.push(
        `<item>${reservationXml(
          group[0]!.reservationId,
          this.#options.accountId,
          group.map((i) => this.#instanceXml(i)),
        )}</item>`,
      )
      start = end
    }
    const next = call.page.nextToken
      ? `<nextToken>${Buffer.from(String(window.at(-1)!.seq)).toString('base64url')}</nextToken>`
      : ''
    return `<reservationSet>${reservations.join('')}</reservationSet>${next}`
  }

  #terminateInstances(call: Ec2Call, params: Record<string, string>): string {
    const ids = indexed(params, 'InstanceId')
    if (ids.length === 0)
      throw new ApiError(400, 'MissingParameter', 'The request must contain the parameter InstanceId')
    const instances = this.#visible(call.region, ids)
    call.resources = instances.map((i) => ({ id: i.id, tags: { ...i.tags } }))
    const now = this.#clock.now()
    const items = instances.map((instance) => {
      const previous = this.#state(instance)
      if (
        previous === 'pending' ||
        previous === 'running' ||
        (instance.terminateAt !== undefined && instance.terminateAt > now)
      ) {
        instance.terminateAt = now
        instance.stateReason = {
          code: 'Client.UserInitiatedShutdown',
          message: 'Client.UserInitiatedShutdown: User initiated shutdown',
        }
      }
      const current = this.#state(instance)
      if (current !== 'pending' && current !== 'running') void this.#stop(instance)
      return `<item><instanceId>${instance.id}</instanceId>${stateXml('currentState', current)}${stateXml('previousState', previous)}</item>`
    })
    return `<instancesSet>${items.join('')}</instancesSet>`
  }

  #createTags(call: Ec2Call, params: Record<string, string>): string {
    const ids = indexed(params, 'ResourceId')
    if (ids.length === 0)
      throw new ApiError(400, 'MissingParameter', 'The request must contain the parameter ResourceId')
    for (const id of ids)
      if (!id.startsWith('i-'))
        throw new ApiError(
          400,
          'InvalidID',
          `The ID '${id}' is not valid (this emulator tags instances only)`,
        )
    const tags = tagsOf(params, 'Tag')
    if (Object.keys(tags).length === 0)
      throw new ApiError(400, 'MissingParameter', 'The request must contain the parameter Tag')
    call.requestTags = tags
    const instances = this.#visible(call.region, ids)
    call.resources = instances.map((i) => ({ id: i.id, tags: { ...i.tags } }))
    for (const instance of instances) {
      const merged = { ...instance.tags, ...tags }
      if (Object.keys(merged).length > 50)
        throw new ApiError(
          400,
          'TagLimitExceeded',
          `The maximum number of Tags for a resource has been reached.`,
        )
    }
    for (const instance of instances) Object.assign(instance.tags, tags)
    return '<return>true</return>'
  }

  // ── helpers ─────────────────────────────────────────────────────────────────

  #resolveImage(imageId: string): string {
    if (imageId.startsWith('resolve:ssm:')) {
      const name = imageId.slice('resolve:ssm:'.length).replace(/:\d+$/, '')
      const mapped = this.#options.ssmParameters[name]
      if (mapped) return mapped
      if (name.startsWith('/aws/service/')) return `ami-${hex17(hash(name))}`
      throw new ApiError(
        400,
        'InvalidParameterValue',
        `The parameter ${name} could not be resolved: ParameterNotFound`,
      )
    }
    if (!/^ami-[0-9a-f]{8}([0-9a-f]{9})?$/.test(imageId))
      throw new ApiError(400, 'InvalidAMIID.Malformed', `Invalid id: "${imageId}" (expecting "ami-...")`)
    return imageId
  }

  #get(id: string): Instance {
    const instance = this.#instances.get(id)
    if (!instance) throw new Error(`ec2 emulator: no instance ${id}`)
    return instance
  }

  #state(instance: Instance): InstanceStateName {
    const now = this.#clock.now()
    if (instance.terminateAt !== undefined && now >= instance.terminateAt) {
      return now < instance.terminateAt + this.#options.shuttingDownMs ? 'shutting-down' : 'terminated'
    }
    return now < instance.launchTime + this.#options.pendingMs ? 'pending' : 'running'
  }

  #isVisible(instance: Instance): boolean {
    const now = this.#clock.now()
    if (now < instance.visibleAt) return false
    if (instance.terminateAt === undefined) return true
    return now < instance.terminateAt + this.#options.shuttingDownMs + this.#options.terminatedVisibleMs
  }

  /** The instances of these ids in this region, or InvalidInstanceID.NotFound naming those that are not (yet, or any more). */
  #visible(region: string, ids: string[]): Instance[] {
    const malformed = ids.find((id) => !/^i-[0-9a-f]{8}([0-9a-f]{9})?$/.test(id))
    if (malformed)
      throw new ApiError(400, 'InvalidInstanceID.Malformed', `Invalid id: "${malformed}" (expecting "i-...")`)
    const unique = [...new Set(ids)]
    const missing = unique.filter((id) => {
      const instance = this.#instances.get(id)
      return !instance || instance.region !== region || !this.#isVisible(instance)
    })
    if (missing.length === 1)
      throw new ApiError(400, 'InvalidInstanceID.NotFound', `The instance ID '${missing[0]}' does not exist`)
    if (missing.length > 1)
      throw new ApiError(
        400,
        'InvalidInstanceID.NotFound',
        `The instance IDs '${missing.join(', ')}' do not exist`,
      )
    return unique.map((id) => this.#get(id))
  }

  async #stop(instance: Instance): Promise<void> {
    if (instance.stopped) return
    instance.stopped = true
    const handle = await instance.handle
    try {
      await handle?.stop()
    } catch (error) {
      process.emitWarning(`ec2 emulator: stopping ${instance.id} failed: ${error}`)
    }
  }

  #instanceXml(i: Instance): string {
    const state = this.#state(i)
    const ip = `10.0.${(i.seq >> 8) & 255}.${i.seq & 255}`
    const tags = Object.entries(i.tags)
      .map(([k, v]) => `<item><key>${esc(k)}</key><value>${esc(v)}</value></item>`)
      .join('')
    return [
      `<item><instanceId>${i.id}</instanceId><imageId>${i.imageId}</imageId>`,
      stateXml('instanceState', state),
      `<privateDnsName>ip-${ip.replaceAll('.', '-')}.${i.region}.compute.internal</privateDnsName><dnsName></dnsName>`,
      `<reason>${i.stateReason ? esc(i.stateReason.message) : ''}</reason>`,
      `<amiLaunchIndex>${i.launchIndex}</amiLaunchIndex><productCodes/><instanceType>${esc(i.type)}</instanceType>`,
      `<launchTime>${new Date(i.launchTime).toISOString()}</launchTime>`,
      `<placement><availabilityZone>${i.az}</availabilityZone><groupName></groupName><tenancy>default</tenancy></placement>`,
      `<monitoring><state>disabled</state></monitoring>`,
      i.subnetId ? `<subnetId>${esc(i.subnetId)}</subnetId>` : '',
      `<privateIpAddress>${ip}</privateIpAddress><groupSet/>`,
      i.stateReason && state !== 'pending' && state !== 'running'
        ? `<stateReason><code>${esc(i.stateReason.code)}</code><message>${esc(i.stateReason.message)}</message></stateReason>`
        : '',
      `<architecture>x86_64</architecture><rootDeviceType>ebs</rootDeviceType><rootDeviceName>/dev/xvda</rootDeviceName>`,
      `<blockDeviceMapping/><virtualizationType>hvm</virtualizationType>`,
      `<clientToken>${esc(i.clientToken ?? '')}</clientToken>`,
      tags ? `<tagSet>${tags}</tagSet>` : '',
      `<hypervisor>xen</hypervisor>`,
      i.spot ? '<instanceLifecycle>spot</instanceLifecycle>' : '',
      i.iamInstanceProfile
        ? `<iamInstanceProfile><arn>${esc(i.iamInstanceProfile.arn)}</arn><id>AIPA${hex17(hash(i.iamInstanceProfile.arn)).toUpperCase()}</id></iamInstanceProfile>`
        : '',
      `<metadataOptions><state>${state === 'pending' ? 'pending' : 'applied'}</state><httpTokens>${i.metadataOptions.httpTokens}</httpTokens>`,
      `<httpPutResponseHopLimit>${i.metadataOptions.httpPutResponseHopLimit}</httpPutResponseHopLimit>`,
      `<httpEndpoint>${i.metadataOptions.httpEndpoint}</httpEndpoint></metadataOptions></item>`,
    ].join('')
  }
}

/** Starts an EC2 emulator on a free port of 127.0.0.1. */
export async function startEc2(options: Ec2EmulatorOptions = {}): Promise<Ec2Emulator> {
  return new Ec2Emulator(options).listen(options.port ?? 0)
}

/**
 * Gives an emulated instance its own IMDSv2 emulator (instance id, region, zone, type, image,
 * user-data, role of its instance profile). When the instance came from an `Ec2Emulator`, that
 * emulator announces spot interruptions on it and closes it on `close()`.
 */
export async function startInstanceImds(
  instance: EmulatedInstance,
  options: ImdsOptions = {},
): Promise<ImdsEmulator> {
  const imds = await startImds(
    {
      instanceId: instance.id,
      region: instance.region,
      az: instance.az,
      instanceType: instance.type,
      imageId: instance.imageId,
      accountId: instance.accountId,
      launchTime: instance.launchTime,
      ...(instance.userData !== undefined && { userData: instance.userData }),
      ...(instance.iamInstanceProfile && { role: instance.iamInstanceProfile.name }),
    },
    options,
  )
  owners.get(instance)?.attachImds(instance, imds)
  return imds
}

// ── Query-protocol parsing ────────────────────────────────────────────────────

/** `Prefix.1`, `Prefix.2`, … in index order. */
function indexed(params: Record<string, string>, prefix: string): string[] {
  return Object.entries(params)
    .map(([k, v]) => [new RegExp(`^${prefix}\\.(\\d+)$`).exec(k)?.[1], v] as const)
    .filter((e): e is readonly [string, string] => e[0] !== undefined)
    .sort((a, b) => Number(a[0]) - Number(b[0]))
    .map(([, v]) => v)
}

/** `Prefix.N.Rest` grouped by N (in order) into `{ Rest: value }`. */
function members(params: Record<string, string>, prefix: string): Array<Record<string, string>> {
  const groups = new Map<number, Record<string, string>>()
  const pattern = new RegExp(`^${prefix}\\.(\\d+)\\.(.+)$`)
  for (const [k, v] of Object.entries(params)) {
    const m = pattern.exec(k)
    if (!m) continue
    const n = Number(m[1])
    const group = groups.get(n) ?? {}
    group[m[2]!] = v
    groups.set(n, group)
  }
  return [...groups.entries()].sort((a, b) => a[0] - b[0]).map(([, g]) => g)
}

function tagsOf(params: Record<string, string>, prefix: string): Record<string, string> {
  const tags: Record<string, string> = {}
  for (const tag of members(params, prefix)) {
    const key = tag.Key
    if (key === undefined || key.length === 0 || key.length > 128)
      throw new ApiError(400, 'InvalidParameterValue', 'Tag keys must be 1–128 characters')
    if (key.toLowerCase().startsWith('aws:'))
      throw new ApiError(
        400,
        'InvalidParameterValue',
        `Tag keys starting with 'aws:' are reserved for internal use`,
      )
    const value = tag.Value ?? ''
    if (value.length > 256)
      throw new ApiError(400, 'InvalidParameterValue', 'Tag values must be at most 256 characters')
    tags[key] = value
  }
  return tags
}

function integer(params: Record<string, string>, name: string, min: number, max: number): number {
  const raw = params[name]
  if (raw === undefined)
    throw new ApiError(400, 'MissingParameter', `The request must contain the parameter ${name}`)
  const value = Number(raw)
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ApiError(
      400,
      'InvalidParameterValue',
      `Value (${raw}) for parameter ${name} is invalid. Expected an integer from ${min} to ${max}.`,
    )
  }
  return value
}

/** EC2 filter values take `*` and `?` wildcards, `\` escapes them. */
function globRegExp(value: string): RegExp {
  let source = ''
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!
    if (c === '\\' && i + 1 < value.length) source += escapeRegExp(value[++i]!)
    else if (c === '*') source += '.*'
    else if (c === '?') source += '.'
    else source += escapeRegExp(c)
  }
  return new RegExp(`^${source}$`, 's')
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

type FilterTest = (i: Instance, values: RegExp[], name: string, state: InstanceStateName) => boolean
const any = (value: string | undefined, values: RegExp[]) =>
  value !== undefined && values.some((v) => v.test(value))
const FILTERS: Record<string, FilterTest> = {
  'tag:': (i, values, name) => any(i.tags[name.slice(4)], values),
  'tag-key': (i, values) => Object.keys(i.tags).some((k) => any(k, values)),
  'tag-value': (i, values) => Object.values(i.tags).some((v) => any(v, values)),
  'instance-state-name': (_i, values, _n, state) => any(state, values),
  'instance-state-code': (_i, values, _n, state) => any(String(STATE_CODES[state]), values),
  'instance-id': (i, values) => any(i.id, values),
  'instance-type': (i, values) => any(i.type, values),
  'availability-zone': (i, values) => any(i.az, values),
  'image-id': (i, values) => any(i.imageId, values),
  'client-token': (i, values) => any(i.clientToken, values),
  'reservation-id': (i, values) => any(i.reservationId, values),
  'subnet-id': (i, values) => any(i.subnetId, values),
  'instance-lifecycle': (i, values) => any(i.spot ? 'spot' : undefined, values),
  'iam-instance-profile.arn': (i, values) => any(i.iamInstanceProfile?.arn, values),
  'metadata-options.http-tokens': (i, values) => any(i.metadataOptions.httpTokens, values),
}

// ── XML ───────────────────────────────────────────────────────────────────────

function esc(s: string): string {
  return s.replace(
    /[<>&'"]/g,
    (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!,
  )
}

function stateXml(tag: string, state: InstanceStateName): string {
  return `<${tag}><code>${STATE_CODES[state]}</code><name>${state}</name></${tag}>`
}

function reservationXml(reservationId: string, ownerId: string, instances: string[]): string {
  return `<reservationId>${reservationId}</reservationId><ownerId>${ownerId}</ownerId><groupSet/><instancesSet>${instances.join('')}</instancesSet>`
}

function hex17(n: number): string {
  return `0${n.toString(16).padStart(16, '0')}`.slice(-17)
}

function hash(s: string): number {
  let h = 2166136261
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619) >>> 0
  return h
}

/** A small seeded generator (uniform in [0, 1)) for repeatable injected failures. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let r = Math.imul(a ^ (a >>> 15), 1 | a)
    r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r
    return ((r ^ (r >>> 14)) >>> 0) / 4294967296
  }
}
