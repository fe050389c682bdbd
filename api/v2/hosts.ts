import type { FastifyInstance } from 'fastify'
import { proofTargetOf, proofUrl } from '../proof.js'
import { ApiProblem, type ApiService } from '../service.js'
import type { HostDoc } from '../store.js'
import { problemResponses } from './schemas.js'

const HOST_NAME =
  /^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$|^[0-9a-f:.]+$/i

export function hostView(host: HostDoc, ttlMs: number, now: number) {
  const target = proofTargetOf(new URL(`http://${host.host.includes(':') ? `[${host.host}]` : host.host}/`))
  const proven = host.operator === true || (host.provenAt !== undefined && now - host.provenAt < ttlMs)
  return {
    host: host.host,
    token: host.token,
    proven,
    ...(host.provenAt !== undefined && { provenAt: new Date(host.provenAt).toISOString() }),
    ...(host.operator
      ? { provenBy: 'operator' }
      : host.provenBy !== undefined && { provenBy: host.provenBy }),
    instructions: `serve ${proofUrl(target, host.token)} (any scheme and port you load) answering ${host.token}, or publish a DNS TXT record _stampede.${host.host} holding it; then POST /api/v2/hosts/${host.host}/verify`,
    ...(host.lastCheck && { checks: host.lastCheck.checks }),
  }
}

function checkHost(name: string): string {
  const host = name.toLowerCase().replace(/^\[|\]$/g, '')
  if (!HOST_NAME.test(host) || host.length > 253)
    throw new ApiProblem('invalid', 400, `"${name}" is not a host name`, { field: '/host' })
  return host
}

export async function hostRoutes(app: FastifyInstance, options: { service: ApiService }) {
  const { service } = options
  const ttl = service.options.proofTtlMs
  app.post(
    '/hosts',
    {
      schema: {
        summary: 'Ask for the token that proves a host is yours',
        tags: ['hosts'],
        body: {
          type: 'object',
          properties: { host: { type: 'string', minLength: 1, maxLength: 253 } },
          required: ['host'],
          additionalProperties: false,
        },
        response: { 201: { $ref: 'Host#' }, ...problemResponses },
      },
    },
    async (request, reply) => {
      const host = checkHost((request.body as { host: string }).host)
      const now = service.options.clock()
      const doc = await service.store.hostOrNew(request.tenant!.name, host, now)
      reply.code(201)
      return hostView(doc, ttl, now)
    },
  )

  app.get(
    '/hosts',
    {
      schema: {
        summary: "The tenant's hosts and their proofs",
        tags: ['hosts'],
        response: {
          200: {
            type: 'object',
            properties: { hosts: { type: 'array', items: { $ref: 'Host#' } } },
            required: ['hosts'],
          },
          ...problemResponses,
        },
      },
    },
    async (request) => {
      const now = service.options.clock()
      const hosts = await service.store.listHosts(request.tenant!.name)
      return { hosts: hosts.map((host) => hostView(host, ttl, now)) }
    },
  )

  app.post(
    '/hosts/:host/verify',
    {
      schema: {
        summary: 'Check the proof of a host now (HTTP token file, then DNS TXT)',
        tags: ['hosts'],
        params: {
          type: 'object',
          properties: { host: { type: 'string', maxLength: 253 } },
          required: ['host'],
        },
        body: {
          type: ['object', 'null'],
          properties: {
            scheme: { type: 'string', enum: ['http', 'https'] },
            port: { type: 'integer', minimum: 1, maximum: 65535 },
          },
          additionalProperties: false,
        },
        response: { 200: { $ref: 'Host#' }, ...problemResponses },
      },
    },
    async (request) => {
      const host = checkHost((request.params as { host: string }).host)
      const body = (request.body ?? {}) as { scheme?: string; port?: number }
      const literal = host.includes(':') ? `[${host}]` : host
      const url = new URL(`${body.scheme ?? 'http'}://${literal}${body.port ? `:${body.port}` : ''}/`)
      const doc = await service.verify(request.tenant!, host, url)
      return hostView(doc, ttl, service.options.clock())
    },
  )
}
