// biome-ignore-all lint/suspicious/noExplicitAny: JSON answers of the API, read field by field
import { existsSync, readFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { sleepOn, systemClock } from '../lib/clock.js'
import { StampedeError, UsageError } from '../lib/errors.js'
import { decodeHistogram, type LatencyHistogram } from '../lib/histogram.js'
import type { Point } from '../lib/timeline.js'

/**
 * The command line's client of the tenant API (v2). The key comes from STAMPEDE_API_KEY or
 * a credentials file (STAMPEDE_API_KEY_FILE, default ~/.config/stampede/api-key), never
 * from the command line, where it would land in shell history and `ps`.
 */
export function apiKey(env: NodeJS.ProcessEnv = process.env): string {
  if (env.STAMPEDE_API_KEY) return env.STAMPEDE_API_KEY.trim()
  const file = env.STAMPEDE_API_KEY_FILE ?? join(homedir(), '.config', 'stampede', 'api-key')
  if (existsSync(file)) {
    const key = readFileSync(file, 'utf8').split('\n')[0]!.trim()
    if (key) return key
  }
  throw new UsageError('no API key: set STAMPEDE_API_KEY, or put it in ~/.config/stampede/api-key')
}

export interface Problem {
  status: number
  detail?: string
  reason?: string
  [field: string]: unknown
}

/** Answers that say the API is there but its job plane (CouchDB) briefly is not. */
const TRANSIENT_STATUSES = new Set([502, 503, 504])
/** Waits before each new try of a transient answer: about 4 s in all, then the error. */
export const RETRY_DELAYS_MS: readonly number[] = [250, 1000, 3000]
/** A Retry-After longer than this is not waited for. */
const MAX_RETRY_AFTER_MS = 10_000

export interface ApiClientOptions {
  /** How the client waits between tries and before resuming a stream (tests pass one that records and returns at once). */
  sleep?: (ms: number) => Promise<void>
}

export class ApiClient {
  readonly base: string
  readonly #key: string
  readonly #sleep: (ms: number) => Promise<void>

  constructor(url: string, key: string, options: ApiClientOptions = {}) {
    this.#sleep = options.sleep ?? ((ms) => sleepOn(systemClock, ms))
    let parsed: URL
    try {
      parsed = new URL(url)
    } catch {
      throw new UsageError(`invalid --api URL "${url}"`)
    }
    if (parsed.username || parsed.password)
      throw new UsageError('the API key goes in STAMPEDE_API_KEY, not in the URL')
    this.base = parsed.href.replace(/\/+$/, '')
    this.#key = key
  }

  get headers(): Record<string, string> {
    return { authorization: `Bearer ${this.#key}`, accept: 'application/json' }
  }

  /**
   * One API call. A read (GET, HEAD) answered 502, 503 or 504 — the API up, its job plane
   * briefly not, as on a busy machine — is tried again after RETRY_DELAYS_MS (or the
   * answer's Retry-After); a write is not, since it may have been done.
   */
  async call<T = any>(method: string, path: string, body?: unknown): Promise<T> {
    const retries = method === 'GET' || method === 'HEAD' ? RETRY_DELAYS_MS : []
    for (let attempt = 0; ; attempt++) {
      const { response, text } = await this.#send(method, path, body)
      if (TRANSIENT_STATUSES.has(response.status) && attempt < retries.length) {
        await this.#sleep(retryAfterMs(response.headers.get('retry-after')) ?? retries[attempt]!)
        continue
      }
      return this.#parse<T>(method, path, response, text)
    }
  }

  async #send(method: string, path: string, body: unknown): Promise<{ response: Response; text: string }> {
    let response: Response
    try {
      response = await fetch(`${this.base}/api/v2${path}`, {
        method,
        headers: { ...this.headers, ...(body !== undefined && { 'content-type': 'application/json' }) },
        ...(body !== undefined && { body: JSON.stringify(body) }),
      })
    } catch (err) {
      throw new StampedeError(
        'STAMPEDE_API',
        `cannot reach the API at ${this.base}: ${(err as Error).cause ?? (err as Error).message}`,
      )
    }
    return { response, text: await response.text() }
  }

  #parse<T>(method: string, path: string, response: Response, text: string): T {
    let parsed: any
    try {
      parsed = text ? JSON.parse(text) : {}
    } catch {
      throw new StampedeError('STAMPEDE_API', `${method} ${path}: HTTP ${response.status}, not JSON`)
    }
    if (!response.ok) {
      const detail = parsed.detail ?? parsed.reason ?? `HTTP ${response.status}`
      // Refusals of the request itself are the user's to fix: exit 2, like a bad flag.
      if (
        response.status === 400 ||
        response.status === 403 ||
        response.status === 404 ||
        response.status === 429
      )
        throw new UsageError(detail)
      throw new StampedeError('STAMPEDE_API', `${method} ${path}: ${detail}`)
    }
    return parsed as T
  }

  /**
   * Follows a rush's events: each second (with its histogram) to `onSecond`, in order;
   * resolves with the end event's data. A dropped stream is resumed with Last-Event-ID.
   */
  async follow(
    id: string,
    onSecond: (point: Point, histogram: LatencyHistogram, parts?: LatencyHistogram[]) => void,
    options: { signal?: AbortSignal; retries?: number } = {},
  ): Promise<any> {
    let last: number | undefined
    let failures = 0
    for (;;) {
      try {
        const end = await this.#stream(
          id,
          last,
          (point, histogram, parts) => {
            last = point.t
            failures = 0
            onSecond(point, histogram, parts)
          },
          options.signal,
        )
        if (end !== undefined) return end
      } catch (err) {
        if (options.signal?.aborted) return undefined
        if (err instanceof UsageError) throw err
        if (++failures > (options.retries ?? 30))
          throw new StampedeError('STAMPEDE_API', `following rush ${id}: ${(err as Error).message}`)
      }
      if (options.signal?.aborted) return undefined
      await this.#sleep(Math.min(5000, 250 * 2 ** Math.min(failures, 4)))
    }
  }

  async #stream(
    id: string,
    last: number | undefined,
    onSecond: (point: Point, histogram: LatencyHistogram, parts?: LatencyHistogram[]) => void,
    signal?: AbortSignal,
  ): Promise<any> {
    const response = await fetch(`${this.base}/api/v2/rushes/${encodeURIComponent(id)}/events`, {
      headers: {
        ...this.headers,
        accept: 'text/event-stream',
        ...(last !== undefined && { 'last-event-id': String(last) }),
      },
      ...(signal && { signal }),
    })
    if (response.status === 404 || response.status === 401 || response.status === 403) {
      const problem = (await response.json().catch(() => ({}))) as Problem
      throw new UsageError(problem.detail ?? `HTTP ${response.status}`)
    }
    if (response.status !== 200 || !response.body) throw new Error(`HTTP ${response.status}`)
    const decoder = new TextDecoder()
    let buffer = ''
    for await (const chunk of response.body) {
      buffer += decoder.decode(chunk as Uint8Array, { stream: true })
      for (let at = buffer.indexOf('\n\n'); at >= 0; at = buffer.indexOf('\n\n')) {
        const block = buffer.slice(0, at)
        buffer = buffer.slice(at + 2)
        let event = ''
        let data = ''
        for (const line of block.split('\n')) {
          if (line.startsWith('event: ')) event = line.slice(7)
          else if (line.startsWith('data: ')) data += line.slice(6)
        }
        if (event === 'second') {
          // A transaction's second carries its part histograms (the iterations', then each step's).
          const { histogram, parts, ...point } = JSON.parse(data)
          onSecond(
            point as Point,
            decodeHistogram(histogram),
            Array.isArray(parts) ? parts.map((part: string) => decodeHistogram(part)) : undefined,
          )
        } else if (event === 'end') {
          return JSON.parse(data)
        } else if (event === 'error') {
          throw new Error(JSON.parse(data).detail)
        }
      }
    }
    return undefined
  }
}

/** A Retry-After in seconds, within MAX_RETRY_AFTER_MS; else undefined (an HTTP date is not waited for). */
export function retryAfterMs(header: string | null): number | undefined {
  const seconds = header?.trim()
  if (seconds === undefined || !/^\d+$/.test(seconds)) return undefined
  const ms = Number(seconds) * 1000
  return ms <= MAX_RETRY_AFTER_MS ? ms : undefined
}
