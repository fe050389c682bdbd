import { StampedeError } from '../lib/errors.js'
import type { RequestSpec } from '../lib/request-spec.js'
import { validateTransaction } from '../lib/transaction/compile.js'
import type { ExtractSpec } from '../lib/transaction/extract.js'
import type { RowMode } from '../lib/transaction/rows.js'
import type { StepSpec, TransactionSpec } from '../lib/transaction/spec.js'
import { proofTargetOf } from './proof.js'
import { ApiProblem } from './service.js'

/**
 * A transaction through the API: v2's body (the scenario file's shape in JSON, the data
 * file's rows inline) as lib/transaction's `TransactionSpec`, checked as the command line
 * checks it (`validateTransaction`: templates, variables known before use, JSON paths,
 * regular expressions, the data table), each mistake one 400 naming the field or step.
 * blitz v1's steps, variables and xtracts are mapped in api/v1/blitz.ts.
 */

function invalid(detail: string, field?: string): ApiProblem {
  return new ApiProblem('invalid', 400, detail, field !== undefined ? { field } : {})
}

/** v2's request object as a request spec (a rush's `request`, or a step's). */
export interface V2Request {
  url: string
  method?: string
  headers?: Record<string, string>
  body?: string
  timeoutMs?: number
  expectStatus?: string
}

export function requestOfV2(request: V2Request): RequestSpec {
  const headers: Record<string, string> = {}
  for (const [name, value] of Object.entries(request.headers ?? {})) headers[name.toLowerCase()] = value
  const spec: RequestSpec = {
    method: (request.method ?? (request.body !== undefined ? 'POST' : 'GET')).toUpperCase(),
    url: request.url,
    headers,
    timeoutMs: request.timeoutMs ?? 1000,
  }
  if (request.body !== undefined) spec.bodyBase64 = Buffer.from(request.body).toString('base64')
  if (request.expectStatus !== undefined) spec.expectStatus = request.expectStatus
  return spec
}

/** An extraction as the scenario file writes it: one of cookie, header, json, regex, and `as`. */
export interface V2Extract {
  cookie?: string
  header?: string
  json?: string
  regex?: string
  as?: string
}

export interface V2Step {
  name?: string
  request: V2Request
  extract?: V2Extract[]
  think?: { minMs: number; maxMs?: number }
  follow?: number
}

export interface V2Transaction {
  steps: V2Step[]
  variables?: Record<string, string>
  data?: { name?: string; mode?: RowMode; columns: string[]; rows: string[][] }
}

function extractOfV2(raw: V2Extract, field: string): ExtractSpec {
  const kinds = (['cookie', 'header', 'json', 'regex'] as const).filter((kind) => raw[kind] !== undefined)
  if (kinds.length !== 1) throw invalid('give exactly one of cookie, header, json, regex', field)
  const kind = kinds[0]!
  const value = raw[kind]!
  if (kind === 'cookie')
    return raw.as === undefined
      ? { from: 'cookie', name: value }
      : { from: 'cookie', name: value, as: raw.as }
  if (raw.as === undefined) throw invalid('the variable to extract into (as) is missing', `${field}/as`)
  if (kind === 'header') return { from: 'header', name: value, as: raw.as }
  if (kind === 'json') return { from: 'json', path: value, as: raw.as }
  return { from: 'regex', pattern: value, as: raw.as }
}

/** v2's `transaction` as a checked TransactionSpec. */
export function transactionOfV2(body: V2Transaction): TransactionSpec {
  const steps = body.steps.map((raw, index): StepSpec => {
    const field = `/transaction/steps/${index}`
    const step: StepSpec = { request: requestOfV2(raw.request) }
    if (raw.name !== undefined) step.name = raw.name
    if (raw.extract !== undefined && raw.extract.length > 0)
      step.extract = raw.extract.map((item, i) => extractOfV2(item, `${field}/extract/${i}`))
    if (raw.think !== undefined)
      step.think = { minMs: raw.think.minMs, maxMs: raw.think.maxMs ?? raw.think.minMs }
    if (raw.follow !== undefined && raw.follow > 0) step.followRedirects = raw.follow
    return step
  })
  const spec: TransactionSpec = { steps }
  if (body.variables !== undefined && Object.keys(body.variables).length > 0)
    spec.variables = { ...body.variables }
  if (body.data !== undefined) {
    spec.data = {
      name: body.data.name ?? 'data',
      mode: body.data.mode ?? 'sequential',
      table: { columns: body.data.columns, rows: body.data.rows },
    }
  }
  return checkApiTransaction(spec, '/transaction')
}

/**
 * Checks a transaction for the API: what the command line checks, and one thing more.
 * The API proves each step's host before anything is written, but a redirect's host is
 * known only when the engine gets the answer: a transaction that follows redirects is held
 * to the steps' hosts (`redirectHosts`), which the engines enforce on every hop, before any
 * connect (load/transaction/prepare.ts). A hop elsewhere counts as a `refused` error.
 */
export function checkApiTransaction(spec: TransactionSpec, field: string): TransactionSpec {
  try {
    validateTransaction(spec)
  } catch (err) {
    if (err instanceof StampedeError) throw invalid(err.message, field)
    throw err
  }
  if (spec.redirectHosts !== undefined)
    throw invalid('redirect hosts are set by the API: the hosts of the steps, which you prove', field)
  if (spec.steps.some((step) => (step.followRedirects ?? 0) > 0))
    spec.redirectHosts = [...new Set(stepOrigins(spec).map((url) => proofTargetOf(url).host))]
  return spec
}

/** Each distinct origin the steps send to, in order: each must be proven by the tenant. */
export function stepOrigins(spec: TransactionSpec): URL[] {
  const seen = new Map<string, URL>()
  for (const step of spec.steps) {
    // Variables may appear only after the host (checkTransaction), so the origin parses as is.
    const url = new URL(step.request.url.replace(/#\{[^}]*\}/g, 'x'))
    if (!seen.has(url.origin)) seen.set(url.origin, url)
  }
  return [...seen.values()]
}

/**
 * A `host` header other than the URL's host would load another site behind the same
 * address (a shared host, a CDN's edge) under the proof of this one: the API refuses it.
 * The same port may be written or not; a template is refused (its value is unknown here).
 */
export function checkHostHeaders(requests: RequestSpec[]): void {
  for (const request of requests) {
    const value = request.headers.host
    if (value === undefined) continue
    const url = new URL(request.url.replace(/#\{[^}]*\}/g, 'x'))
    const given = value.trim().toLowerCase()
    if (
      given !== url.host &&
      given !== url.hostname &&
      given !== `${url.hostname}:${url.port || defaultPort(url)}`
    )
      throw invalid(
        `the host header "${value}" must name the URL's host ${url.host}: a proof covers that host only`,
        '/request/headers/host',
      )
  }
}

function defaultPort(url: URL): string {
  return url.protocol === 'https:' ? '443' : '80'
}
