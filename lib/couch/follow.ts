import { StampedeError } from '../errors.js'
import type { Couch } from './client.js'

/** A sequence is opaque: a string on CouchDB 2+, a number on PouchDB Server. Never compare two. */
export type Seq = string | number

export interface Change<D = unknown> {
  id: string
  seq: Seq
  deleted?: boolean
  changes: { rev: string }[]
  doc?: D
}

export interface FollowOptions<D> {
  couch: Couch
  db: string
  since: Seq
  /**
   * Called for each change, one at a time, in feed order; the next change waits until
   * the returned promise settles, so "handled" means handled. A throw is reported to
   * `onError` and the change is handed over again after a back-off.
   */
  onChange: (change: Change<D>) => Promise<void>
  onError?: (err: StampedeError, retryInMs: number) => void
  signal: AbortSignal
  /** Server heartbeat; a connection silent for three heartbeats is dropped and re-opened. */
  heartbeatMs?: number
  limit?: number
  minBackoffMs?: number
  maxBackoffMs?: number
}

/**
 * Follows a database's `_changes` with long polls (heartbeat on, documents and conflicts
 * included), from `since`, until `signal` aborts. Reconnects with exponential back-off and
 * jitter. No filter: the dispatch database of a region holds only what its engines need,
 * and PouchDB Server crashes on `filter=_selector`.
 */
export async function followChanges<D>(options: FollowOptions<D>): Promise<void> {
  const { couch, db, signal } = options
  const heartbeatMs = options.heartbeatMs ?? 10_000
  const minBackoff = options.minBackoffMs ?? 250
  const maxBackoff = options.maxBackoffMs ?? 10_000
  let since = options.since
  let backoff = minBackoff
  while (!signal.aborted) {
    try {
      const batch = await pollOnce<D>(couch, db, since, heartbeatMs, options.limit ?? 100, signal)
      for (const change of batch.results) {
        if (signal.aborted) return
        await options.onChange(change)
        since = change.seq
      }
      if (batch.results.length === 0) since = batch.last_seq
      backoff = minBackoff
    } catch (err) {
      if (signal.aborted) return
      const failure =
        err instanceof StampedeError
          ? err
          : new StampedeError('STAMPEDE_FEED', `following ${db}: ${(err as Error).message}`, { cause: err })
      const wait = Math.round(backoff * (0.5 + Math.random() / 2))
      options.onError?.(failure, wait)
      await sleep(wait, signal)
      backoff = Math.min(maxBackoff, backoff * 2)
    }
  }
}

interface Batch<D> {
  results: Change<D>[]
  last_seq: Seq
}

async function pollOnce<D>(
  couch: Couch,
  db: string,
  since: Seq,
  heartbeatMs: number,
  limit: number,
  signal: AbortSignal,
): Promise<Batch<D>> {
  const query = new URLSearchParams({
    feed: 'longpoll',
    since: String(since),
    heartbeat: String(heartbeatMs),
    include_docs: 'true',
    conflicts: 'true',
    limit: String(limit),
  })
  const silence = new AbortController()
  const both = AbortSignal.any([signal, silence.signal])
  let timer = setTimeout(() => silence.abort(), heartbeatMs * 3)
  try {
    const response = await fetch(`${couch.url}/${encodeURIComponent(db)}/_changes?${query}`, {
      headers: couch.headers,
      signal: both,
    })
    if (!response.ok || !response.body) {
      const text = await response.text().catch(() => '')
      throw new StampedeError(
        'STAMPEDE_FEED',
        `following ${db}: HTTP ${response.status} ${text.slice(0, 200)}`,
      )
    }
    // Heartbeats are newlines inside the body; each chunk proves the connection alive.
    const decoder = new TextDecoder()
    let body = ''
    for await (const chunk of response.body) {
      clearTimeout(timer)
      timer = setTimeout(() => silence.abort(), heartbeatMs * 3)
      body += decoder.decode(chunk as Uint8Array, { stream: true })
    }
    body += decoder.decode()
    return JSON.parse(body) as Batch<D>
  } catch (err) {
    if (silence.signal.aborted && !signal.aborted) {
      throw new StampedeError('STAMPEDE_FEED', `following ${db}: no heartbeat for ${heartbeatMs * 3} ms`)
    }
    throw err
  } finally {
    clearTimeout(timer)
  }
}

/** Waits `ms` (a time already past waits not at all), or until `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve()
    const timer = setTimeout(done, Math.max(0, ms))
    function done() {
      clearTimeout(timer)
      signal?.removeEventListener('abort', done)
      resolve()
    }
    signal?.addEventListener('abort', done, { once: true })
  })
}
