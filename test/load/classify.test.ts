import t from 'tap'
import type { ErrorKind } from '../../lib/timeline.js'
import { classifyError } from '../../load/classify.js'

const withCode = (code: string) => Object.assign(new Error(code), { code })

const kinds: [string, ErrorKind][] = [
  ['STAMPEDE_ADDRESS_REFUSED', 'refused'],
  ['ENOTFOUND', 'dns'],
  ['EAI_AGAIN', 'dns'],
  ['EAI_FAIL', 'dns'],
  ['EAI_NONAME', 'dns'],
  ['EAI_NODATA', 'dns'],
  ['STAMPEDE_DNS', 'dns'],
  ['ECONNREFUSED', 'connect'],
  ['EHOSTUNREACH', 'connect'],
  ['ENETUNREACH', 'connect'],
  ['EADDRNOTAVAIL', 'connect'],
  ['EADDRINUSE', 'connect'],
  ['EMFILE', 'connect'],
  ['ENFILE', 'connect'],
  ['ERR_TLS_CERT_ALTNAME_INVALID', 'tls'],
  ['ERR_SSL_WRONG_VERSION_NUMBER', 'tls'],
  ['EPROTO', 'tls'],
  ['CERT_HAS_EXPIRED', 'tls'],
  ['DEPTH_ZERO_SELF_SIGNED_CERT', 'tls'],
  ['SELF_SIGNED_CERT_IN_CHAIN', 'tls'],
  ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'tls'],
  ['UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'tls'],
  ['HPE_INVALID_CONSTANT', 'parse'],
  ['HPE_INVALID_HEADER_TOKEN', 'parse'],
  ['UND_ERR_RES_CONTENT_LENGTH_MISMATCH', 'parse'],
  ['UND_ERR_RES_EXCEEDED_MAX_SIZE', 'parse'],
  ['UND_ERR_HEADERS_OVERFLOW', 'parse'],
  ['UND_ERR_INVALID_ARG', 'parse'],
  ['EFOO', 'other'],
  ['UND_ERR_ABORTED', 'other'],
  ['', 'other'],
]

t.test('error codes sort into kinds, whether or not the connection was up', async (t) => {
  for (const [code, kind] of kinds) {
    t.equal(classifyError(withCode(code), false), kind, `${code || '(empty)'} before connecting is ${kind}`)
    t.equal(classifyError(withCode(code), true), kind, `${code || '(empty)'} once connected is ${kind}`)
  }
})

t.test(
  'a reset or closed socket is a connect failure before the connection is up and a socket failure after',
  async (t) => {
    for (const code of ['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'UND_ERR_DESTROYED']) {
      t.equal(classifyError(withCode(code), false), 'connect', `${code} before connecting`)
      t.equal(classifyError(withCode(code), true), 'socket', `${code} once connected`)
    }
  },
)

t.test('anything without a code is another kind of failure', async (t) => {
  for (const err of [new Error('boom'), null, undefined, 'text', 42, {}, { code: 7 }]) {
    t.equal(classifyError(err, true), 'other', String(err))
  }
})

t.test('codes are matched exactly, not by prefix', async (t) => {
  t.equal(classifyError(withCode('ENOTFOUNDX'), false), 'other')
  t.equal(classifyError(withCode('econnrefused'), false), 'other')
  t.equal(classifyError(withCode('EPROTONOSUPPORT'), false), 'other', 'EPROTO is TLS, EPROTONOSUPPORT is not')
})

t.test("undici's HTTPParserError is a parse failure even without a code", async (t) => {
  const err = Object.assign(new Error('Response does not match the HTTP/1.1 protocol'), {
    name: 'HTTPParserError',
  })
  t.equal(classifyError(err, true), 'parse')
})
