import { HttpError, problemDetail } from './sse.js'
import type { TransactionLike } from './steps.js'

/**
 * The tenant API as the page uses it: v2 under /api/v2 with `Authorization: Bearer KEY`.
 * The key lives in sessionStorage (this tab, until it closes) and nowhere else: never in a
 * URL, a cookie or localStorage.
 */
const KEY_ITEM = 'stampede.key'

export interface Shard {
  id: string
  region: string
  state: string
  engine?: string
  progress?: number
  reason?: string
}

export interface ThresholdResult {
  threshold: string
  actual: number
  passed: boolean
}

export interface LatencySummary {
  min: number
  mean: number
  p50: number
  p90: number
  p95: number
  p99: number
  p999: number
  max: number
}

export interface RushSummary {
  duration: number
  peakConcurrency: number
  requests: number
  hits: number
  hitsPerSecond: number
  errors: number
  errorRate: number
  timeouts: number
  latency: LatencySummary
}

export interface Rush {
  id: string
  state: 'queued' | 'running' | 'done' | 'failed' | 'aborted'
  model: 'rush' | 'arrival-rate'
  url: string
  method?: string
  pattern: string
  regions: string[]
  createdAt: string
  startAt: string
  shards?: Shard[]
  seconds?: number
  summary?: RushSummary
  thresholds?: ThresholdResult[]
  verdict?: 'pending' | 'passed' | 'failed'
  /** A transaction's step names, in order. */
  steps?: string[]
  /** A transaction's figures: each step's summary and the iterations'. */
  transaction?: TransactionLike
}

export interface Host {
  host: string
  token: string
  proven: boolean
  provenAt?: string
  provenBy?: string
  instructions: string
  checks?: { method?: string; url?: string; code?: number; bytes?: number; error?: string }[]
}

export interface Account {
  user: string
  regions: string[]
  quotas: { maxUsers: number; maxDuration: number; maxRunning: number; rushesPerDay: number }
}

export interface RushRequest {
  request: { url: string; method?: string; timeoutMs?: number; expectStatus?: string }
  pattern?: string
  rate?: string
  regions?: string[]
  thresholds?: string[]
}

export const storedKey = (): string | null => sessionStorage.getItem(KEY_ITEM)
export const storeKey = (key: string): void => sessionStorage.setItem(KEY_ITEM, key)
export const forgetKey = (): void => sessionStorage.removeItem(KEY_ITEM)

export class Client {
  readonly #key: string

  constructor(key: string) {
    this.#key = key
  }

  get headers(): Record<string, string> {
    return { authorization: `Bearer ${this.#key}` }
  }

  async #call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await fetch(path, {
      method,
      headers: { ...this.headers, ...(body !== undefined && { 'content-type': 'application/json' }) },
      ...(body !== undefined && { body: JSON.stringify(body) }),
      cache: 'no-store',
    })
    if (!response.ok) throw new HttpError(response.status, await problemDetail(response))
    return (await response.json()) as T
  }

  /** Who the key belongs to and what it may do (blitz's v1 "about": the one call that says). */
  async account(): Promise<Account> {
    const about = await this.#call<{
      profile: { user: string }
      regions: string[]
      quotas: {
        max_users: number
        max_duration: number
        max_running: number
        rushes_per_day: number
        regions: string[]
      }
    }>('GET', '/api/1/account/about')
    return {
      user: about.profile.user,
      regions: about.quotas.regions,
      quotas: {
        maxUsers: about.quotas.max_users,
        maxDuration: about.quotas.max_duration,
        maxRunning: about.quotas.max_running,
        rushesPerDay: about.quotas.rushes_per_day,
      },
    }
  }

  rushes(): Promise<{ rushes: Rush[] }> {
    return this.#call('GET', '/api/v2/rushes?limit=50')
  }

  rush(id: string): Promise<Rush> {
    return this.#call('GET', `/api/v2/rushes/${encodeURIComponent(id)}?timeline=false`)
  }

  submit(body: RushRequest): Promise<{ id: string }> {
    return this.#call('POST', '/api/v2/rushes', body)
  }

  abort(id: string): Promise<{ id: string; state: string }> {
    return this.#call('POST', `/api/v2/rushes/${encodeURIComponent(id)}/abort`)
  }

  eventsUrl(id: string): string {
    return `/api/v2/rushes/${encodeURIComponent(id)}/events`
  }

  hosts(): Promise<{ hosts: Host[] }> {
    return this.#call('GET', '/api/v2/hosts')
  }

  addHost(host: string): Promise<Host> {
    return this.#call('POST', '/api/v2/hosts', { host })
  }

  verifyHost(host: string, scheme: string, port?: number): Promise<Host> {
    return this.#call('POST', `/api/v2/hosts/${encodeURIComponent(host)}/verify`, {
      scheme,
      ...(port !== undefined && { port }),
    })
  }
}
