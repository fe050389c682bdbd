import { retryTransient } from '../lib/couch/retry.js'

/**
 * A CouchDB read of the API, made again when it failed in transit: the connection dropped (an
 * idle keep-alive socket the server closed as the request went out), or a 5xx/429 answer
 * (lib/couch/retry.ts `isTransient`). Seen on a CPU-starved machine as a tenant's status
 * request answered 503 at once. Reads only: a write is never sent twice from here (its
 * conflict rules decide). Three tries in all, ~50 and ~100 ms apart: a CouchDB that is really
 * down still answers 503 within a fraction of a second, and clients try again themselves.
 */
export function readAgain<T>(read: () => Promise<T>): Promise<T> {
  return retryTransient(read, { attempts: 3, baseMs: 50 })
}
