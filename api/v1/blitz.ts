import type { FastifyInstance } from 'fastify'
import type { Pattern } from '../../lib/pattern.js'
import type { RequestSpec } from '../../lib/request-spec.js'
import type { RushSpec } from '../../lib/split.js'
import { totalErrors } from '../../lib/timeline.js'
import type { SprintResult } from '../../load/sprint.js'
import type { RushFeed } from '../feeds.js'
import { ApiProblem, type ApiService } from '../service.js'
import { type BlitzStep, isBlitzTransaction, transactionOfBlitz } from './steps.js'

/**
 * blitz.io's API v1, wire-compatible: the routes, bodies and answers its clients expect.
 * Bodies are JSON whatever their Content-Type (the root parser reads every type as JSON);
 * errors are `{"error": KIND, "reason": TEXT}`.
 */
const KINDS: Record<ApiProblem['kind'], string> = {
  invalid: 'validation',
  quota: 'quota',
  authorize: 'authorize',
  'not-found': 'not_found',
  unauthorized: 'login',
  forbidden: 'login',
  unsupported: 'validation',
  unavailable: 'server',
}

export function blitzError(problem: ApiProblem): Record<string, unknown> {
  return { error: KINDS[problem.kind], reason: problem.message, ...problem.extra }
}

function invalid(reason: string): ApiProblem {
  return new ApiProblem('invalid', 400, reason)
}

interface BlitzInterval {
  iterations?: unknown
  start?: unknown
  end?: unknown
  duration?: unknown
  affinity?: { regions?: unknown }
}

const CONTENT_LIMIT = 20 * 1024

function stringList(value: unknown, what: string): string[] {
  if (value === undefined || value === null) return []
  if (!Array.isArray(value) || value.some((item) => typeof item !== 'string'))
    throw invalid(`${what} must be a list of strings`)
  return value as string[]
}

/** One blitz step as Stampede's request spec. */
export function requestOfStep(step: BlitzStep): RequestSpec {
  if (typeof step.url !== 'string' || step.url.length === 0) throw invalid('each step needs a url')
  const headers: Record<string, string> = {}
  for (const line of stringList(step.headers, 'headers')) {
    const at = line.indexOf(':')
    if (at <= 0) throw invalid(`header "${line}" is not "Name: value"`)
    headers[line.slice(0, at).trim().toLowerCase()] = line.slice(at + 1).trim()
  }
  const cookies = stringList(step.cookies, 'cookies')
  if (cookies.length > 0) headers.cookie = [headers.cookie, ...cookies].filter(Boolean).join('; ')
  if (step.user !== undefined) {
    if (typeof step.user !== 'string' || !step.user.includes(':'))
      throw invalid('user must be "user:password"')
    headers.authorization = `Basic ${Buffer.from(step.user).toString('base64')}`
  }
  if (step['user-agent'] !== undefined) {
    if (typeof step['user-agent'] !== 'string') throw invalid('user-agent must be a string')
    headers['user-agent'] = step['user-agent']
  }
  // blitz-java serializes its referer field as `referrer`.
  const referer = step.referer ?? step.referrer
  if (referer !== undefined) {
    if (typeof referer !== 'string') throw invalid('referer must be a string')
    headers.referer = referer
  }
  const data = step.content?.data
  const content = stringList(data, 'content.data').join('')
  if (Buffer.byteLength(content) >= CONTENT_LIMIT) throw invalid('content must be under 20 KB')
  if (
    step.request !== undefined &&
    (typeof step.request !== 'string' || !/^[A-Za-z]{1,16}$/.test(step.request))
  )
    throw invalid('request must be an HTTP method')
  const timeout = step.timeout ?? 1000
  if (typeof timeout !== 'number' || !Number.isFinite(timeout) || timeout <= 0 || timeout > 300_000)
    throw invalid('timeout must be milliseconds, 1 to 300000')
  const spec: RequestSpec = {
    method: ((step.request as string | undefined) ?? (content ? 'POST' : 'GET')).toUpperCase(),
    url: step.url,
    headers,
    timeoutMs: timeout,
  }
  if (content) spec.bodyBase64 = Buffer.from(content).toString('base64')
  if (step.status !== undefined) {
    if (
      typeof step.status !== 'number' ||
      !Number.isInteger(step.status) ||
      step.status < 100 ||
      step.status > 599
    )
      throw invalid('status must be an HTTP status code')
    spec.expectStatus = String(step.status)
  }
  return spec
}

