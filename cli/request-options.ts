import { readFileSync } from 'node:fs'
import { UsageError } from '../lib/errors.js'
import { parseDurationSeconds } from '../lib/pattern.js'
import {
  DEFAULT_TIMEOUT_MS,
  parseResolve,
  parseTargetUrl,
  type RequestSpec,
  validateRequestSpec,
} from '../lib/request-spec.js'
import { VERSION } from '../lib/version.js'
import { listOption, type OptionSpec, type ParsedOptions, stringOption } from './options.js'

/** The options that describe the request, shared by `rush` and `sprint`. */
export const REQUEST_OPTIONS: OptionSpec[] = [
  {
    name: 'method',
    short: 'X',
    type: 'string',
    value: 'METHOD',
    description: 'HTTP method (default GET, or POST with a body)',
  },
  {
    name: 'header',
    short: 'H',
    type: 'string',
    multiple: true,
    value: "'NAME: VALUE'",
    description: 'request header',
  },
  { name: 'data', short: 'd', type: 'string', value: 'BODY', description: 'request body' },
  { name: 'data-file', type: 'string', value: 'FILE', description: 'request body read from FILE' },
  {
    name: 'user-agent',
    short: 'A',
    type: 'string',
    value: 'TEXT',
    description: `User-Agent (default stampede/${VERSION})`,
  },
  {
    name: 'cookie',
    short: 'b',
    type: 'string',
    multiple: true,
    value: 'NAME=VALUE',
    description: 'cookie to send',
  },
  { name: 'auth', short: 'u', type: 'string', value: 'USER:PASS', description: 'basic authentication' },
  {
    name: 'timeout',
    short: 't',
    type: 'string',
    value: 'DURATION',
    description: 'per-request timeout, connect included (default 1s)',
  },
  {
    name: 'expect-status',
    type: 'string',
    value: 'CODES',
    description: 'statuses that count as success, e.g. 200, 2xx, 200-299,304',
  },
  {
    name: 'insecure',
    short: 'k',
    type: 'boolean',
    description: 'accept TLS certificates that do not verify',
  },
  {
    name: 'resolve',
    type: 'string',
    multiple: true,
    value: 'HOST:ADDR[,ADDR]',
    description: 'connect to these addresses for HOST instead of DNS',
  },
]

function parseHeader(text: string): [string, string] {
  const colon = text.indexOf(':')
  const name = colon > 0 ? text.slice(0, colon).trim().toLowerCase() : ''
  if (!/^[!#$%&'*+.^_`|~0-9a-z-]+$/.test(name)) {
    throw new UsageError(`invalid header "${text}" (expected 'Name: value')`)
  }
  return [name, text.slice(colon + 1).trim()]
}

export function requestSpecFromOptions(url: string | undefined, values: ParsedOptions): RequestSpec {
  if (!url) throw new UsageError('missing URL')
  parseTargetUrl(url)
  const headers: Record<string, string> = {
    'user-agent': stringOption(values, 'user-agent') ?? `stampede/${VERSION}`,
  }
  for (const header of listOption(values, 'header')) {
    const [name, value] = parseHeader(header)
    headers[name] = value
  }
  const cookies = listOption(values, 'cookie')
  if (cookies.length > 0) headers.cookie = [headers.cookie, ...cookies].filter(Boolean).join('; ')
  const auth = stringOption(values, 'auth')
  if (auth !== undefined) {
    if (!auth.includes(':')) throw new UsageError('--auth takes USER:PASS')
    headers.authorization = `Basic ${Buffer.from(auth).toString('base64')}`
  }

  const data = stringOption(values, 'data')
  const dataFile = stringOption(values, 'data-file')
  if (data !== undefined && dataFile !== undefined)
    throw new UsageError('give --data or --data-file, not both')
  let body: Buffer | undefined
  if (data !== undefined) body = Buffer.from(data)
  if (dataFile !== undefined) {
    try {
      body = readFileSync(dataFile)
    } catch (err) {
      throw new UsageError(
        `cannot read --data-file ${dataFile}: ${(err as NodeJS.ErrnoException).code ?? err}`,
      )
    }
  }

  const timeout = stringOption(values, 'timeout')
  const timeoutMs = timeout === undefined ? DEFAULT_TIMEOUT_MS : parseDurationSeconds(timeout) * 1000
  const spec: RequestSpec = {
    method: (stringOption(values, 'method') ?? (body ? 'POST' : 'GET')).toUpperCase(),
    url,
    headers,
    timeoutMs,
  }
  if (body) spec.bodyBase64 = body.toString('base64')
  const expect = stringOption(values, 'expect-status')
  if (expect !== undefined) spec.expectStatus = expect
  if (values.insecure === true) spec.insecure = true
  const resolve = parseResolve(listOption(values, 'resolve'))
  if (resolve) spec.resolve = resolve
  return validateRequestSpec(spec)
}
