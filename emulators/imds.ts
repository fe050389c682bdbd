/**
 * An IMDSv2 emulator: the instance metadata service of one EC2 instance, on 127.0.0.1.
 *
 * Speaks the subset that Stampede and `@aws-sdk/ec2-metadata-service` use:
 * - `PUT /latest/api/token` with `X-aws-ec2-metadata-token-ttl-seconds` (1–21600, else 400;
 *   a PUT carrying `X-Forwarded-For` is refused with 403, as on EC2) returns a token.
 * - Every other request needs a valid, unexpired `X-aws-ec2-metadata-token`, else 401:
 *   IMDSv2 only (the instance was launched with `HttpTokens=required`), no v1 fall-back.
 * - `/latest/meta-data/{instance-id,instance-type,ami-id,placement/region,
 *   placement/availability-zone,spot/instance-action,iam/security-credentials/[role]}`,
 *   `/latest/user-data` (404 when there is none), `/latest/dynamic/instance-identity/document`.
 * - Repeated slashes in a path are collapsed: the SDK's `MetadataService.request('/latest/…')`
 *   sends `//latest/…` when the endpoint has no path.
 *
 * Switches: `announceSpotInterruption()`, `hang()` (accept, never answer), `fail(status)` and
 * `failNext(n, status)`, `answer()` to go back to normal. Token expiry follows the injected clock.
 * Not emulated: the hop limit (every caller is on 127.0.0.1), IPv6, tags in metadata, events.
 */
import { randomBytes } from 'node:crypto'
import http from 'node:http'
import { type Clock, systemClock } from '../lib/clock.js'
import { listenLocal } from './listen.js'

export interface ImdsInstance {
  instanceId: string
  region: string
  az: string
  instanceType: string
  imageId?: string
  /** Raw user-data (what `/latest/user-data` returns); absent → 404. */
  userData?: string | Buffer
  accountId?: string
  /** Name of the role behind the instance profile; absent → no credentials path. */
  role?: string
  /** Epoch ms; defaults to when the emulator started. */
  launchTime?: number
}

export interface ImdsOptions {
  clock?: Clock
  /** Port to listen on; 0 (default) picks a free one. Always bound to 127.0.0.1. */
  port?: number
}

export interface SpotNotice {
  action: 'terminate' | 'stop' | 'hibernate'
  /** ISO 8601 without milliseconds, as EC2 writes it: `2026-01-01T00:02:00Z`. */
  time: string
}

export interface ImdsRequestRecord {
  at: number
  method: string
  path: string
  status: number | 'hung'
}

export const MAX_TOKEN_TTL_SECONDS = 21600

type Answer = [status: number, body: string | Buffer, headers?: Record<string, string>]
type Mode = { kind: 'answer' } | { kind: 'hang' } | { kind: 'fail'; status: number }

export class ImdsEmulator {
  readonly instance: ImdsInstance
  /** Every request received, in order, with the status it got (`hung` when never answered). */
  readonly requests: ImdsRequestRecord[] = []
  readonly #server: http.Server
  readonly #clock: Clock
  readonly #tokens = new Map<string, number>()
  readonly #launchTime: number
  #mode: Mode = { kind: 'answer' }
  #failures: { count: number; status: number } = { count: 0, status: 500 }
  #notice: SpotNotice | undefined
  #url = ''

  constructor(instance: ImdsInstance, options: ImdsOptions = {}) {
    this.instance = instance
    this.#clock = options.clock ?? systemClock
    this.#launchTime = instance.launchTime ?? this.#clock.now()
    this.#server = http.createServer((req, res) => this.#handle(req, res))
  }

  /** `http://127.0.0.1:PORT` — pass it as the `endpoint` of `MetadataService`. */
  get url(): string {
    return this.#url
  }

  async listen(port = 0): Promise<this> {
    this.#url = `http://127.0.0.1:${await listenLocal(this.#server, port)}`
    return this
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections()
    await new Promise<void>((resolve) => this.#server.close(() => resolve()))
  }

  /** From now on `spot/instance-action` answers with this notice (default: terminate in 2 minutes). */
  announceSpotInterruption(options: { action?: SpotNotice['action']; at?: number } = {}): SpotNotice {
    const at = options.at ?? this.#clock.now() + 120_000
    this.#notice = {
      action: options.action ?? 'terminate',
      time: new Date(at).toISOString().replace(/\.\d{3}Z$/, 'Z'),
    }
    return this.#notice
  }

  cancelSpotInterruption(): void {
    this.#notice = undefined
  }

  /** Accept connections and requests but never answer (to test timeouts). */
  hang(): void {
    this.#mode = { kind: 'hang' }
  }

  /** Answer every request with this status until `answer()`. */
  fail(status = 500): void {
    this.#mode = { kind: 'fail', status }
  }

  /** Answer the next `count` requests (token PUTs included) with this status, then behave. */
  failNext(count: number, status = 500): void {
    this.#failures = { count, status }
  }