function count(value: unknown, what: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max)
    throw invalid(`${what} must be a number from ${min} to ${max}`)
  return value
}

/**
 * blitz's pattern as Stampede's: each interval (repeated `iterations` times, the whole
 * pattern too) ramps users from start to end over `duration` seconds. `affinity` splits an
 * interval's users over regions; Stampede's split is even by construction, so an uneven
 * affinity is refused rather than silently evened out.
 */
export function patternOf(pattern: unknown): { pattern: Pattern; regions?: string[] } {
  if (!pattern || typeof pattern !== 'object') throw invalid('pattern must be an object')
  const { iterations = 1, intervals } = pattern as { iterations?: unknown; intervals?: unknown }
  const repeat = count(iterations, 'pattern.iterations', 1, 100)
  if (!Array.isArray(intervals) || intervals.length === 0 || intervals.length > 100)
    throw invalid('pattern.intervals must be a list of 1 to 100 intervals')
  const once: Pattern = []
  let regions: string[] | undefined
  intervals.forEach((raw: BlitzInterval, i: number) => {
    if (!raw || typeof raw !== 'object') throw invalid(`pattern.intervals[${i}] must be an object`)
    const times = count(raw.iterations ?? 1, `pattern.intervals[${i}].iterations`, 1, 100)
    const start = count(raw.start, `pattern.intervals[${i}].start`, 0, 1_000_000)
    const end = count(raw.end, `pattern.intervals[${i}].end`, 0, 1_000_000)
    const duration = count(raw.duration, `pattern.intervals[${i}].duration`, 1, 86_400)
    if (raw.affinity !== undefined) {
      const list = raw.affinity?.regions
      if (!Array.isArray(list) || list.length === 0)
        throw invalid(`pattern.intervals[${i}].affinity.regions must be a list`)
      const names = list.map((entry: { region?: unknown; start?: unknown; end?: unknown }, j: number) => {
        if (!entry || typeof entry.region !== 'string')
          throw invalid(`affinity.regions[${j}].region must be a name`)
        const share = [start / list.length, end / list.length]
        const even =
          Math.abs(count(entry.start, `affinity.regions[${j}].start`, 0, 1_000_000) - share[0]!) <= 1 &&
          Math.abs(count(entry.end, `affinity.regions[${j}].end`, 0, 1_000_000) - share[1]!) <= 1
        if (!even)
          throw invalid('an uneven affinity is not supported: Stampede splits users evenly over the regions')
        return entry.region
      })
      if (regions && regions.join() !== names.join())
        throw invalid('every interval must have the same affinity regions')
      regions = names
    }
    for (let k = 0; k < times; k++) once.push({ start, end, duration })
  })
  const whole: Pattern = []
  for (let k = 0; k < repeat; k++) whole.push(...once)
  return { pattern: whole, ...(regions && { regions }) }
}

/** The cumulative timeline blitz's clients difference into hits/s, cached per feed. */
interface V1Point {
  timestamp: number
  duration: number
  total: number
  executed: number
  errors: number
  timeouts: number
  volume: number
  txbytes: number
  rxbytes: number
  steps: { d: number; c: number; e: number; t: number; a: number }[]
}

const cache = new WeakMap<RushFeed, V1Point[]>()

