/**
 * The engine's identity on EC2, from the instance metadata service through
 * `@aws-sdk/ec2-metadata-service`: IMDSv2 only, a timeout per request, bounded retries.
 *
 * How the SDK client is used, and why:
 * - It is always given its `endpoint` (default `http://169.254.169.254`, or the
 *   `AWS_EC2_METADATA_SERVICE_ENDPOINT` the caller passes in), so it never reads ~/.aws.
 * - The token is fetched with `fetchMetadataToken()` and cached until shortly before its TTL ends;
 *   reads send it themselves (`disableFetchToken`), so no request is ever made without one: the
 *   SDK's own `request()` would, after a failed token fetch, fall back to IMDSv1 unless told not
 *   to, and after a token timeout or 403/404/405 it switches token fetching off for good on that
 *   client object. A new SDK object per request (they are cheap: the SDK makes a new HTTP handler
 *   per request anyway) keeps one bad moment from sticking. A 401 drops the cached token.
 * - The SDK's own retries are off (`retries: 0`); `identify()` retries whole, with back-off.
 * - The SDK prefixes the endpoint's path (`/`) to the path it is given, so paths go without
 *   their leading slash (else the wire sees `//latest/...`).
 */

import { MetadataService } from '@aws-sdk/ec2-metadata-service'
import { type Clock, systemClock } from '../lib/clock.js'
import { StampedeError } from '../lib/errors.js'
import type { Identity, IdentitySource } from './identity.js'

export const DEFAULT_IMDS_ENDPOINT = 'http://169.254.169.254'

/** What the identity source and the spot watcher need from a metadata client. */
export interface MetadataReader {
  /** The body of a metadata path, or `undefined` when the service answers 404. */
  get(path: string): Promise<string | undefined>
}

export interface ImdsClientOptions {
  /** Default `http://169.254.169.254`. */
  endpoint?: string
  /** Per HTTP request, connect included (default 1000 ms). */
  timeoutMs?: number
  /** Token lifetime asked for (default 21600 s, the most IMDS gives). */
  tokenTtlSeconds?: number
  /** For token expiry (default the system clock). */
  clock?: Clock
}

/** An error from the metadata service, with its HTTP status when it answered. */
export class ImdsError extends StampedeError {
  readonly status: number | undefined
  constructor(message: string, status: number | undefined, options?: { cause?: unknown }) {
    super('STAMPEDE_IMDS', message, options)
    this.name = 'ImdsError'
    this.status = status
  }
}

/** An IMDSv2-only metadata client over `@aws-sdk/ec2-metadata-service`. */
export class ImdsClient implements MetadataReader {
  readonly endpoint: string
  readonly #timeoutMs: number
  readonly #ttl: number
  readonly #clock: Clock
  #token: { value: string; renewAt: number } | undefined
  #pending: Promise<string> | undefined

  constructor(options: ImdsClientOptions = {}) {
    this.endpoint = (options.endpoint ?? DEFAULT_IMDS_ENDPOINT).replace(/\/*$/, '/')
    this.#timeoutMs = options.timeoutMs ?? 1000
    this.#ttl = options.tokenTtlSeconds ?? 21600
    this.#clock = options.clock ?? systemClock
  }

  /** A valid token: the cached one, or a new one (concurrent callers share one fetch). */
  async token(): Promise<string> {
    if (this.#token && this.#clock.now() < this.#token.renewAt) return this.#token.value
    this.#pending ??= this.#fetchToken().finally(() => {
      this.#pending = undefined
    })
    return this.#pending
  }

  async #fetchToken(): Promise<string> {
    const service = new MetadataService({
      endpoint: this.endpoint,
      httpOptions: { timeout: this.#timeoutMs },
      retries: 0,
      tokenTtl: this.#ttl,
      ec2MetadataV1Disabled: true,
    })
    try {
      const value = await service.fetchMetadataToken()
      // Renew a minute early (or at half the TTL when it is short) so a token never expires in flight.
      this.#token = {
        value,
        renewAt: this.#clock.now() + Math.max(this.#ttl * 500, this.#ttl * 1000 - 60_000),
      }
      return value
    } catch (error) {
      throw new ImdsError(`no IMDSv2 token from ${this.endpoint}: ${reason(error)}`, status(error), {
        cause: error,
      })
    }
  }

