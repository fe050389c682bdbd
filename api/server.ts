import rateLimit from '@fastify/rate-limit'
import swagger from '@fastify/swagger'
import Fastify, {
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify'
import type { Couch } from '../lib/couch/client.js'
import { StampedeError } from '../lib/errors.js'
import { VERSION } from '../lib/version.js'
import { Authenticator, credentialsOf } from './auth.js'
import { dashboardRoutes } from './dashboard.js'
import { Feeds } from './feeds.js'
import { ApiProblem, ApiService, type ServiceOptions } from './service.js'
import { ApiStore, type TenantDoc } from './store.js'
import { blitzError, blitzRoutes } from './v1/blitz.js'
import { hostRoutes } from './v2/hosts.js'
import { rushRoutes } from './v2/rushes.js'
import { SHARED_SCHEMAS } from './v2/schemas.js'
import { sprintRoutes } from './v2/sprints.js'

declare module 'fastify' {
  interface FastifyRequest {
    tenant?: TenantDoc
  }
  interface FastifyContextConfig {
    /** No API key needed (health, the OpenAPI document). */
    public?: boolean
    /** blitz v1: errors as {error, reason}, not problem documents. */
    blitz?: boolean
  }
}

export interface ApiOptions extends Omit<ServiceOptions, 'clock'> {
  couch: Couch
  clock?: () => number
  /** Requests per key per minute (0: no limit). */
  rateLimit?: number
  /** How long a key → tenant lookup is reused. */
  authCacheMs?: number
  /** Between reads of a followed rush's shards and samples. */
  mergePollMs?: number
  bodyLimit?: number
  /** pino options, or false for no log. */
  logger?: boolean | object
  heartbeatMs?: number
}

export interface Api {
  app: FastifyInstance
  service: ApiService
  store: ApiStore
}

/** JSON bodies whatever their type; invalid UTF-8 is refused rather than patched over. */
const UTF8 = new TextDecoder('utf-8', { fatal: true })
function parseJsonBody(
  _request: FastifyRequest,
  body: Buffer,
  done: (err: Error | null, value?: unknown) => void,
) {
  if (body.length === 0) return done(null, undefined)
  let text: string
  try {
    text = UTF8.decode(body)
  } catch {
    return done(new ApiProblem('invalid', 400, 'the body is not valid UTF-8'))
  }
  try {
    done(null, JSON.parse(text))
  } catch (err) {
    done(new ApiProblem('invalid', 400, `the body is not valid JSON: ${(err as Error).message}`))
  }
}

const TITLES: Record<ApiProblem['kind'], string> = {
  invalid: 'Invalid request',
  quota: 'Over quota',
  authorize: 'Host not proven',
  'not-found': 'Not found',
  unauthorized: 'Unauthorized',
  forbidden: 'Forbidden',
  unsupported: 'Not supported yet',
  unavailable: 'Unavailable',
}

/** Any failure as an ApiProblem: validation, body limits, CouchDB trouble. */
export function asProblem(err: unknown): ApiProblem {
  if (err instanceof ApiProblem) return err
  const fastifyError = err as FastifyError
  if (fastifyError.validation) {
    const first = fastifyError.validation[0]!
    const missing = (first.params as { missingProperty?: string; additionalProperty?: string }) ?? {}
    const field =
      missing.missingProperty !== undefined
        ? `${first.instancePath}/${missing.missingProperty}`
        : missing.additionalProperty !== undefined
          ? `${first.instancePath}/${missing.additionalProperty}`
          : first.instancePath || '/'
    return new ApiProblem(
      'invalid',
      400,
      `${fastifyError.validationContext ?? 'body'}${first.instancePath} ${first.message}${missing.additionalProperty ? `: ${missing.additionalProperty}` : ''}`,
      {
        field,
      },
    )
  }
  const status = fastifyError.statusCode
  if (status === 413) return new ApiProblem('invalid', 413, 'the body is too large', { field: '/' })
  if (status === 415) return new ApiProblem('invalid', 415, fastifyError.message)
  if (status === 429) return new ApiProblem('quota', 429, fastifyError.message, { quota: 'rate-limit' })
  if (status !== undefined && status >= 400 && status < 500)
    return new ApiProblem('invalid', status, fastifyError.message)
  if (err instanceof StampedeError && err.code === 'STAMPEDE_COUCH')
    return new ApiProblem('unavailable', 503, 'the job plane is unavailable; try again')
  return new ApiProblem('unavailable', 500, 'internal error')
}

function sendProblem(request: FastifyRequest, reply: FastifyReply, problem: ApiProblem) {
  if (
    request.routeOptions.config?.blitz ||
    request.url.startsWith('/api/1/') ||
    request.url.startsWith('/login/')
  ) {
    return reply.code(problem.status).type('application/json').send(blitzError(problem))
  }
  return reply
    .code(problem.status)
    .type('application/problem+json')
    .send({
      type: problem.kind === 'invalid' ? 'about:blank' : `urn:stampede:problem:${problem.kind}`,
      title: TITLES[problem.kind],
      status: problem.status,
      detail: problem.message,
      ...problem.extra,
    })
}

export async function buildApi(options: ApiOptions): Promise<Api> {
  const clock = options.clock ?? Date.now
  const store = new ApiStore(options.couch)
  await store.ensure()
  const feeds = new Feeds(options.couch, { pollMs: options.mergePollMs ?? 250, keepMs: 10 * 60_000, clock })
  const service = new ApiService(store, feeds, { ...options, clock })
  const auth = new Authenticator(store, options.authCacheMs ?? 5000, clock)

  const app = Fastify({
    logger:
      options.logger === false || options.logger === undefined
        ? false
        : {
            ...(typeof options.logger === 'object' ? options.logger : {}),
            // Keys never reach the log, whatever is logged later.
            redact: [
              'req.headers.authorization',
              'req.headers["x-api-key"]',
              'headers.authorization',
              'headers["x-api-key"]',
            ],
          },
    bodyLimit: options.bodyLimit ?? 256 * 1024,
    ajv: {
      customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: true, allErrors: false },
    },
    return503OnClosing: true,
  })
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', { parseAs: 'buffer' }, parseJsonBody)
  for (const schema of SHARED_SCHEMAS) app.addSchema(schema)

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Stampede API',
        version: VERSION,
        description:
          'Multi-tenant load testing: rushes on shared engines in every region, their merged results live, ' +
          'and the proof of host ownership. Authenticate with `Authorization: Bearer KEY` or `X-API-User` + `X-API-Key`.',
      },
      servers: [{ url: '/api/v2' }],
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer' },
          apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
        },
      },
      security: [{ bearer: [] }, { apiKey: [] }],
    },
    refResolver: { buildLocalReference: (json, _base, _fragment, i) => String(json.$id ?? `def-${i}`) },
    transform: ({ schema, url }) => ({ schema: schema as never, url: url.replace(/^\/api\/v2/, '') }),
  })

  app.decorateRequest('tenant', undefined)
  app.addHook('onRequest', async (request) => {
    if (request.routeOptions.config?.public) return
    request.tenant = await auth.tenant(credentialsOf(request))
  })
  if ((options.rateLimit ?? 600) > 0) {
    await app.register(rateLimit, {
      hook: 'preHandler',
      max: options.rateLimit ?? 600,
      timeWindow: 60_000,
      keyGenerator: (request) => request.tenant?.name ?? request.ip,
      errorResponseBuilder: (_request, context) =>
        new ApiProblem(
          'quota',
          429,
          `rate limit: ${context.max} requests a minute; retry in ${context.after}`,
          {
            quota: 'rate-limit',
          },
        ),
    })
  }
  app.setErrorHandler((err, request, reply) => {
    const problem = asProblem(err)
    if (problem.status >= 500) request.log.error({ err }, 'request failed')
    return sendProblem(request, reply, problem)
  })
  app.setNotFoundHandler((request, reply) =>
    sendProblem(
      request,
      reply,
      new ApiProblem('not-found', 404, `no route ${request.method} ${request.url.split('?')[0]}`),
    ),
  )

  app.get('/health', { config: { public: true, rateLimit: false }, schema: { hide: true } }, async () => ({
    ok: true,
    version: VERSION,
  }))
  app.get(
    '/api/v2/openapi.json',
    { config: { public: true, rateLimit: false }, schema: { hide: true } },
    async () => app.swagger(),
  )
  await app.register(
    async (v2) => {
      await v2.register(rushRoutes, { service, heartbeatMs: options.heartbeatMs ?? 15_000 })
      await v2.register(hostRoutes, { service })
      await v2.register(sprintRoutes, { service })
    },
    { prefix: '/api/v2' },
  )
  await app.register(blitzRoutes, { service })
  await app.register(dashboardRoutes)
  app.addHook('onClose', async () => feeds.close())
  await app.ready()
  return { app, service, store }
}