export function blitzTimeline(feed: RushFeed): V1Point[] {
  let out = cache.get(feed)
  if (!out) {
    out = []
    cache.set(feed, out)
  }
  const stepCount = feed.rush?.transaction?.steps.length
  for (let i = out.length; i < feed.points.length; i++) {
    const point = feed.points[i]!
    const before = out[i - 1]
    const errors = totalErrors(point.errors)
    const transport = errors - point.errors.status
    out.push({
      timestamp: point.t + 1,
      duration: meanSeconds(point.latencySum, point.latencyCount),
      total: (before?.total ?? 0) + point.hits + transport + point.timeouts,
      executed: (before?.executed ?? 0) + point.hits,
      errors: (before?.errors ?? 0) + errors,
      timeouts: (before?.timeouts ?? 0) + point.timeouts,
      volume: point.concurrency,
      txbytes: (before?.txbytes ?? 0) + point.txBytes,
      rxbytes: (before?.rxbytes ?? 0) + point.rxBytes,
      // One entry per step of a transaction, from its own merged point (a step that had nothing
      // in this second carries its totals); a single request is one step.
      steps: Array.from({ length: stepCount ?? 1 }, (_, index) => {
        const step = stepCount === undefined ? point : point.steps?.[index]
        const was = before?.steps[index]
        return {
          d: step ? meanSeconds(step.latencySum, step.latencyCount) : 0,
          c: step ? meanSeconds(step.connectSum, step.connects) : 0,
          e: (was?.e ?? 0) + (step ? totalErrors(step.errors) : 0),
          t: (was?.t ?? 0) + (step?.timeouts ?? 0),
          a: (was?.a ?? 0) + (step?.errors.status ?? 0),
        }
      }),
    })
  }
  return out
}

/** A mean of microseconds, in seconds (blitz's unit); 0 when nothing was measured. */
function meanSeconds(sum: number, count: number): number {
  return count > 0 ? sum / count / 1e6 : 0
}

const ERROR_KINDS: Record<string, string> = {
  dns: 'dns',
  connect: 'connect',
  timeout: 'timeout',
  parse: 'parse',
}

/** A sprint's result in blitz's shape: one step, each phase in seconds, bodies in base64. */
export function blitzSprintResult(result: SprintResult, region: string): Record<string, unknown> {
  const seconds = (ms: number | null | undefined) => (ms ?? 0) / 1000
  const url = new URL(result.url)
  const headers = Object.fromEntries(result.headers)
  const step = {
    connect: seconds(result.timings.connect) - seconds(result.timings.dns),
    duration: seconds(result.timings.total),
    request: {
      line: `${result.method} ${url.pathname}${url.search} HTTP/1.1`,
      method: result.method,
      url: result.url,
      headers: {},
      content: '',
    },
    response: {
      line: result.status !== undefined ? `HTTP/1.1 ${result.status} ${result.statusText ?? ''}`.trim() : '',
      status: result.status ?? 0,
      message: result.statusText ?? '',
      headers,
      content: Buffer.from(result.bodySnippet).toString('base64'),
    },
  }
  const out: Record<string, unknown> = { region, duration: seconds(result.timings.total), steps: [step] }
  if (result.error) {
    out.error = ERROR_KINDS[result.error.kind] ?? 'connect'
    out.reason = result.error.message
  } else if (!result.passed) {
    out.error = 'assert'
    out.reason = `status ${result.status} is not the expected one`
    out.step = 0
    out.steps = [step]
  }
  return out
}

