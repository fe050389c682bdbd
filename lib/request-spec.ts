import { isIP } from 'node:net'
import { UsageError } from './errors.js'

/**
 * What to send, as plain data: it crosses process boundaries to load workers and, later,
 * CouchDB to engines. Header names are lower-case.
 */
export interface RequestSpec {
  method: string
  url: string
  headers: Record<string, string>
  /** Body as base64, so any bytes survive JSON. */
  bodyBase64?: string
  /** Milliseconds a request may take, connect included, before it counts as a timeout. */
  timeoutMs: number
  /** Statuses that count as success, e.g. `200`, `2xx`, `200-299,304`; none: any status. */
  expectStatus?: string
  /** Accept TLS certificates that do not verify (self-signed test targets). */
  insecure?: boolean
  /** Host name → addresses to use instead of DNS, like curl's --resolve. */
  resolve?: Record<string, string[]>
}

export const DEFAULT_TIMEOUT_MS = 1000
/** Headers undici does not take from callers: the body decides the length and framing. */
const REFUSED_HEADERS = new Set(['content-length', 'transfer-encoding', 'keep-alive', 'upgrade', 'expect'])
const METHOD = /^[A-Z]+$/

/** Parses and checks a target URL; only http and https are load targets. */
export function parseTargetUrl(text: string): URL {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw new UsageError(`invalid URL "${text}"`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(`unsupported URL scheme "${url.protocol}" in "${text}" (use http or https)`)
  }
  if (url.username || url.password) {
    throw new UsageError('put credentials in --auth USER:PASS, not in the URL')
  }
  return url
}

export function validateRequestSpec(spec: RequestSpec): RequestSpec {
  parseTargetUrl(spec.url)
  if (!METHOD.test(spec.method)) throw new UsageError(`invalid HTTP method "${spec.method}"`)
  if (!(spec.timeoutMs > 0)) throw new UsageError('timeout must be positive')
  for (const name of Object.keys(spec.headers)) {
    if (REFUSED_HEADERS.has(name))
      throw new UsageError(`the ${name} header cannot be set: Stampede frames the body itself`)
  }
  if (spec.expectStatus !== undefined) compileStatusMatcher(spec.expectStatus)
  return spec
}

/**
 * Compiles `200`, `2xx`, `200-299,304` into a lookup table: the hot path checks a
 * status with one array read.
 */
export function compileStatusMatcher(expect: string | undefined): (status: number) => boolean {
  if (expect === undefined || expect === '') return () => true
  const allowed = new Uint8Array(1000)
  for (const raw of expect.split(',')) {
    const part = raw.trim().toLowerCase()
    let low: number
    let high: number
    if (/^[1-5]xx$/.test(part)) {
      low = Number(part[0]) * 100
      high = low + 99
    } else if (/^\d{3}-\d{3}$/.test(part)) {
      ;[low, high] = part.split('-').map(Number) as [number, number]
    } else if (/^\d{3}$/.test(part)) {
      low = high = Number(part)
    } else {
      throw new UsageError(`invalid expected status "${raw}" (use e.g. 200, 2xx, 200-299)`)
    }
    if (low < 100 || high > 599 || low > high) throw new UsageError(`invalid expected status "${raw}"`)
    allowed.fill(1, low, high + 1)
  }
  return (status) => allowed[status] === 1
}

/** Parses repeated `--resolve HOST:ADDR[,ADDR…]` values. */
export function parseResolve(values: string[]): Record<string, string[]> | undefined {
  if (values.length === 0) return undefined
  const table: Record<string, string[]> = {}
  for (const value of values) {
    const at = value.indexOf(':')
    if (at <= 0) throw new UsageError(`invalid --resolve "${value}" (expected HOST:ADDRESS[,ADDRESS…])`)
    const host = value.slice(0, at).toLowerCase()
    const addresses = value
      .slice(at + 1)
      .split(',')
      .map((address) => address.trim().replace(/^\[|\]$/g, ''))
    const bad = addresses.find((address) => isIP(address) === 0)
    if (bad !== undefined) throw new UsageError(`invalid --resolve "${value}": "${bad}" is not an IP address`)
    table[host] = [...(table[host] ?? []), ...addresses]
  }
  return table
}
