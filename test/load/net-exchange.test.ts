import { createServer as createHttpServer } from 'node:http'
import { createServer, type Server } from 'node:net'
import t from 'tap'
import type { RequestSpec } from '../../lib/request-spec.js'
import type { ExchangeContext, LoadExchange } from '../../load/exchange.js'
import { newExchange, TimeoutQueue } from '../../load/exchange.js'
import { NetExchange } from '../../load/net-exchange.js'
import { prepareRequest } from '../../load/request.js'
import { DAEMON_POLICY, LOCAL_POLICY } from '../../load/safety.js'
import { prepareTarget } from '../../load/target.js'
import { fakePlainTarget, recording } from '../harness/fake-socket.js'

function fakeContext(spec: Partial<RequestSpec> = {}) {
  const prepared = prepareRequest({
    method: 'GET',
    url: 'http://127.0.0.1:9/',
    headers: {},
    timeoutMs: 1000,
    ...spec,
  })
  const { target, sockets } = fakePlainTarget()
  const { outcomes, wrote, recorder } = recording()
  const done: LoadExchange[] = []
  const timeouts = new TimeoutQueue(60_000)
  const context: ExchangeContext = {
    target,
    recorder,
    timeouts,
    request: prepared.options,
    requestBytes: prepared.bytes,
    wire: prepared.wire,
    statusPassed: (status) => status < 400,
    onDone: (exchange) => done.push(exchange),
  }
  return { context, sockets, outcomes, wrote, done, prepared, timeouts }
}

/** Sends one request on a fresh exchange, connected; returns its socket. */
function started(spec: Partial<RequestSpec> = {}) {
  const setup = fakeContext(spec)
  const exchange = new NetExchange(setup.context)
  exchange.send(performance.now())
  const socket = setup.sockets[0]!
  socket.emit('connect')
  return { ...setup, exchange, socket }
}

