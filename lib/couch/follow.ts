import { StampedeError } from '../errors.js'
import type { Couch } from './client.js'

/** The longest wait between two reconnect attempts, by default. */
export const FEED_MAX_BACKOFF_MS = 10_000

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
  /** Called whenever the feed shows life: bytes arrived (heartbeats too), or a reconnect is tried. */
  onAlive?: () => void
  signal: AbortSignal
  /** Server heartbeat; a connection silent for three heartbeats is dropped and re-opened. */
  heartbeatMs?: number
  minBackoffMs?: number
  maxBackoffMs?: number
}

/**
 * Follows a database's continuous `_changes` feed (heartbeat on, documents and conflicts
 * included), from `since`, until `signal` aborts. Reconnects with exponential back-off and
 * jitter, from the last change handled. No filter: the dispatch database of a region holds
 * only what its engines need, and PouchDB Server crashes on `filter=_selector`.
 *
 * Continuous, not long polls: with hundreds of followers, every change would answer every
 * long poll and cause as many reconnects (measured on PouchDB Server with 500 followers: a
 * whole core and a 353 ms median delay, against 6% and 49 ms for continuous feeds).
 */
export async function followChanges<D>(options: FollowOptions<D>): Promise<void> {
  const { couch, db, signal } = options
  const heartbeatMs = options.heartbeatMs ?? 10_000
  const minBackoff = options.minBackoffMs ?? 250
  const maxBackoff = options.maxBackoffMs ?? FEED_MAX_BACKOFF_MS
  let since = options.since
  let backoff = minBackoff
  while (!signal.aborted) {
    try {
      options.onAlive?.()
      await streamChanges<D>(
        couch,
        db,
        since,
        heartbeatMs,
        signal,
        options.onAlive,
        async (change) => {
          await options.onChange(change)
          since = change.seq
          backoff = minBackoff
        },
        (lastSeq) => {
          since = lastSeq
        },
      )
      // The server ended the feed (a restart, a proxy's timeout): resume where we are.
      await sleep(minBackoff, signal)
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

/**
 * One connection to the continuous feed: a change per line, empty lines as heartbeats,
 * `{"last_seq"…}` when the server ends it. Changes are handed over one at a time: the
 * next line is not read until the previous change is handled.
 */
async function streamChanges<D>(
  couch: Couch,
  db: string,
  since: Seq,
  heartbeatMs: number,
  signal: AbortSignal,
  onAlive: (() => void) | undefined,
  onChange: (change: Change<D>) => Promise<void>,
  onEnd: (lastSeq: Seq) => void,
): Promise<void> {
  const query = new URLSearchParams({
    feed: 'continuous',
    since: String(since),
    heartbeat: String(heartbeatMs),
    include_docs: 'true',
    conflicts: 'true',
  })
  const silence = new AbortController()
  const both = AbortSignal.any([signal, silence.signal])
  let timer = setTimeout(() => silence.abort(), heartbeatMs * 3)
  try {
    const response = await fetch(`${couch.url}/${encodeURIComponent(db)}/_changes?${query}`, {
      // A compressed stream holds back the heartbeat newlines (and changes) until the
      // compressor flushes: ask for the bytes as they are.
      headers: { ...couch.headers, 'accept-encoding': 'identity' },
      signal: both,
    })
    if (!response.ok || !response.body) {
      const text = await response.text().catch(() => '')
      throw new StampedeError(
        'STAMPEDE_FEED',
        `following ${db}: HTTP ${response.status} ${text.slice(0, 200)}`,
      )
    }
    const decoder = new TextDecoder()
    let pending = ''
    for await (const chunk of response.body) {
      // Any bytes, heartbeats included, prove the connection alive.
      onAlive?.()
      clearTimeout(timer)
      timer = setTimeout(() => silence.abort(), heartbeatMs * 3)
      pending += decoder.decode(chunk as Uint8Array, { stream: true })
      let newline = pending.indexOf('\n')
      while (newline >= 0) {
        const line = pending.slice(0, newline).trim()
        pending = pending.slice(newline + 1)
        newline = pending.indexOf('\n')
        if (line === '') continue
        const entry = JSON.parse(line) as Change<D> & { last_seq?: Seq }
        if (entry.last_seq !== undefined) onEnd(entry.last_seq)
        else {
          clearTimeout(timer)
          await onChange(entry)
          timer = setTimeout(() => silence.abort(), heartbeatMs * 3)
        }
      }
    }
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