  async get(path: string): Promise<string | undefined> {
    for (let attempt = 0; ; attempt++) {
      const token = await this.token()
      const service = new MetadataService({
        endpoint: this.endpoint,
        httpOptions: { timeout: this.#timeoutMs },
        retries: 0,
        disableFetchToken: true,
        ec2MetadataV1Disabled: false,
      })
      try {
        return await service.request(path.replace(/^\/+/, ''), {
          headers: { 'x-aws-ec2-metadata-token': token },
        })
      } catch (error) {
        const code = status(error)
        if (code === 404) return undefined
        if (code === 401 && attempt === 0) {
          this.#token = undefined
          continue
        }
        throw new ImdsError(`reading ${path} from ${this.endpoint}: ${reason(error)}`, code, { cause: error })
      }
    }
  }
}

export interface ImdsIdentityOptions extends ImdsClientOptions {
  /** Tries in all (default 3). */
  attempts?: number
  /** Wait before try `n` (1-based, n ≥ 2) in ms; default 200 · 2^(n-2). */
  backoffMs?: (attempt: number) => number
  /** A client of one's own (tests); the endpoint/timeout options are then ignored. */
  client?: MetadataReader
}

const PATHS = {
  instanceId: 'latest/meta-data/instance-id',
  region: 'latest/meta-data/placement/region',
  az: 'latest/meta-data/placement/availability-zone',
  instanceType: 'latest/meta-data/instance-type',
} as const

/** The engine's identity from IMDSv2. `identify()` fails with one clear line when the service never answers. */
export class ImdsIdentity implements IdentitySource {
  readonly client: MetadataReader
  readonly #attempts: number
  readonly #backoffMs: (attempt: number) => number
  readonly #endpoint: string
  readonly #timeoutMs: number

  constructor(options: ImdsIdentityOptions = {}) {
    const client = options.client ?? new ImdsClient(options)
    this.client = client
    this.#endpoint =
      client instanceof ImdsClient ? client.endpoint : (options.endpoint ?? DEFAULT_IMDS_ENDPOINT)
    this.#attempts = Math.max(1, options.attempts ?? 3)
    this.#backoffMs = options.backoffMs ?? ((attempt) => 200 * 2 ** (attempt - 2))
    this.#timeoutMs = options.timeoutMs ?? 1000
  }

  async identify(): Promise<Identity> {
    let last: unknown
    for (let attempt = 1; attempt <= this.#attempts; attempt++) {
      if (attempt > 1) await new Promise((resolve) => setTimeout(resolve, this.#backoffMs(attempt)))
      try {
        const [instanceId, region, az, instanceType] = await Promise.all(
          [PATHS.instanceId, PATHS.region, PATHS.az, PATHS.instanceType].map((path) => this.#required(path)),
        )
        return { instanceId: instanceId!, region: region!, az: az!, instanceType: instanceType! }
      } catch (error) {
        last = error
        if (error instanceof ImdsError && error.status === 404) break
      }
    }
    const why = last instanceof Error ? last.message : String(last)
    throw new StampedeError(
      'STAMPEDE_IMDS_UNAVAILABLE',
      `no identity from the EC2 metadata service at ${this.#endpoint} after ${this.#attempts} tries (${this.#timeoutMs} ms timeout each): ${why}`,
      { cause: last },
    )
  }

  async #required(path: string): Promise<string> {
    const value = await this.client.get(path)
    if (value === undefined) throw new ImdsError(`${path} is missing (404)`, 404)
    const trimmed = value.trim()
    if (!trimmed) throw new ImdsError(`${path} is empty`, 200)
    return trimmed
  }
}

export interface SpotNotice {
  action: string
  /** Epoch ms of the interruption. */
  at: number
  /** The raw `time` field. */
  time: string
}

export interface SpotWatchOptions {
  /** Between polls (EC2 advises every 5 s; the notice comes 2 minutes ahead). */
  intervalMs: number
  onNotice: (notice: SpotNotice) => void | Promise<void>
  signal?: AbortSignal
  /** A failed poll (the watcher keeps polling). */
  onError?: (error: unknown) => void
}

/**
 * Polls `spot/instance-action` until it announces an interruption, then calls `onNotice` once
 * and resolves with the notice. Resolves with `undefined` when `signal` aborts.
 */
export async function watchSpotInterruption(
  client: MetadataReader,
  options: SpotWatchOptions,
): Promise<SpotNotice | undefined> {
  const { signal } = options
  while (!signal?.aborted) {
    try {
      const body = await client.get('latest/meta-data/spot/instance-action')
      if (body !== undefined) {
        const parsed = JSON.parse(body) as { action?: string; time?: string }
        const time = parsed.time ?? ''
        const notice: SpotNotice = { action: parsed.action ?? 'terminate', time, at: Date.parse(time) }
        await options.onNotice(notice)
        return notice
      }
    } catch (error) {
      options.onError?.(error)
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, options.intervalMs)
      function done() {
        clearTimeout(timer)
        signal?.removeEventListener('abort', done)
        resolve()
      }
      signal?.addEventListener('abort', done, { once: true })
    })
  }
  return undefined
}

function status(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode
}

function reason(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error)
  return message
    .replace(/^Error making request to the metadata service: /, '')
    .replace(/^Error fetching metadata token: /, '')
}