const responses: [string, string, number, Partial<RequestSpec>?][] = [
  ['a content-length body', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nServer: x\r\n\r\nhello', 200],
  ['an empty body', 'HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n', 200],
  [
    'a chunked body with an extension and trailers',
    'HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\nA\r\n0123456789\r\n0\r\nx-t: 1\r\ny: 2\r\n\r\n',
    201,
  ],
  [
    'a chunked body without trailers',
    'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n',
    200,
  ],
  ['a 204 without a body', 'HTTP/1.1 204 No Content\r\nX: y\r\n\r\n', 204],
  ['a 304 with a length but no body', 'HTTP/1.1 304 Not Modified\r\nContent-Length: 40\r\n\r\n', 304],
  [
    'a HEAD answer with a length but no body',
    'HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n',
    200,
    { method: 'HEAD' },
  ],
  [
    'a 100 Continue before the answer',
    'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nno',
    404,
  ],
  ['a 500 with a body', 'HTTP/1.1 500 Oops\r\nContent-Length: 3\r\n\r\nbad', 500],
]

for (const [name, text, status, spec] of responses) {
  t.test(`the lean path reads ${name}, split at every byte`, async (t) => {
    const bytes = Buffer.from(text, 'latin1')
    for (let split = 0; split <= bytes.length; split++) {
      const { socket, outcomes, done, exchange, timeouts } = started(spec)
      if (split > 0) socket.read(bytes.subarray(0, split))
      if (split < bytes.length) socket.read(bytes.subarray(split))
      timeouts.close()
      t.same(outcomes, [{ hit: status, rx: bytes.length }], `split at ${split}`)
      t.equal(done.length, 1)
      t.equal(exchange.inFlight, false)
      t.equal(socket.destroyed, false, 'the connection is kept')
    }
  })
}

/** Responses with what the hooks must see: the final head, and the body without framing. */
const hooked: [string, string, string, string][] = [
  ['a content-length body', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nServer: x', 'hello', '\r\n\r\nhello'],
  [
    'a chunked body',
    'HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked',
    'hello0123456789',
    '\r\n\r\n5;x=y\r\nhello\r\nA\r\n0123456789\r\n0\r\nx-t: 1\r\n\r\n',
  ],
  ['a 100 Continue first', 'HTTP/1.1 404 Not Found\r\nContent-Length: 2', 'no', '\r\n\r\nno'],
]
for (const [name, head, body, rest] of hooked) {
  t.test(`the head and body hooks see ${name}, split at every byte`, async (t) => {
    const interim = name.includes('100') ? 'HTTP/1.1 100 Continue\r\nX-Interim: 1\r\n\r\n' : ''
    const bytes = Buffer.from(interim + head + rest, 'latin1')
    for (let split = 0; split <= bytes.length; split++) {
      const { socket, outcomes, timeouts, context } = started()
      const heads: string[] = []
      const parts: Buffer[] = []
      const lines: string[] = []
      context.onHead = (data, start, end) => heads.push(data.toString('latin1', start, end))
      context.onHeader = (data, start, end) => lines.push(data.toString('latin1', start, end))
      context.onBody = (data, start, end) => parts.push(Buffer.from(data.subarray(start, end)))
      // Older bytes after each read in the shared buffer must not leak into what the hooks see.
      const read = (part: Buffer) => {
        ;(socket.onread.buffer as Buffer).fill(0x5a, 0, 512)
        socket.read(part)
      }
      if (split > 0) read(bytes.subarray(0, split))
      if (split < bytes.length) read(bytes.subarray(split))
      timeouts.close()
      t.equal(outcomes.length, 1, `split at ${split}`)
      t.same(heads, [head], 'the final head, once')
      t.same(lines, head.split('\r\n').slice(1), 'its header lines, once each, no interim one')
      t.equal(Buffer.concat(parts).toString('latin1'), body, 'the body without framing')
    }
  })
}

t.test('the lean path sends the next request on the same connection, byte counts exact', async (t) => {
  const { socket, outcomes, wrote, exchange, prepared, timeouts, sockets } = started()
  t.teardown(() => timeouts.close())
  const answer = Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok')
  socket.read(answer)
  exchange.send(performance.now())
  socket.read(answer)
  t.equal(sockets.length, 1, 'one connection')
  t.same(wrote, [prepared.bytes, prepared.bytes])
  t.same(socket.written, [prepared.wire, prepared.wire])
  t.same(outcomes, [
    { hit: 200, rx: answer.length },
    { hit: 200, rx: answer.length },
  ])
})

t.test(
  'a body read to the close completes when the connection ends; the next request reconnects',
  async (t) => {
    const { socket, outcomes, exchange, sockets, timeouts } = started()
    t.teardown(() => timeouts.close())
    const text = 'HTTP/1.0 200 OK\r\n\r\nall of it'
    socket.read(Buffer.from(text))
    t.same(outcomes, [], 'not complete before the close')
    socket.emit('end')
    t.same(outcomes, [{ hit: 200, rx: text.length }])
    exchange.send(performance.now())
    t.equal(sockets.length, 2, 'a new connection')
  },
)

t.test('connection: close in the answer closes the connection after it', async (t) => {
  const { socket, outcomes, exchange, sockets, timeouts } = started()
  t.teardown(() => timeouts.close())
  socket.read(Buffer.from('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n'))
  t.equal(outcomes.length, 1)
  t.equal(socket.destroyed, true)
  exchange.send(performance.now())
  t.equal(sockets.length, 2)
})

const broken: [string, string][] = [
  ['no status line', 'HTTP/2 200\r\n\r\n'],
  ['a non-numeric status', 'HTTP/1.1 2x0 OK\r\n\r\n'],
  ['a bad content-length', 'HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n'],
  ['a bad chunk size', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n'],
  ['bytes after the answer', 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nab'],
]
for (const [name, text] of broken) {
  t.test(`the lean path counts ${name} as a parse error and drops the connection`, async (t) => {
    const { socket, outcomes, done, timeouts } = started()
    socket.read(Buffer.from(text))
    await new Promise((resolve) => queueMicrotask(() => resolve(null)))
    timeouts.close()
    t.same(outcomes, [{ error: 'parse', rx: text.length }])
    t.equal(socket.destroyed, true)
    t.equal(done.length, 1)
  })
}

t.test('a connection closed mid-answer is a socket error, with the bytes read', async (t) => {
  const { socket, outcomes, timeouts } = started()
  t.teardown(() => timeouts.close())
  const part = Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab')
  socket.read(part)
  socket.emit('close')
  t.same(outcomes, [{ error: 'socket', rx: part.length }])
})

t.test('a refused connect is a connect error and writes nothing', async (t) => {
  const setup = fakeContext()
  t.teardown(() => setup.timeouts.close())
  const exchange = new NetExchange(setup.context)
  exchange.send(performance.now())
  setup.sockets[0]!.emit('error', Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }))
  t.same(setup.outcomes, [{ error: 'connect', rx: 0 }])
  t.same(setup.wrote, [])
})

t.test('an expired request is a timeout: the connection is dropped, the next one is new', async (t) => {
  const { socket, outcomes, exchange, sockets, timeouts, done } = started()
  t.teardown(() => timeouts.close())
  socket.read(Buffer.from('HTTP/1.1 200 OK\r\n'))
  timeouts.sweep(performance.now() + 120_000)
  t.same(outcomes, [{ timeout: true, rx: 17 }])
  t.equal(socket.destroyed, true)
  socket.read(Buffer.from('Content-Length: 0\r\n\r\n'))
  t.equal(outcomes.length, 1, 'a late answer on the dropped connection is not read')
  await new Promise((resolve) => queueMicrotask(() => resolve(null)))
  t.equal(done.length, 1)
  exchange.send(performance.now())
  t.equal(sockets.length, 2)
})

t.test('newExchange takes the lean path for plain http: and undici for the rest', async (t) => {
  const plain = fakeContext()
  t.teardown(() => plain.timeouts.close())
  t.ok(newExchange(plain.context) instanceof NetExchange)
  const tls = fakeContext({ url: 'https://127.0.0.1:9/' })
  t.teardown(() => tls.timeouts.close())
  t.equal(tls.prepared.wire, null)
  t.notOk(newExchange(tls.context) instanceof NetExchange)
  const own = fakeContext({ headers: { connection: 'close' } })
  t.teardown(() => own.timeouts.close())
  t.equal(own.prepared.wire, null, "a user's connection header goes through undici")
})

/** A real target and the real connector: what the lean path does on a socket. */
async function realContext(url: string, policy = LOCAL_POLICY) {
  const spec: RequestSpec = { method: 'GET', url, headers: { 'x-a': 'b' }, timeoutMs: 5000 }
  const prepared = prepareRequest(spec)
  const target = await prepareTarget(spec, policy)
  const { outcomes, wrote, recorder } = recording()
  const timeouts = new TimeoutQueue(5000)
  let settle: (exchange: LoadExchange) => void = () => {}
  const context: ExchangeContext = {
    target,
    recorder,
    timeouts,
    request: prepared.options,
    requestBytes: prepared.bytes,
    wire: prepared.wire,
    statusPassed: () => true,
    onDone: (exchange) => settle(exchange),
  }
  const exchange = new NetExchange(context)
  const once = () =>
    new Promise<LoadExchange>((resolve) => {
      settle = resolve
      exchange.send(performance.now())
    })
  return { exchange, once, outcomes, wrote, prepared, timeouts }
}

t.test('against a real server: the bytes on the wire are the counted ones, both ways', async (t) => {
  const received: number[] = []
  const answers: number[] = []
  let connections = 0
  const server = createHttpServer((_req, res) => {
    // Node answers chunked when the length is not set: the lean path reads that too.
    res.write('x'.repeat(1000))
    res.end('y')
  })
  server.on('connection', (socket) => {
    connections++
    socket.on('data', (chunk: Buffer) => received.push(chunk.length))
    const write = socket.write.bind(socket)
    socket.write = ((chunk: string | Buffer, ...rest: never[]) => {
      answers.push(Buffer.byteLength(chunk))
      return write(chunk, ...rest)
    }) as typeof socket.write
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => server.close())
  const port = (server.address() as { port: number }).port
  const { exchange, once, outcomes, wrote, prepared, timeouts } = await realContext(
    `http://127.0.0.1:${port}/p?q=1`,
  )
  t.teardown(() => timeouts.close())
  for (let i = 0; i < 3; i++) await once()
  exchange.destroy()
  t.equal(connections, 1, 'one keep-alive connection')
  t.same(wrote, [prepared.bytes, prepared.bytes, prepared.bytes])
  t.equal(
    received.reduce((a, b) => a + b, 0),
    3 * prepared.bytes,
    'the server received exactly the counted request bytes',
  )
  const rx = outcomes.map((o) => ('hit' in o ? o.rx : -1))
  t.equal(
    rx.reduce((a, b) => a + b, 0),
    answers.reduce((a, b) => a + b, 0),
    'the counted answer bytes are the bytes the server wrote',
  )
  t.ok(outcomes.every((o) => 'hit' in o && o.hit === 200))
})

t.test('against a real port: a refused connection is a connect error', async (t) => {
  const probe = createServer()
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
  const port = (probe.address() as { port: number }).port
  await new Promise<void>((resolve) => probe.close(() => resolve()))
  const { once, outcomes, wrote, timeouts } = await realContext(`http://127.0.0.1:${port}/`)
  t.teardown(() => timeouts.close())
  await once()
  t.same(outcomes, [{ error: 'connect', rx: 0 }])
  t.same(wrote, [])
})

t.test('the address policy is checked on the connected socket: refused, nothing written', async (t) => {
  let got = 0
  const server: Server = createServer((socket) => {
    socket.on('data', (chunk) => {
      got += chunk.length
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => server.close())
  const port = (server.address() as { port: number }).port
  const spec: RequestSpec = { method: 'GET', url: `http://127.0.0.1:${port}/`, headers: {}, timeoutMs: 5000 }
  const target = await prepareTarget(spec, LOCAL_POLICY)
  const socket = target.openPlain({ buffer: Buffer.alloc(16), callback: () => true })
  await new Promise((resolve) => socket.once('connect', resolve))
  t.equal(target.acceptPlain(socket, performance.now()), null, 'loopback is allowed under the local policy')
  // A name checked when it resolved whose connection lands on loopback (DNS rebinding):
  // the daemon policy's target refuses the socket it connected. The public address is
  // only resolved and checked here, never connected to.
  const rebound = await prepareTarget({ ...spec, url: 'http://192.0.2.1:1/' }, DAEMON_POLICY).catch(
    () => null,
  )
  if (rebound) {
    t.match(rebound.acceptPlain(socket, performance.now()), { code: 'STAMPEDE_ADDRESS_REFUSED' })
  }
  socket.destroy()
  t.equal(got, 0)
})

t.test('a connection the policy refuses fails the request as refused, nothing written', async (t) => {
  const setup = fakeContext()
  t.teardown(() => setup.timeouts.close())
  const refusal = Object.assign(new Error('refused'), { code: 'STAMPEDE_ADDRESS_REFUSED' })
  ;(setup.context.target as { acceptPlain: unknown }).acceptPlain = () => refusal
  const exchange = new NetExchange(setup.context)
  exchange.send(performance.now())
  setup.sockets[0]!.emit('connect')
  t.same(setup.outcomes, [{ error: 'refused', rx: 0 }])
  t.same(setup.wrote, [])
  t.same(setup.sockets[0]!.written, [])
  t.equal(setup.sockets[0]!.destroyed, true)
})
