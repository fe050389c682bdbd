import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { UsageError } from '../../lib/errors.js'
import { formatPattern, parsePattern, patternDuration } from '../../lib/pattern.js'
import { pipeliningRefusal } from '../../lib/pipelining.js'
import { reportAssets } from '../../lib/report/assets.js'
import { buildReport } from '../../lib/report/build.js'
import { renderReport } from '../../lib/report/html.js'
import type { ReportData } from '../../lib/report/model.js'
import type { RushSpec } from '../../lib/split.js'
import { summarize } from '../../lib/summary.js'
import { stepName, type TransactionSpec } from '../../lib/transaction/spec.js'
import type { FeedEvent, RushFeed } from '../feeds.js'
import { ApiProblem, type ApiService } from '../service.js'
import { requestOfV2, transactionOfV2, type V2Request, type V2Transaction } from '../transaction.js'
import { problemResponses } from './schemas.js'

interface RushBody {
  request?: V2Request
  transaction?: V2Transaction
  pattern?: string
  rate?: string
  maxInFlight?: number
  pipelining?: number
  regions?: string[]
  thresholds?: string[]
  shardsPerRegion?: number
}

/**
 * A rush's body may carry a transaction's data rows inline, so it may be larger than other
 * bodies (256 KB): 4 MiB in all. A larger data file runs from the command line or --couch.
 */
export const RUSH_BODY_LIMIT = 4 * 1024 * 1024

/** The v2 body as a rush spec; a bad field is a problem naming it. */
export function rushSpecOf(
  body: RushBody,
  service: ApiService,
): { spec: RushSpec; transaction?: TransactionSpec } {
  if ((body.pattern === undefined) === (body.rate === undefined)) {
    throw new ApiProblem(
      'invalid',
      400,
      'give exactly one of pattern (users) or rate (requests per second)',
      {
        field: '/pattern',
      },
    )
  }
  const field = body.pattern !== undefined ? '/pattern' : '/rate'
  let pattern: RushSpec['pattern']
  try {
    pattern = body.pattern !== undefined ? parsePattern(body.pattern) : parsePattern(body.rate!, 'rate')
  } catch (err) {
    throw new ApiProblem('invalid', 400, (err as Error).message, { field })
  }
  if (body.maxInFlight !== undefined && body.rate === undefined) {
    throw new ApiProblem('invalid', 400, 'maxInFlight goes with rate', { field: '/maxInFlight' })
  }
  if ((body.request === undefined) === (body.transaction === undefined)) {
    throw new ApiProblem('invalid', 400, 'give exactly one of request (one request) or transaction (steps)', {
      field: '/request',
    })
  }
  const transaction = body.transaction !== undefined ? transactionOfV2(body.transaction) : undefined
  const request = transaction ? transaction.steps[0]!.request : requestOfV2(body.request!)
  const regions = (body.regions ?? [service.options.regions[0]!]).map((region) => service.region(region))
  const spec: RushSpec = {
    model: body.pattern !== undefined ? 'rush' : 'arrival-rate',
    request,
    pattern,
    regions,
    thresholds: body.thresholds ?? [],
  }
  if (body.maxInFlight !== undefined) spec.maxInFlight = body.maxInFlight
  if (body.pipelining !== undefined) {
    const refusal = pipeliningRefusal({
      model: spec.model,
      pipelining: body.pipelining,
      transaction: transaction !== undefined,
      url: request.url,
      headers: request.headers,
    })
    if (refusal) throw new ApiProblem('invalid', 400, refusal, { field: '/pipelining' })
    if (body.pipelining > 1) spec.pipelining = body.pipelining
  }
  if (body.shardsPerRegion !== undefined) spec.shardsPerRegion = body.shardsPerRegion
  return { spec, ...(transaction && { transaction }) }
}