export async function blitzRoutes(app: FastifyInstance, options: { service: ApiService }) {
  const { service } = options
  const config = { blitz: true }
  const hide = { hide: true }
  /** The region name a client gave back to it (blitz's name when it used one). */
  const regionName = (region: string) =>
    Object.entries(service.options.regionMap).find(([, mapped]) => mapped === region)?.[0] ?? region

  app.get('/login/api', { config, schema: hide }, async (request) => {
    const key = request.headers['x-api-key']
    return { ok: true, api_key: typeof key === 'string' ? key : '' }
  })

  app.get('/api/1/account/about', { config, schema: hide }, async (request) => {
    const tenant = request.tenant!
    return {
      ok: true,
      _id: tenant.name,
      profile: { user: tenant.name, created_at: new Date(tenant.createdAt).toISOString() },
      quotas: {
        max_users: tenant.quotas.maxUsers,
        max_duration: tenant.quotas.maxDuration,
        max_running: tenant.quotas.maxRunning,
        rushes_per_day: tenant.quotas.rushesPerDay,
        regions: tenant.quotas.regions.length > 0 ? tenant.quotas.regions : service.options.regions,
      },
      regions: service.regionNames(),
    }
  })

  app.post('/api/1/curl/execute', { config, schema: hide }, async (request) => {
    const body = request.body
    if (!body || typeof body !== 'object' || Array.isArray(body))
      throw invalid('the body must be a JSON object')
    const job = body as {
      steps?: unknown
      url?: unknown
      pattern?: unknown
      region?: unknown
      variables?: unknown
    }
    const steps = Array.isArray(job.steps)
      ? (job.steps as BlitzStep[])
      : job.url !== undefined
        ? [job as BlitzStep]
        : []
    if (steps.length === 0) throw invalid('steps must hold at least one step')
    if (job.region !== undefined && typeof job.region !== 'string') throw invalid('region must be a name')
    const step = steps[0]!
    if (!step || typeof step !== 'object') throw invalid('a step must be an object')
    // Several steps, variables or xtracts: a transaction; otherwise the single request.
    // blitz-java's variables sit beside a top-level step; with `steps[]` they may sit beside them.
    const transaction = isBlitzTransaction(steps, job.variables)
      ? transactionOfBlitz(steps, job.variables, requestOfStep)
      : undefined
    const request1 = transaction ? transaction.steps[0]!.request : requestOfStep(step)
    if (job.pattern === undefined) {
      if (transaction)
        throw invalid(
          'a sprint (no pattern) of a transaction is not supported through the API: give a pattern',
        )
      // No pattern: a sprint, run by an engine of the region.
      const region = service.region(
        (job.region as string | undefined) ?? service.options.regions[0]!,
        'region',
      )
      const sprint = await service.submitSprint(request.tenant!, request1, region)
      return {
        ok: true,
        job_id: sprint.sprint,
        status: 'queued',
        region: (job.region as string | undefined) ?? regionName(region),
      }
    }
    const { pattern, regions: affinity } = patternOf(job.pattern)
    const regions = (affinity ?? [(job.region as string | undefined) ?? service.options.regions[0]!]).map(
      (name) => service.region(name, 'region'),
    )
    const spec: RushSpec = { model: 'rush', request: request1, pattern, regions, thresholds: [] }
    const rush = await service.submit(request.tenant!, spec, transaction)
    return {
      ok: true,
      job_id: rush.rush,
      status: 'queued',
      region: (job.region as string | undefined) ?? regionName(regions[0]!),
    }
  })

  app.get('/api/1/jobs/:id/status', { config, schema: hide }, async (request) => {
    const { id } = request.params as { id: string }
    if (id.startsWith('sp-')) {
      const sprint = await service.sprint(request.tenant!, id)
      const status =
        sprint.state === 'queued' ? 'queued' : sprint.state === 'running' ? 'running' : 'completed'
      return {
        _id: id,
        ok: true,
        status,
        ...(sprint.result !== undefined && {
          result: blitzSprintResult(sprint.result as SprintResult, regionName(sprint.region)),
        }),
      }
    }
    const feed = await service.rush(request.tenant!, id)
    const state = feed.state
    const status = feed.finished ? 'completed' : state === 'queued' ? 'queued' : 'running'
    const region = regionName(feed.rush.regions[0]!)
    const result: Record<string, unknown> = { region, timeline: blitzTimeline(feed) }
    if (feed.finished && state === 'failed') {
      const lost = feed.shards.filter((shard) => shard.state !== 'done')
      result.error = 'engine'
      result.reason = lost
        .map((shard) => `${shard._id} ${shard.state}${shard.reason ? ` (${shard.reason})` : ''}`)
        .join(', ')
    }
    return { _id: id, ok: true, status, ...(state === 'aborted' && { aborted: true }), result }
  })

  app.put('/api/1/jobs/:id/abort', { config, schema: hide }, async (request) => {
    const { id } = request.params as { id: string }
    await service.abort(request.tenant!, id)
    return { ok: true }
  })
}
