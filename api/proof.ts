import { lookup as dnsLookup, promises as dnsPromises, type LookupAddress } from 'node:dns'
import { request as httpRequest, type IncomingMessage } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { isIP, type Socket } from 'node:net'
import { AddressRefusedError } from '../lib/errors.js'
import { type AddressPolicy, assertAllowed } from '../load/safety.js'
import type { ProofCheck } from './store.js'

/**
 * Proof that a tenant controls a host (blitz's "authorization"): either
 * `SCHEME://HOST[:PORT]/stampede-TOKEN.txt` answers 200 with the token as its body, or a
 * DNS TXT record `_stampede.HOST` holds the token. The fetch obeys the engines' address
 * policy: every address the name resolves to is checked before connecting (link-local
 * always refused, loopback and private only where the operator allows), the address the
 * socket reached is checked again, and a redirect is followed only on the same host.
 */
export interface ProofTarget {
  scheme: 'http' | 'https'
  host: string
  port: number
}

export interface ProofOptions {
  policy: AddressPolicy
  timeoutMs: number
  /** TXT lookup; injectable so tests need no DNS server. */
  resolveTxt?: (name: string) => Promise<string[][]>
}

export interface ProofOutcome {
  ok: boolean
  method?: 'http' | 'dns'
  checks: ProofCheck[]
}

const MAX_BODY = 4096
const MAX_REDIRECTS = 3

export function proofPath(token: string): string {
  return `/stampede-${token}.txt`
}

export function proofUrl(target: ProofTarget, token: string): string {
  const host = isIP(target.host) === 6 ? `[${target.host}]` : target.host
  const defaultPort = target.scheme === 'https' ? 443 : 80
  return `${target.scheme}://${host}${target.port === defaultPort ? '' : `:${target.port}`}${proofPath(token)}`
}

export function proofTargetOf(url: URL): ProofTarget {
  const scheme = url.protocol === 'https:' ? 'https' : 'http'
  return {
    scheme,
    host: url.hostname.replace(/^\[|\]$/g, '').toLowerCase(),
    port: url.port ? Number(url.port) : scheme === 'https' ? 443 : 80,
  }
}

/** A `lookup` for node:http that refuses names resolving to a forbidden address. */
function guardedLookup(policy: AddressPolicy) {
  return (
    hostname: string,
    options: object,
    callback: (err: Error | null, address: string | LookupAddress[], family?: number) => void,
  ) => {
    dnsLookup(hostname, { all: true }, (err, addresses) => {
      if (err) return callback(err, [])
      try {
        for (const { address } of addresses) assertAllowed(address, policy)
      } catch (refused) {
        return callback(refused as Error, [])
      }
      if ((options as { all?: boolean }).all) return callback(null, addresses)
      const first = addresses[0]!
      callback(null, first.address, first.family)
    })
  }
}

interface Fetched {
  code: number
  body: Buffer
  location?: string
}

function fetchOnce(url: URL, options: ProofOptions): Promise<Fetched> {
  const hostname = url.hostname.replace(/^\[|\]$/g, '')
  if (isIP(hostname)) assertAllowed(hostname, options.policy)
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest
  return new Promise((resolve, reject) => {
    const request = send(
      url,
      {
        method: 'GET',
        agent: false,
        lookup: guardedLookup(options.policy) as never,
        timeout: options.timeoutMs,
        headers: { 'user-agent': 'stampede-api proof check', accept: 'text/plain' },
      },
      (response: IncomingMessage) => {
        const chunks: Buffer[] = []
        let bytes = 0
        response.on('data', (chunk: Buffer) => {
          bytes += chunk.length
          if (bytes <= MAX_BODY) chunks.push(chunk)
          else response.destroy()
        })
        const done = () =>
          resolve({
            code: response.statusCode ?? 0,
            body: Buffer.concat(chunks),
            ...(typeof response.headers.location === 'string' && { location: response.headers.location }),
          })
        response.on('end', done)
        response.on('close', done)
        response.on('error', reject)
      },
    )
    // The address actually reached is checked too (a name that changed its answer).
    request.on('socket', (socket: Socket) => {
      socket.once('connect', () => {
        try {
          if (socket.remoteAddress) assertAllowed(socket.remoteAddress, options.policy)
        } catch (err) {
          request.destroy(err as Error)
        }
      })
    })
    request.on('timeout', () => request.destroy(new Error(`no answer within ${options.timeoutMs} ms`)))
    request.on('error', reject)
    request.end()
  })
}

