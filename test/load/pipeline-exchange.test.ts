import { createServer, type Server, type Socket } from 'node:net'
import t from 'tap'
import type { RequestSpec } from '../../lib/request-spec.js'
import type { ExchangeContext, LoadExchange } from '../../load/exchange.js'
import { TimeoutQueue } from '../../load/exchange.js'
import { PipelineExchange } from '../../load/pipeline-exchange.js'
import { prepareRequest } from '../../load/request.js'
import { LOCAL_POLICY } from '../../load/safety.js'
import { prepareTarget } from '../../load/target.js'
import { fakePlainTarget, recording } from '../harness/fake-socket.js'

/**
 * A raw HTTP/1.1 server that holds its answers until `depth` requests are outstanding on
 * the socket (so the client must really keep them in flight), then acts per `answer`.
 * Response k (over the whole server) has a body of k + 1 bytes and status 200 + k % 3, so
 * the client's per-request figures show which response it matched to which request.
 */
async function pipelineServer(
  depth: number,
  answer: (socket: Socket, batch: number[], respond: (k: number) => Buffer) => void = (
    socket,
    batch,
    respond,
  ) => socket.write(Buffer.concat(batch.map(respond))),
) {
  let next = 0
  let peak = 0
  let connections = 0
  let closed = 0
  let received = 0
  const sent: Buffer[] = []
  const respond = (k: number) => {
    const response = Buffer.from(
      `HTTP/1.1 ${200 + (k % 3)} OK\r\ncontent-length: ${k + 1}\r\n\r\n${'x'.repeat(k + 1)}`,
    )
    sent.push(response)
    return response
  }
  const server: Server = createServer((socket) => {
    connections++
    let text = ''
    let outstanding: number[] = []
    socket.on('data', (chunk: Buffer) => {
      received += chunk.length
      text += chunk.toString('latin1')
      let end = text.indexOf('\r\n\r\n')
      while (end >= 0) {
        text = text.slice(end + 4)
        outstanding.push(next++)
        end = text.indexOf('\r\n\r\n')
      }
      peak = Math.max(peak, outstanding.length)
      if (outstanding.length >= depth) {
        const batch = outstanding
        outstanding = []
        answer(socket, batch, respond)
      }
    })
    socket.on('error', () => {})
    socket.on('close', () => closed++)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    server,
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}/`,
    sent,
    get peak() {
      return peak
    },
    get connections() {
      return connections
    },
    get closed() {
      return closed
    },
    get received() {
      return received
    },
  }
}

/** A pipelined user against a real target; `until(n)` resolves once n requests ended. */
async function realUser(url: string, timeoutMs = 10_000) {
  const spec: RequestSpec = { method: 'GET', url, headers: {}, timeoutMs }
  const prepared = prepareRequest(spec)
  const target = await prepareTarget(spec, LOCAL_POLICY)
  const { outcomes, wrote, recorder } = recording()
  const timeouts = new TimeoutQueue(timeoutMs)
  let ended = 0
  let waiting: { n: number; resolve: () => void } | null = null
  let more = 0
  const context: ExchangeContext = {
    target,
    recorder,
    timeouts,
    request: prepared.options,
    requestBytes: prepared.bytes,
    wire: prepared.wire,
    statusPassed: () => true,
    onDone: (exchange: LoadExchange) => {
      ended++
      // As the closed model does: one new request for every one that ended.
      if (more > 0) {
        more--
        exchange.send(performance.now())
      }
      if (waiting && ended >= waiting.n) waiting.resolve()
    },
  }
  const user = new PipelineExchange(context)
  const until = (n: number) =>
    new Promise<void>((resolve) => {
      waiting = { n, resolve }
      if (ended >= n) resolve()
    })
  /** Sends `depth` now, then one more per request ended until `total` were sent. */
  const start = (depth: number, total: number) => {
    more = total - depth
    for (let i = 0; i < depth; i++) user.send(performance.now())
  }
  return { user, start, until, outcomes, wrote, prepared, timeouts }
}

t.test('N requests are really in flight on one connection, answered in order', async (t) => {
  const target = await pipelineServer(4)
  t.teardown(() => target.server.close())
  const { user, start, until, outcomes, wrote, prepared, timeouts } = await realUser(target.url)
  t.teardown(() => timeouts.close())
  start(4, 12)
  await until(12)
  user.destroy()
  t.equal(target.peak, 4, 'the server saw 4 requests outstanding on the socket')
  t.equal(target.connections, 1, 'all on one connection')
  t.same(
    outcomes,
    target.sent.map((response, k) => ({ hit: 200 + (k % 3), rx: response.length })),
    'each request got its own response, in order, with its own bytes',
  )
  t.same(wrote, Array(12).fill(prepared.bytes))
  t.equal(target.received, 12 * prepared.bytes, 'the bytes counted are the bytes received')
  t.equal(user.outstanding, 0)
})

t.test('a server closing mid-pipeline fails each outstanding request once', async (t) => {
  // Answers the first of three, then closes: the two behind it are never answered.
  const target = await pipelineServer(3, (socket, batch, respond) => {
    socket.end(respond(batch[0]!))
  })
  t.teardown(() => target.server.close())
  const { user, start, until, outcomes, timeouts } = await realUser(target.url)
  t.teardown(() => timeouts.close())
  start(3, 3)
  await until(3)
  t.same(outcomes, [
    { hit: 200, rx: target.sent[0]!.length },
    { error: 'socket', rx: 0 },
    { error: 'socket', rx: 0 },
  ])
  t.equal(user.outstanding, 0)
  // The next request opens a new connection.
  start(3, 3)
  await until(6)
  user.destroy()
  t.equal(target.connections, 2)
  t.equal(outcomes.length, 6, 'each request ended once')
})

t.test('a timeout ends the connection: every request on it is a timeout, once', async (t) => {
  const target = await pipelineServer(3, () => {})
  t.teardown(() => target.server.close())
  const { user, start, until, outcomes, timeouts } = await realUser(target.url, 200)
  t.teardown(() => timeouts.close())
  start(3, 3)
  await until(3)
  t.same(outcomes, [
    { timeout: true, rx: 0 },
    { timeout: true, rx: 0 },
    { timeout: true, rx: 0 },
  ])
  t.equal(user.outstanding, 0)
  t.equal(target.peak, 3)
  // The dropped connection reaches the server as a close.
  while (target.closed < 1) await new Promise((resolve) => setImmediate(resolve))
  t.equal(target.closed, 1)
})

function fakeUser(spec: Partial<RequestSpec> = {}) {
  const prepared = prepareRequest({
    method: 'GET',
    url: 'http://127.0.0.1:9/',
    headers: {},
    timeoutMs: 1000,
    ...spec,
  })
  const { target, sockets } = fakePlainTarget()
  const { outcomes, recorder } = recording()
  const timeouts = new TimeoutQueue(60_000)
  const context: ExchangeContext = {
    target,
    recorder,
    timeouts,
    request: prepared.options,
    requestBytes: prepared.bytes,
    wire: prepared.wire,
    statusPassed: () => true,
    onDone: () => {},
  }
  const user = new PipelineExchange(context)
  return { user, sockets, outcomes, timeouts, context }
}

const three = [
  'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello',
  'HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3;x\r\nabc\r\n0\r\nx-t: 1\r\n\r\n',
  'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n',
]

t.test('responses back to back are split where each ends, at every read boundary', async (t) => {
  const bytes = Buffer.from(three.join(''), 'latin1')
  for (let split = 0; split <= bytes.length; split++) {
    const { user, sockets, outcomes, timeouts } = fakeUser()
    for (let i = 0; i < 3; i++) user.send(performance.now())
    sockets[0]!.emit('connect')
    t.equal(sockets[0]!.written.length, 3, 'all three written once connected')
    if (split > 0) sockets[0]!.read(bytes.subarray(0, split))
    if (split < bytes.length) sockets[0]!.read(bytes.subarray(split))
    timeouts.close()
    t.same(
      outcomes,
      [
        { hit: 200, rx: three[0]!.length },
        { hit: 201, rx: three[1]!.length },
        { hit: 204, rx: three[2]!.length },
      ],
      `split at ${split}`,
    )
    t.equal(sockets[0]!.destroyed, false, 'the connection is kept')
  }
})

t.test('a response the parser refuses fails it and the ones behind it as parse errors', async (t) => {
  const { user, sockets, outcomes, timeouts } = fakeUser()
  t.teardown(() => timeouts.close())
  for (let i = 0; i < 3; i++) user.send(performance.now())
  sockets[0]!.emit('connect')
  sockets[0]!.read(Buffer.from(`${three[0]}HTTP/1.1 2x0 OK\r\n\r\n`))
  t.same(outcomes, [
    { hit: 200, rx: three[0]!.length },
    { error: 'parse', rx: 19 },
    { error: 'parse', rx: 0 },
  ])
  t.equal(sockets[0]!.destroyed, true)
})

t.test('connection: close in an answer fails the requests behind it, once each', async (t) => {
  const { user, sockets, outcomes, timeouts } = fakeUser()
  t.teardown(() => timeouts.close())
  for (let i = 0; i < 3; i++) user.send(performance.now())
  sockets[0]!.emit('connect')
  const last = 'HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n'
  sockets[0]!.read(Buffer.from(last))
  sockets[0]!.emit('end')
  sockets[0]!.emit('close')
  t.same(outcomes, [
    { hit: 200, rx: last.length },
    { error: 'socket', rx: 0 },
    { error: 'socket', rx: 0 },
  ])
  t.equal(sockets[0]!.destroyed, true)
})

t.test(
  'a connection the policy refuses fails every request waiting on it as refused, nothing written',
  async (t) => {
    const { user, sockets, outcomes, timeouts, context } = fakeUser()
    t.teardown(() => timeouts.close())
    const refusal = Object.assign(new Error('refused'), { code: 'STAMPEDE_ADDRESS_REFUSED' })
    ;(context.target as { acceptPlain: unknown }).acceptPlain = () => refusal
    for (let i = 0; i < 3; i++) user.send(performance.now())
    sockets[0]!.emit('connect')
    t.same(outcomes, [
      { error: 'refused', rx: 0 },
      { error: 'refused', rx: 0 },
      { error: 'refused', rx: 0 },
    ])
    t.same(sockets[0]!.written, [])
    t.equal(sockets[0]!.destroyed, true)
  },
)