export function rushView(feed: RushFeed, withTimeline = true) {
  const { rush } = feed
  const summary = feed.summary()
  const transaction = feed.transaction()
  const thresholds = feed.thresholds(summary, transaction)
  const state = feed.state
  const passed = thresholds.every((result) => result.passed)
  return {
    id: rush.rush,
    state,
    model: rush.model,
    url: rush.request.url,
    method: rush.request.method,
    pattern: formatPattern(rush.pattern),
    ...(rush.pipelining !== undefined && { pipelining: rush.pipelining }),
    regions: rush.regions,
    createdAt: new Date(rush.createdAt).toISOString(),
    startAt: new Date(rush.startAt).toISOString(),
    shards: feed.shards.map(({ _id, region, state: shardState, engine, progress, reason, totals }) => ({
      id: _id,
      region,
      state: shardState,
      ...(engine !== undefined && { engine }),
      ...(progress !== undefined && { progress }),
      ...(reason !== undefined && { reason }),
      ...(totals?.exhausted && { exhausted: totals.exhausted }),
    })),
    seconds: feed.points.length,
    summary,
    ...(rush.transaction && { steps: rush.transaction.steps.map(stepName) }),
    ...(transaction && { transaction }),
    thresholds: thresholds.map((result) => ({
      threshold: result.threshold.source,
      actual: result.actual,
      passed: result.passed,
    })),
    verdict: !feed.finished ? 'pending' : state === 'done' && passed ? 'passed' : 'failed',
    ...(withTimeline && { timeline: feed.points }),
  }
}

/**
 * The HTML report of a rush from this process's merge, as `stampede status ID --report`
 * writes it: judged on the rush's own thresholds; a running rush shows its seconds so far.
 */
export function rushReport(feed: RushFeed): ReportData {
  const { rush } = feed
  const summary = feed.summary()
  const planned = patternDuration(rush.pattern)
  const state = feed.state
  const transaction = feed.transaction()
  return buildReport({
    model: rush.model,
    url: rush.request.url,
    pattern: formatPattern(rush.pattern),
    where: `rush ${rush.rush}, ${rush.shards.length} shards in ${rush.regions.join(', ')}`,
    ...(rush.pipelining !== undefined && { pipelining: rush.pipelining }),
    startedAt: new Date(rush.startAt).toISOString(),
    cutShort: feed.points.length < planned,
    ...(!feed.finished
      ? { unfinished: `rush ${rush.rush} is ${state}: ${feed.points.length} of ${planned} seconds so far` }
      : state !== 'done' && { unfinished: `rush ${rush.rush} ended ${state}` }),
    summary,
    thresholds: feed.thresholds(summary, transaction),
    seconds: feed.rows,
    histogram: feed.histogram,
    regions: [...feed.regions].map(([name, collector]) => ({
      name,
      seconds: collector.rows,
      summary: summarize(collector.points, collector.histogram, collector.points.length),
    })),
    ...(transaction && { transaction }),
  })
}

/** A second's SSE frame, serialized once however many follow it. */
const frames = new WeakMap<FeedEvent, string>()
function frameOf(event: FeedEvent & { kind: 'second' }): string {
  let frame = frames.get(event)
  if (frame === undefined) {
    frame = `id: ${event.point.t}\nevent: second\ndata: ${JSON.stringify({ ...event.point, histogram: event.histogram, ...(event.latency && { latency: event.latency }), ...(event.parts && { parts: event.parts }) })}\n\n`
    frames.set(event, frame)
  }
  return frame
}

function endData(event: FeedEvent & { kind: 'end' }) {
  const passed = event.thresholds.every((result) => result.passed)
  return {
    state: event.state,
    summary: event.summary,
    thresholds: event.thresholds.map((result) => ({
      threshold: result.threshold.source,
      actual: result.actual,
      passed: result.passed,
    })),
    verdict: event.state === 'done' && passed ? 'passed' : 'failed',
    histogram: event.histogram,
    shards: event.shards,
    ...(event.transaction && { transaction: event.transaction, parts: event.parts }),
  }
}

