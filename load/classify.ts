import { type ErrorCode, hasCode } from '../lib/errors.js'
import type { ErrorKind } from '../lib/timeline.js'

const DNS = new Set<string>([
  'ENOTFOUND',
  'EAI_AGAIN',
  'EAI_FAIL',
  'EAI_NONAME',
  'EAI_NODATA',
  'STAMPEDE_DNS' satisfies ErrorCode,
])
const CONNECT = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'EADDRINUSE',
  'EMFILE',
  'ENFILE',
])
const SOCKET = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'UND_ERR_DESTROYED'])
const PARSE = new Set([
  'UND_ERR_RES_CONTENT_LENGTH_MISMATCH',
  'UND_ERR_RES_EXCEEDED_MAX_SIZE',
  'UND_ERR_HEADERS_OVERFLOW',
  'UND_ERR_INVALID_ARG',
])
const TLS = /^(ERR_TLS_|ERR_SSL_|EPROTO$)|CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)/

/**
 * Sorts a failed request into a kind. `connected` tells whether the connection was up
 * when it failed: a reset before that is a connect failure, after it a socket failure.
 */
export function classifyError(err: unknown, connected: boolean): ErrorKind {
  const code = String((err as { code?: unknown })?.code ?? '')
  if (hasCode(err, 'STAMPEDE_ADDRESS_REFUSED')) return 'refused'
  if (DNS.has(code)) return 'dns'
  if (TLS.test(code)) return 'tls'
  // undici's HTTPParserError carries the llhttp code only in some versions: go by name too.
  if (code.startsWith('HPE_') || PARSE.has(code) || (err as Error)?.name === 'HTTPParserError') return 'parse'
  if (CONNECT.has(code)) return 'connect'
  if (SOCKET.has(code)) return connected ? 'socket' : 'connect'
  return 'other'
}
