/**
 * JSON schemas of API v2: they validate requests, serialize responses and make the
 * OpenAPI document (one source). Shared ones are registered by `$id` and become
 * `#/components/schemas/<id>` in the document.
 */
export const PROBLEM = {
  $id: 'Problem',
  type: 'object',
  description: 'RFC 9457 problem document (application/problem+json)',
  properties: {
    type: { type: 'string' },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string' },
    field: { type: 'string', description: 'the request field at fault' },
    quota: { type: 'string', description: 'the quota that refused the request' },
  },
  required: ['type', 'title', 'status', 'detail'],
  additionalProperties: true,
} as const

const stringMap = {
  type: 'object',
  additionalProperties: { type: 'string', maxLength: 8192 },
  maxProperties: 64,
}

export const REQUEST = {
  $id: 'Request',
  type: 'object',
  description: 'what each user sends',
  properties: {
    url: { type: 'string', minLength: 1, maxLength: 4096, description: 'http or https URL' },
    method: { type: 'string', pattern: '^[A-Za-z]{1,16}$', default: 'GET' },
    headers: { ...stringMap, description: 'header name → value' },
    body: { type: 'string', maxLength: 20480, description: 'request body (UTF-8 text)' },
    timeoutMs: { type: 'integer', minimum: 1, maximum: 300000, default: 1000 },
    expectStatus: { type: 'string', maxLength: 64, description: 'statuses that count as success, e.g. 2xx' },
  },
  required: ['url'],
  additionalProperties: false,
} as const

export const RUSH_REQUEST = {
  $id: 'RushRequest',
  type: 'object',
  description: 'a rush: exactly one of pattern (concurrent users) or rate (requests per second)',
  properties: {
    request: { $ref: 'Request#' },
    pattern: { type: 'string', maxLength: 1000, description: 'users, e.g. 1-250:60,250:30' },
    rate: { type: 'string', maxLength: 1000, description: 'requests per second, e.g. 100-2000:60' },
    maxInFlight: { type: 'integer', minimum: 1, maximum: 1000000 },
    regions: { type: 'array', items: { type: 'string', maxLength: 64 }, minItems: 1, maxItems: 16 },
    thresholds: { type: 'array', items: { type: 'string', maxLength: 100 }, maxItems: 32 },
    shardsPerRegion: { type: 'integer', minimum: 1, maximum: 64 },
  },
  required: ['request'],
  additionalProperties: false,
} as const

export const SHARD = {
  $id: 'Shard',
  type: 'object',
  properties: {
    id: { type: 'string' },
    region: { type: 'string' },
    state: { type: 'string' },
    engine: { type: 'string' },
    progress: { type: 'integer' },
    reason: { type: 'string' },
  },
  required: ['id', 'region', 'state'],
} as const

export const POINT = {
  $id: 'Point',
  type: 'object',
  description: 'one merged second (latencies and connect times in microseconds)',
  additionalProperties: true,
  properties: { t: { type: 'integer' } },
} as const

export const THRESHOLD_RESULT = {
  $id: 'ThresholdResult',
  type: 'object',
  properties: {
    threshold: { type: 'string' },
    actual: { type: 'number' },
    passed: { type: 'boolean' },
  },
  required: ['threshold', 'actual', 'passed'],
} as const

export const RUSH = {
  $id: 'Rush',
  type: 'object',
  properties: {
    id: { type: 'string' },
    state: { type: 'string', enum: ['queued', 'running', 'done', 'failed', 'aborted'] },
    model: { type: 'string', enum: ['rush', 'arrival-rate'] },
    url: { type: 'string' },
    method: { type: 'string' },
    pattern: { type: 'string' },
    regions: { type: 'array', items: { type: 'string' } },
    createdAt: { type: 'string', format: 'date-time' },
    startAt: { type: 'string', format: 'date-time' },
    shards: { type: 'array', items: { $ref: 'Shard#' } },
    seconds: { type: 'integer', description: 'merged seconds so far' },
    summary: { type: 'object', additionalProperties: true },
    thresholds: { type: 'array', items: { $ref: 'ThresholdResult#' } },
    verdict: { type: 'string', enum: ['pending', 'passed', 'failed'] },
    timeline: { type: 'array', items: { $ref: 'Point#' } },
  },
  required: ['id', 'state', 'model', 'url', 'pattern', 'regions', 'createdAt', 'startAt'],
} as const

export const HOST = {
  $id: 'Host',
  type: 'object',
  properties: {
    host: { type: 'string' },
    token: { type: 'string' },
    proven: { type: 'boolean' },
    provenAt: { type: 'string', format: 'date-time' },
    provenBy: { type: 'string', enum: ['http', 'dns', 'operator'] },
    instructions: { type: 'string' },
    checks: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          method: { type: 'string' },
          url: { type: 'string' },
          code: { type: 'integer' },
          bytes: { type: 'integer' },
          error: { type: 'string' },
        },
      },
    },
  },
  required: ['host', 'token', 'proven', 'instructions'],
} as const

export const SHARED_SCHEMAS = [PROBLEM, REQUEST, RUSH_REQUEST, SHARD, POINT, THRESHOLD_RESULT, RUSH, HOST]

export const problemResponses = {
  '4xx': { $ref: 'Problem#' },
  '5xx': { $ref: 'Problem#' },
} as const
