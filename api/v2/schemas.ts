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

const VARIABLE_NAME = '^[A-Za-z_][A-Za-z0-9_.-]*$'

/** An extraction as the scenario file writes it (docs/scenario.schema.json). */
export const EXTRACT = {
  $id: 'Extract',
  type: 'object',
  description:
    'a value of the response into a variable for later steps: exactly one of cookie (the variable is the ' +
    "cookie name unless as says otherwise), header, json (a path: $, .name, ['name'], [n], [-1]) or regex " +
    '(the first match: its first group, or the whole match); a step whose extraction finds nothing counts an ' +
    'error of kind extract and ends the iteration',
  properties: {
    cookie: { type: 'string', minLength: 1, maxLength: 256 },
    header: { type: 'string', minLength: 1, maxLength: 256 },
    json: { type: 'string', minLength: 1, maxLength: 1024 },
    regex: { type: 'string', minLength: 1, maxLength: 1024 },
    as: { type: 'string', pattern: VARIABLE_NAME, maxLength: 64 },
  },
  minProperties: 1,
  additionalProperties: false,
} as const

export const STEP = {
  $id: 'Step',
  type: 'object',
  description:
    'one request of a transaction; #{NAME} may appear in its URL path and query, header values and body',
  properties: {
    name: {
      type: 'string',
      pattern: '^[A-Za-z_][A-Za-z0-9_-]*$',
      maxLength: 64,
      description: 'default stepN; thresholds may name it (login.p95<300ms)',
    },
    request: { $ref: 'Request#' },
    extract: { type: 'array', items: { $ref: 'Extract#' }, maxItems: 16 },
    think: {
      type: 'object',
      description: 'pause after the step: fixed (minMs) or uniform in minMs..maxMs',
      properties: {
        minMs: { type: 'integer', minimum: 0, maximum: 3600000 },
        maxMs: { type: 'integer', minimum: 0, maximum: 3600000 },
      },
      required: ['minMs'],
      additionalProperties: false,
    },
    follow: {
      type: 'integer',
      minimum: 0,
      maximum: 20,
      description:
        'redirects to follow (0 to 20); each hop only to a host of the steps (the hosts you proved), a hop elsewhere is refused by the engine',
    },
  },
  required: ['request'],
  additionalProperties: false,
} as const

export const TRANSACTION = {
  $id: 'Transaction',
  type: 'object',
  description:
    'steps run in order by every user, who keeps its cookies and variables across steps and iterations ' +
    '(docs/transactions.md)',
  properties: {
    steps: { type: 'array', items: { $ref: 'Step#' }, minItems: 1, maxItems: 50 },
    variables: {
      type: 'object',
      // OpenAPI 3.0 has no propertyNames: the names (letters, digits, _ . -) are checked by the API.
      description:
        'NAME (letters, digits, _ . -) → list[a,b], alpha[min,max,count], number[min,max,count], uuid or udid',
      additionalProperties: { type: 'string', maxLength: 65536 },
      maxProperties: 64,
    },
    data: {
      type: 'object',
      description:
        "a data file's rows inline (the columns become variables); sequential: each iteration the next row; " +
        'random; unique: each row at most once in the whole rush, across regions, engines and processes',
      properties: {
        name: { type: 'string', maxLength: 256, description: 'for messages (a file name)' },
        mode: { type: 'string', enum: ['sequential', 'random', 'unique'], default: 'sequential' },
        columns: {
          type: 'array',
          items: { type: 'string', pattern: VARIABLE_NAME, maxLength: 64 },
          minItems: 1,
          maxItems: 64,
        },
        rows: { type: 'array', items: { type: 'array', items: { type: 'string' } }, minItems: 1 },
      },
      required: ['columns', 'rows'],
      additionalProperties: false,
    },
  },
  required: ['steps'],
  additionalProperties: false,
} as const

export const RUSH_REQUEST = {
  $id: 'RushRequest',
  type: 'object',
  description:
    'a rush: exactly one of request (one request) or transaction (several steps), and exactly one of pattern ' +
    '(concurrent users) or rate (requests, or transactions, started per second)',
  properties: {
    request: { $ref: 'Request#' },
    transaction: { $ref: 'Transaction#' },
    pattern: { type: 'string', maxLength: 1000, description: 'users, e.g. 1-250:60,250:30' },
    rate: { type: 'string', maxLength: 1000, description: 'requests per second, e.g. 100-2000:60' },
    maxInFlight: { type: 'integer', minimum: 1, maximum: 1000000 },
    pipelining: {
      type: 'integer',
      minimum: 1,
      maximum: 64,
      description:
        'with pattern and a request to a plain http: target: requests each user keeps in flight on its connection (HTTP/1.1 pipelining; default 1, off)',
    },
    regions: { type: 'array', items: { type: 'string', maxLength: 64 }, minItems: 1, maxItems: 16 },
    thresholds: { type: 'array', items: { type: 'string', maxLength: 100 }, maxItems: 32 },
    shardsPerRegion: { type: 'integer', minimum: 1, maximum: 64 },
  },
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
    exhausted: {
      type: 'integer',
      description: "a transaction's iterations on this shard that found no unique data row left",
    },
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
    pipelining: {
      type: 'integer',
      description: 'requests each user keeps in flight (HTTP/1.1 pipelining); absent: one at a time',
    },
    regions: { type: 'array', items: { type: 'string' } },
    createdAt: { type: 'string', format: 'date-time' },
    startAt: { type: 'string', format: 'date-time' },
    shards: { type: 'array', items: { $ref: 'Shard#' } },
    seconds: { type: 'integer', description: 'merged seconds so far' },
    summary: { type: 'object', additionalProperties: true },
    steps: { type: 'array', items: { type: 'string' }, description: "a transaction's step names, in order" },
    transaction: {
      type: 'object',
      additionalProperties: true,
      description:
        "a transaction's figures: steps [{name, summary}] (each merged exactly across engines), iterations " +
        '(the whole transaction), exhausted (iterations that found no unique data row left)',
    },
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

export const SHARED_SCHEMAS = [
  PROBLEM,
  REQUEST,
  EXTRACT,
  STEP,
  TRANSACTION,
  RUSH_REQUEST,
  SHARD,
  POINT,
  THRESHOLD_RESULT,
  RUSH,
  HOST,
]

export const problemResponses = {
  '4xx': { $ref: 'Problem#' },
  '5xx': { $ref: 'Problem#' },
} as const