/**
 * Server-sent events: `second` (id = the second) for each merged second, then `end` with
 * the summary and verdict. A reconnect with `Last-Event-ID: N` replays from second N+1
 * out of this process's merge, so nothing is missed or repeated.
 */
function streamEvents(
  request: FastifyRequest,
  reply: FastifyReply,
  feed: RushFeed,
  heartbeatMs: number,
): void {
  const header = request.headers['last-event-id']
  const query = (request.query as { lastEventId?: string }).lastEventId
  const lastId = typeof header === 'string' ? header : query
  const last = Number(lastId ?? -1)
  // After `end` there is nothing left but the end itself.
  let next = lastId === 'end' ? Number.POSITIVE_INFINITY : Number.isInteger(last) && last >= 0 ? last + 1 : 0
  reply.hijack()
  const out = reply.raw
  out.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  })
  out.write('retry: 1000\n\n')
  const send = (event: FeedEvent) => {
    if (event.kind === 'second') {
      if (event.point.t < next) return
      next = event.point.t + 1
      out.write(frameOf(event))
    } else if (event.kind === 'end') {
      out.write(`id: end\nevent: end\ndata: ${JSON.stringify(endData(event))}\n\n`)
      finish()
    } else {
      out.write(`event: error\ndata: ${JSON.stringify({ detail: event.message })}\n\n`)
      finish()
    }
  }
  let unsubscribe = () => {}
  const heartbeat = setInterval(() => out.write(': keep-alive\n\n'), heartbeatMs)
  const finish = () => {
    clearInterval(heartbeat)
    unsubscribe()
    out.end()
  }
  out.on('close', finish)
  // Replay what is merged already, then follow: both from the same in-memory timeline.
  for (const event of feed.seconds) send(event)
  if (feed.finished) {
    send(feed.end())
    return
  }
  if (feed.failure !== undefined) {
    send({ kind: 'error', message: feed.failure })
    return
  }
  unsubscribe = feed.subscribe(send)
}