function sameHost(a: URL, b: URL): boolean {
  return a.protocol === b.protocol && a.host.toLowerCase() === b.host.toLowerCase()
}

/** The HTTP(S) proof: follows redirects on the same host only. */
export async function checkHttpProof(
  target: ProofTarget,
  token: string,
  options: ProofOptions,
): Promise<ProofCheck> {
  const first = new URL(proofUrl(target, token))
  let url = first
  for (let hop = 0; ; hop++) {
    let fetched: Fetched
    try {
      fetched = await fetchOnce(url, options)
    } catch (err) {
      const reason =
        err instanceof AddressRefusedError
          ? err.message
          : `${(err as NodeJS.ErrnoException).code ?? ''} ${(err as Error).message}`.trim()
      return { method: 'http', url: url.href, code: 0, bytes: 0, error: reason }
    }
    if (fetched.code >= 300 && fetched.code < 400 && fetched.location !== undefined) {
      let next: URL
      try {
        next = new URL(fetched.location, url)
      } catch {
        return { method: 'http', url: url.href, code: fetched.code, bytes: 0, error: 'invalid redirect' }
      }
      if (!sameHost(next, first)) {
        return {
          method: 'http',
          url: url.href,
          code: fetched.code,
          bytes: 0,
          error: `redirect to another host (${next.host}) refused`,
        }
      }
      if (hop + 1 >= MAX_REDIRECTS)
        return { method: 'http', url: url.href, code: fetched.code, bytes: 0, error: 'too many redirects' }
      url = next
      continue
    }
    const body = fetched.body.toString('utf8').trim()
    const check: ProofCheck = {
      method: 'http',
      url: url.href,
      code: fetched.code,
      bytes: fetched.body.length,
    }
    if (fetched.code !== 200) check.error = `expected 200 with the token, got ${fetched.code}`
    else if (body !== token) check.error = 'the body is not the token'
    return check
  }
}

export async function checkDnsProof(host: string, token: string, options: ProofOptions): Promise<ProofCheck> {
  const name = `_stampede.${host}`
  const resolveTxt = options.resolveTxt ?? ((n: string) => dnsPromises.resolveTxt(n))
  try {
    const records = await resolveTxt(name)
    const values = records.map((parts) => parts.join(''))
    const found = values.some((value) => value.trim() === token)
    return {
      method: 'dns',
      url: `dns:${name}?type=TXT`,
      code: found ? 200 : 404,
      bytes: values.join('').length,
      ...(!found && { error: `no TXT record of ${name} holds the token` }),
    }
  } catch (err) {
    return {
      method: 'dns',
      url: `dns:${name}?type=TXT`,
      code: 0,
      bytes: 0,
      error: `${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    }
  }
}

/** Both proofs; either one suffices (the HTTP one first: most tenants use it). */
export async function proveHost(
  target: ProofTarget,
  token: string,
  options: ProofOptions,
): Promise<ProofOutcome> {
  const http = await checkHttpProof(target, token, options)
  if (!http.error) return { ok: true, method: 'http', checks: [http] }
  if (isIP(target.host)) return { ok: false, checks: [http] }
  const dns = await checkDnsProof(target.host, token, options)
  if (!dns.error) return { ok: true, method: 'dns', checks: [http, dns] }
  return { ok: false, checks: [http, dns] }
}
