// biome-ignore-all lint/suspicious/noExplicitAny: JSON answers of the API, read field by field
import type { FastifyInstance } from 'fastify'
import type { SprintDoc } from '../../lib/documents.js'
import type { RequestSpec } from '../../lib/request-spec.js'
import type { ApiService } from '../service.js'
import { problemResponses } from './schemas.js'

export function sprintView(doc: SprintDoc) {
  return {
    id: doc.sprint,
    state: doc.state,
    region: doc.region,
    url: doc.request.url,
    method: doc.request.method,
    createdAt: new Date(doc.createdAt).toISOString(),
    ...(doc.engine !== undefined && { engine: doc.engine }),
    ...(doc.result !== undefined && { result: doc.result }),
  }
}

const SPRINT = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    state: { type: 'string', enum: ['queued', 'running', 'done', 'failed'] },
    region: { type: 'string' },
    url: { type: 'string' },
    method: { type: 'string' },
    createdAt: { type: 'string', format: 'date-time' },
    engine: { type: 'string' },
    result: {
      type: 'object',
      additionalProperties: true,
      description: 'each phase timed (ms), status line, headers, the first bytes of the body',
    },
  },
  required: ['id', 'state', 'region', 'url', 'method', 'createdAt'],
} as const

export async function sprintRoutes(app: FastifyInstance, options: { service: ApiService }) {
  const { service } = options
  app.post(
    '/sprints',
    {
      schema: {
        summary: 'Send one request from an engine of a region, with every detail',
        tags: ['sprints'],
        body: {
          type: 'object',
          properties: { request: { $ref: 'Request#' }, region: { type: 'string', maxLength: 64 } },
          required: ['request'],
          additionalProperties: false,
        },
        response: { 201: SPRINT, ...problemResponses },
      },
    },
    async (request, reply) => {
      const body = request.body as { request: Record<string, any>; region?: string }
      const headers: Record<string, string> = {}
      for (const [name, value] of Object.entries(body.request.headers ?? {}))
        headers[name.toLowerCase()] = String(value)
      const spec: RequestSpec = {
        method: String(
          body.request.method ?? (body.request.body !== undefined ? 'POST' : 'GET'),
        ).toUpperCase(),
        url: body.request.url,
        headers,
        timeoutMs: body.request.timeoutMs ?? 1000,
      }
      if (body.request.body !== undefined)
        spec.bodyBase64 = Buffer.from(String(body.request.body)).toString('base64')
      if (body.request.expectStatus !== undefined) spec.expectStatus = body.request.expectStatus
      const region = service.region(body.region ?? service.options.regions[0]!, 'region')
      const doc = await service.submitSprint(request.tenant!, spec, region)
      reply.code(201).header('location', `/api/v2/sprints/${doc.sprint}`)
      return sprintView(doc)
    },
  )
  app.get(
    '/sprints/:id',
    {
      schema: {
        summary: 'A sprint and, once an engine ran it, its result',
        tags: ['sprints'],
        params: { type: 'object', properties: { id: { type: 'string', maxLength: 80 } }, required: ['id'] },
        response: { 200: SPRINT, ...problemResponses },
      },
    },
    async (request) =>
      sprintView(await service.sprint(request.tenant!, (request.params as { id: string }).id)),
  )
}
