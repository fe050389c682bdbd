import { once } from 'node:events'
import { connect, createServer, type Server } from 'node:net'
import t from 'tap'
import { Client, type Dispatcher } from 'undici'
import type { RequestSpec } from '../../lib/request-spec.js'
import { prepareRequest } from '../../load/request.js'

const spec = (overrides: Partial<RequestSpec>): RequestSpec => ({
  method: 'GET',
  url: 'http://127.0.0.1:8080/',
  headers: {},
  timeoutMs: 1000,
  ...overrides,
})

t.test('prepareRequest builds dispatch options from the spec', async (t) => {
  const { options } = prepareRequest(
    spec({
      method: 'POST',
      url: 'http://example.test:8080/a/b?x=1&y=2#fragment',
      headers: { 'x-one': '1', authorization: 'Basic abc' },
      bodyBase64: Buffer.from('hello').toString('base64'),
    }),
  )
  t.equal(options.path, '/a/b?x=1&y=2', 'path keeps the query and drops the fragment')
  t.equal(options.method, 'POST')
  t.same(options.headers, ['x-one', '1', 'authorization', 'Basic abc'], 'headers are a flat name/value list')
  t.same(options.body, Buffer.from('hello'), 'the body is decoded from base64')
  t.equal(options.blocking, false)
})

t.test('a spec without a body dispatches a null body', async (t) => {
  t.equal(prepareRequest(spec({})).options.body, null)
})

t.test('prepareRequest refuses a URL that is not a load target', async (t) => {
  t.throws(() => prepareRequest(spec({ url: 'ftp://example.test/' })), { code: 'STAMPEDE_USAGE' })
})

/**
 * A raw TCP server that reads one HTTP/1.1 request (head, then content-length bytes of
 * body), answers 204 and reports how many bytes the request took on the wire.
 */
async function listen(): Promise<{ server: Server; port: number; received: number[] }> {
  const received: number[] = []
  const server = createServer((socket) => {
    let buffered = Buffer.alloc(0)
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk])
      for (;;) {
        const headEnd = buffered.indexOf('\r\n\r\n')
        if (headEnd < 0) return
        const head = buffered.subarray(0, headEnd).toString('latin1')
        const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? 0)
        const total = headEnd + 4 + length
        if (buffered.length < total) return
        received.push(total)
        buffered = buffered.subarray(total)
        socket.write('HTTP/1.1 204 No Content\r\n\r\n')
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('no port')
  return { server, port: address.port, received }
}

/** Dispatches the prepared request the way the load exchange does (a Client, pipelining 1). */
async function send(origin: string, options: Dispatcher.DispatchOptions): Promise<number> {
  const client = new Client(origin, { pipelining: 1 })
  try {
    return await new Promise<number>((resolve, reject) => {
      let status = 0
      client.dispatch(options, {
        onConnect() {},
        onHeaders(statusCode: number) {
          status = statusCode
          return true
        },
        onData() {
          return true
        },
        onComplete() {
          resolve(status)
        },
        onError(err: Error) {
          reject(err)
        },
      } as Dispatcher.DispatchHandler)
    })
  } finally {
    await client.close()
  }
}

const wire = await listen()
t.teardown(() => new Promise<void>((resolve) => wire.server.close(() => resolve())))
const base = `http://127.0.0.1:${wire.port}`

/** Sends the prepared request to the counting server; returns [counted, on the wire]. */
async function measure(overrides: Partial<RequestSpec>): Promise<[number, number | undefined]> {
  const prepared = prepareRequest(spec({ url: `${base}/`, ...overrides }))
  const before = wire.received.length
  const status = await send(base, prepared.options)
  if (status !== 204 || wire.received.length !== before + 1)
    throw new Error('the counting server did not see one request')
  const written = wire.received.at(-1)
  if (prepared.wire !== null) {
    // The lean path's bytes: written as they are, the server must count the same.
    const socket = connect(wire.port, '127.0.0.1')
    socket.on('data', () => socket.destroy())
    const closed = once(socket, 'close')
    socket.write(prepared.wire)
    await closed
    if (wire.received.at(-1) !== written || wire.received.length !== before + 2)
      throw new Error(`the lean path's bytes differ from undici's (${prepared.wire.length})`)
    if (prepared.wire.length !== prepared.bytes) throw new Error('the lean bytes are not the counted size')
  }
  return [prepared.bytes, written]
}

const body = Buffer.from('{"name":"stampede","n":42}').toString('base64')
const matching: [string, Partial<RequestSpec>][] = [
  ['a bare GET', {}],
  ['a GET with a path and an encoded query', { url: `${base}/some/path?q=1&r=%20x` }],
  [
    'a GET with several headers',
    { headers: { accept: 'application/json', 'x-trace': 'abc123', authorization: 'Bearer t0k3n' } },
  ],
  [
    'a POST with a JSON body',
    { method: 'POST', headers: { 'content-type': 'application/json' }, bodyBase64: body },
  ],
  [
    'a PUT with a binary body',
    { method: 'PUT', bodyBase64: Buffer.from([0, 1, 2, 255, 254]).toString('base64') },
  ],
  ['a POST with an empty body', { method: 'POST', bodyBase64: '' }],
  ['a DELETE without a body', { method: 'DELETE' }],
  ['a header value with latin-1 characters', { headers: { 'x-name': 'caf\u00e9', 'x-y': '\u00ff' } }],
]
for (const [name, overrides] of matching) {
  t.test(`the counted size of ${name} equals the bytes undici writes`, async (t) => {
    const [counted, written] = await measure(overrides)
    t.equal(counted, written)
  })
}

// Requests where undici adds, replaces or drops header lines of its own.
const rewritten: [string, Partial<RequestSpec>, string][] = [
  [
    'a POST without a body',
    { method: 'POST' },
    'undici adds "content-length: 0" for POST/PUT/PATCH without a body',
  ],
  [
    'a GET with an empty body',
    { bodyBase64: '' },
    'undici omits "content-length: 0" for methods that expect no payload',
  ],
  [
    'a request with its own host header',
    { headers: { host: 'example.test' } },
    'undici replaces its host line with the given one',
  ],
  [
    'a request with its own connection header',
    { headers: { connection: 'close' } },
    'undici reads the given connection header and writes its own',
  ],
]
for (const [name, overrides, why] of rewritten) {
  t.test(`the counted size of ${name} equals the bytes undici writes`, async (t) => {
    const [counted, written] = await measure(overrides)
    t.equal(counted, written, why)
  })
}