export async function rushRoutes(
  app: FastifyInstance,
  options: { service: ApiService; heartbeatMs: number },
) {
  const { service } = options
  const idParam = {
    type: 'object',
    properties: { id: { type: 'string', maxLength: 64 } },
    required: ['id'],
  } as const

  app.post(
    '/rushes',
    {
      bodyLimit: RUSH_BODY_LIMIT,
      schema: {
        summary: 'Submit a rush',
        tags: ['rushes'],
        body: { $ref: 'RushRequest#' },
        response: {
          201: {
            type: 'object',
            properties: {
              id: { type: 'string' },
              state: { type: 'string' },
              startAt: { type: 'string' },
              url: { type: 'string' },
            },
            required: ['id', 'state', 'startAt', 'url'],
          },
          ...problemResponses,
        },
      },
    },
    async (request, reply) => {
      const { spec, transaction } = rushSpecOf(request.body as RushBody, service)
      const rush = await service.submit(request.tenant!, spec, transaction)
      reply.code(201).header('location', `/api/v2/rushes/${rush.rush}`)
      return {
        id: rush.rush,
        state: 'queued',
        startAt: new Date(rush.startAt).toISOString(),
        url: `/api/v2/rushes/${rush.rush}`,
      }
    },
  )

  app.get(
    '/rushes',
    {
      schema: {
        summary: "List the tenant's rushes, newest first",
        tags: ['rushes'],
        querystring: {
          type: 'object',
          properties: {
            limit: { type: 'string', pattern: '^[0-9]{1,3}$', description: 'at most 100 (default 20)' },
            before: { type: 'string', maxLength: 64, description: 'the last id of the previous page' },
          },
          additionalProperties: false,
        },
        response: {
          200: {
            type: 'object',
            properties: {
              rushes: { type: 'array', items: { $ref: 'Rush#' } },
              next: { type: 'string', description: 'pass as before= for the next page' },
            },
            required: ['rushes'],
          },
          ...problemResponses,
        },
      },
    },
    async (request) => {
      const query = request.query as { limit?: string; before?: string }
      const limit = Math.min(100, Math.max(1, Number(query.limit ?? 20)))
      const ids = await service.list(request.tenant!, limit, query.before)
      const rushes = []
      for (const id of ids) {
        try {
          rushes.push(rushView(await service.rush(request.tenant!, id), false))
        } catch (err) {
          if (!(err instanceof ApiProblem && err.kind === 'not-found')) throw err
        }
      }
      return { rushes, ...(ids.length === limit && { next: ids[ids.length - 1] }) }
    },
  )

  app.get(
    '/rushes/:id',
    {
      schema: {
        summary: 'A rush: state, shards, merged summary, thresholds and verdict, timeline',
        tags: ['rushes'],
        params: idParam,
        querystring: {
          type: 'object',
          properties: { timeline: { type: 'string', enum: ['true', 'false'] } },
          additionalProperties: false,
        },
        response: { 200: { $ref: 'Rush#' }, ...problemResponses },
      },
    },
    async (request) => {
      const { id } = request.params as { id: string }
      const feed = await service.rush(request.tenant!, id)
      return rushView(feed, (request.query as { timeline?: string }).timeline !== 'false')
    },
  )

  app.post(
    '/rushes/:id/abort',
    {
      schema: {
        summary: 'Abort a rush on every engine in every region',
        tags: ['rushes'],
        params: idParam,
        response: {
          200: {
            type: 'object',
            properties: { id: { type: 'string' }, state: { type: 'string' } },
            required: ['id', 'state'],
          },
          ...problemResponses,
        },
      },
    },
    async (request) => {
      const { id } = request.params as { id: string }
      await service.abort(request.tenant!, id)
      return { id, state: 'aborted' }
    },
  )

  app.get(
    '/rushes/:id/report.html',
    {
      schema: {
        summary: 'A rush as a self-contained HTML report with charts (opens offline)',
        description:
          'text/html: the page `stampede rush --report` writes, from this merge and judged on the ' +
          'rush\'s thresholds; its data is embedded as JSON in <script id="stampede-report-data">. A running ' +
          'rush shows its seconds so far. With several regions, per-region charts and a per-region table.',
        tags: ['rushes'],
        params: idParam,
        response: {
          200: { description: 'the report', content: { 'text/html': { schema: { type: 'string' } } } },
          ...problemResponses,
        },
      },
    },
    async (request, reply) => {
      const { id } = request.params as { id: string }
      const feed = await service.rush(request.tenant!, id)
      const html = renderReport(rushReport(feed), reportAssets())
      return reply.type('text/html; charset=utf-8').header('cache-control', 'no-store').send(html)
    },
  )

  app.get(
    '/rushes/:id/events',
    {
      schema: {
        summary: 'Follow a rush: server-sent events, one per merged second, then the end',
        description:
          'text/event-stream. `event: second` (id: the second, data: a Point) for every merged second, in order; ' +
          'then `event: end` (id: end, data: state, summary, thresholds, verdict). Reconnect with ' +
          '`Last-Event-ID` (or ?lastEventId=) to resume without a gap or a repeat.',
        tags: ['rushes'],
        params: idParam,
        querystring: {
          type: 'object',
          properties: { lastEventId: { type: 'string', pattern: '^[0-9]{1,9}$' } },
          additionalProperties: false,
        },
        response: {
          200: {
            description: 'the event stream',
            content: { 'text/event-stream': { schema: { type: 'string' } } },
          },
          ...problemResponses,
        },
      },
    },
    async (request, reply) => {
      const { id } = request.params as { id: string }
      const feed = await service.rush(request.tenant!, id)
      streamEvents(request, reply, feed, options.heartbeatMs)
    },
  )
}

export function usageProblem(err: UsageError): ApiProblem {
  return new ApiProblem('invalid', 400, err.message)
}
