import { StampedeError } from '../errors.js'
import { sleep as defaultSleep } from './follow.js'

/**
 * The one rule for CouchDB failures, used by the engine and the controller alike.
 *
 * Whether a failed CouchDB request is worth repeating as it was: the connection failed
 * (an idle keep-alive socket the server had closed: `other side closed`, ECONNRESET, a
 * refused or timed-out connection: no HTTP status at all), or the server answered 5xx or
 * 429. A 409 is a real conflict and a 4xx a real refusal: never transient.
 */
export function isTransient(err: unknown): boolean {
  if (err instanceof StampedeError && err.code !== 'STAMPEDE_COUCH') return false
  const status = statusIn(err)
  if (status === undefined) return true
  return status >= 500 || status === 429
}

function statusIn(err: unknown): number | undefined {
  for (
    let e = err as { statusCode?: unknown; cause?: unknown } | undefined, depth = 0;
    e && depth < 5;
    depth++
  ) {
    if (typeof e.statusCode === 'number') return e.statusCode
    e = e.cause as typeof e
  }
  return undefined
}

export interface RetryOptions {
  /** Tries in all (the first included). */
  attempts?: number
  /** First wait; doubled each time, with up to 50% jitter. */
  baseMs?: number
  /** Told about each failure that will be retried. */
  onRetry?: (err: unknown, attempt: number, waitMs: number) => void
  signal?: AbortSignal
  /** Waits between tries (tests make it instant). */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>
}

/** Runs `task`, repeating it with back-off while it fails with a transient error (`isTransient`). */
export async function retryTransient<T>(task: () => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const attempts = options.attempts ?? 6
  const base = options.baseMs ?? 100
  for (let attempt = 1; ; attempt++) {
    try {
      return await task()
    } catch (err) {
      if (attempt >= attempts || !isTransient(err) || options.signal?.aborted) throw err
      const wait = Math.round(base * 2 ** (attempt - 1) * (1 + Math.random() * 0.5))
      options.onRetry?.(err, attempt, wait)
      await (options.sleep ?? defaultSleep)(wait, options.signal)
    }
  }
}
