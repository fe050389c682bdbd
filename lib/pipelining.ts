import type { LoadModelName } from './workload.js'

/** The most requests a user keeps in flight with pipelining (`--pipelining`, `pipelining`). */
export const MAX_PIPELINING = 64

/**
 * Why a run cannot pipeline, or null. HTTP/1.1 pipelining is done by the closed model's
 * lean single-request path only: a user of the open model is not a connection, a
 * transaction's steps depend on each other, and TLS or a user's `connection` header go
 * through undici (which re-sends the requests behind a failed one instead of counting them).
 */
export function pipeliningRefusal(run: {
  model: LoadModelName
  pipelining: number
  transaction: boolean
  url: string
  headers: Record<string, string>
}): string | null {
  const depth = run.pipelining
  if (!Number.isInteger(depth) || depth < 1 || depth > MAX_PIPELINING)
    return `pipelining takes a whole number from 1 to ${MAX_PIPELINING}`
  if (depth === 1) return null
  if (run.model !== 'rush') return 'pipelining goes with users (--pattern), not with an arrival rate'
  if (run.transaction) return 'pipelining is for a single request, not a transaction'
  if (!run.url.startsWith('http:')) return 'pipelining needs a plain http: target'
  if (Object.keys(run.headers).some((name) => name.toLowerCase() === 'connection'))
    return 'pipelining cannot go with a connection header'
  return null
}