  /** Back to normal service. */
  answer(): void {
    this.#mode = { kind: 'answer' }
    this.#failures = { count: 0, status: 500 }
  }

  /** Tokens handed out so far that are still valid. */
  get liveTokens(): number {
    const now = this.#clock.now()
    return [...this.#tokens.values()].filter((expiresAt) => expiresAt > now).length
  }

  #handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0]!.replace(/\/{2,}/g, '/')
    const method = req.method ?? 'GET'
    const record: ImdsRequestRecord = { at: this.#clock.now(), method, path, status: 'hung' }
    this.requests.push(record)
    req.resume()
    const answer = this.#answer(req, path, method)
    if (answer === 'hang') return
    const [status, body, headers] = answer
    record.status = status
    res.writeHead(status, { 'content-type': 'text/plain', ...(headers ?? {}) })
    res.end(body)
  }

  #answer(req: http.IncomingMessage, path: string, method: string): Answer | 'hang' {
    if (this.#mode.kind === 'hang') return 'hang'
    if (this.#mode.kind === 'fail') return [this.#mode.status, 'emulated failure\n']
    if (this.#failures.count > 0) {
      this.#failures.count--
      return [this.#failures.status, 'emulated failure\n']
    }

    if (path === '/latest/api/token') {
      if (method !== 'PUT') return [405, 'Method Not Allowed\n']
      if (req.headers['x-forwarded-for'] !== undefined) return [403, 'Forbidden\n']
      const raw = req.headers['x-aws-ec2-metadata-token-ttl-seconds']
      const ttl = typeof raw === 'string' && /^\d+$/.test(raw.trim()) ? Number(raw) : Number.NaN
      if (!(ttl >= 1 && ttl <= MAX_TOKEN_TTL_SECONDS)) return [400, 'Bad Request\n']
      const token = randomBytes(42).toString('base64url')
      this.#tokens.set(token, this.#clock.now() + ttl * 1000)
      return [200, token, { 'x-aws-ec2-metadata-token-ttl-seconds': String(ttl) }]
    }

    const token = req.headers['x-aws-ec2-metadata-token']
    const expiresAt = typeof token === 'string' ? this.#tokens.get(token) : undefined
    if (expiresAt === undefined || expiresAt <= this.#clock.now()) return [401, 'Unauthorized\n']
    if (method !== 'GET' && method !== 'HEAD') return [405, 'Method Not Allowed\n']

    const body = this.#lookup(path)
    if (body === undefined) return [404, 'Not Found\n']
    if (typeof body === 'object' && !Buffer.isBuffer(body)) return [200, JSON.stringify(body, null, 2)]
    return [200, body]
  }

  #lookup(path: string): string | Buffer | object | undefined {
    const i = this.instance
    const role = i.role
    const meta = '/latest/meta-data'
    switch (path) {
      case `${meta}/`:
      case meta:
        return ['ami-id', 'iam/', 'instance-id', 'instance-type', 'placement/', 'spot/'].join('\n')
      case `${meta}/instance-id`:
        return i.instanceId
      case `${meta}/instance-type`:
        return i.instanceType
      case `${meta}/ami-id`:
        return i.imageId
      case `${meta}/placement/`:
        return ['availability-zone', 'region'].join('\n')
      case `${meta}/placement/region`:
        return i.region
      case `${meta}/placement/availability-zone`:
        return i.az
      case `${meta}/spot/instance-action`:
        return this.#notice
      case `${meta}/iam/security-credentials/`:
        return role
      case `${meta}/iam/security-credentials/${role}`:
        return role === undefined ? undefined : this.#credentials()
      case '/latest/user-data':
        return i.userData
      case '/latest/dynamic/instance-identity/document':
        return {
          accountId: i.accountId ?? '000000000000',
          architecture: 'x86_64',
          availabilityZone: i.az,
          imageId: i.imageId ?? 'ami-00000000000000000',
          instanceId: i.instanceId,
          instanceType: i.instanceType,
          pendingTime: new Date(this.#launchTime).toISOString().replace(/\.\d{3}Z$/, 'Z'),
          privateIp: '127.0.0.1',
          region: i.region,
          version: '2017-09-30',
        }
      default:
        return undefined
    }
  }

  /** Dummy instance-role credentials: enough for an SDK on the "instance" to sign requests to emulators. */
  #credentials(): object {
    const now = this.#clock.now()
    return {
      Code: 'Success',
      LastUpdated: new Date(now).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      Type: 'AWS-HMAC',
      AccessKeyId: 'ASIAEMULATEDINSTANCE',
      SecretAccessKey: 'emulated-secret',
      Token: 'emulated-session-token',
      Expiration: new Date(now + 6 * 3600_000).toISOString().replace(/\.\d{3}Z$/, 'Z'),
    }
  }
}

/** Starts an IMDSv2 emulator for one instance on a free port of 127.0.0.1. */
export async function startImds(instance: ImdsInstance, options: ImdsOptions = {}): Promise<ImdsEmulator> {
  return new ImdsEmulator(instance, options).listen(options.port ?? 0)
}
