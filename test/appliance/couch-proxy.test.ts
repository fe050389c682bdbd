import { once } from 'node:events'
import { createServer, type IncomingMessage, request, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { startCouchProxy } from '../../appliance/couch-proxy.js'

const credentials = { username: 'admin', password: 'p:ss wörd' }
const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`
const GOOD = basic(credentials.username, credentials.password)

/** An upstream whose handler the test writes; it records what reached it. */
async function upstream(t: { teardown(fn: () => unknown): void }) {
  const seen: IncomingMessage[] = []
  let handle = (_req: IncomingMessage, res: ServerResponse) => {
    res.writeHead(200, { 'Content-Type': 'application/json' })
    res.end('{"couchdb":"Welcome"}')
  }
  const server = createServer((req, res) => {
    seen.push(req)
    handle(req, res)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => {
    server.closeAllConnections()
    server.close()
  })
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    handle(fn: typeof handle) {
      handle = fn
    },
  }
}

async function proxyTo(t: { teardown(fn: () => unknown): void }, url: string) {
  const proxy = await startCouchProxy({ upstream: url, credentials })
  t.teardown(() => proxy.close())
  return proxy
}

/** A request through node:http, so the test sees each body chunk as it arrives. */
function send(
  url: string,
  options: { method?: string; path?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}${options.path ?? '/'}`, {
      method: options.method ?? 'GET',
      headers: options.headers ?? {},
    })
    req.on('response', resolve)
    req.on('error', reject)
    req.end(options.body)
  })
}

async function text(res: IncomingMessage): Promise<string> {
  let out = ''
  for await (const chunk of res) out += chunk
  return out
}

t.test(
  'without valid Basic credentials: 401 with CouchDB’s JSON, and nothing reaches the server',
  async (t) => {
    const up = await upstream(t)
    const proxy = await proxyTo(t, up.url)
    const cases: [string, Record<string, string>, string][] = [
      ['no Authorization', {}, 'Authentication required.'],
      ['a wrong password', { Authorization: basic('admin', 'nope') }, 'Name or password is incorrect.'],
      [
        'a wrong user',
        { Authorization: basic('root', credentials.password) },
        'Name or password is incorrect.',
      ],
      ['another scheme', { Authorization: 'Bearer abc' }, 'Authentication required.'],
      ['a session cookie', { Cookie: 'AuthSession=YWRtaW46' }, 'Authentication required.'],
    ]
    for (const [what, headers, reason] of cases) {
      for (const [method, path] of [
        ['GET', '/'],
        ['PUT', '/db'],
        ['POST', '/db'],
        ['GET', '/db/_changes?feed=continuous'],
      ] as const) {
        const res = await send(proxy.url, {
          method,
          path,
          headers,
          body: method === 'GET' ? undefined : '{}',
        })
        t.equal(res.statusCode, 401, `${what}: ${method} ${path} refused`)
        t.match(res.headers['content-type'], /^application\/json/)
        t.same(JSON.parse(await text(res)), { error: 'unauthorized', reason })
      }
    }
    t.equal(up.seen.length, 0, 'no refused request reached the server')
    t.equal(proxy.refused, cases.length * 4)
  },
)

t.test('with them: passed on as they were, without the credentials', async (t) => {
  const up = await upstream(t)
  const proxy = await proxyTo(t, up.url)
  up.handle((req, res) => {
    let length = 0
    req.on('data', (chunk: Buffer) => {
      length += chunk.length
    })
    req.on('end', () => {
      res.writeHead(201, { 'Content-Type': 'application/json', Location: 'http://x/db/doc', 'X-Couch': 'y' })
      res.end(JSON.stringify({ method: req.method, url: req.url, length }))
    })
  })
  const body = 'x'.repeat(3 * 1024 * 1024)
  const res = await send(proxy.url, {
    method: 'PUT',
    path: '/db/doc?batch=ok',
    headers: { Authorization: GOOD, Cookie: 'a=b', 'Content-Type': 'application/json' },
    body,
  })
  t.equal(res.statusCode, 201)
  t.equal(res.headers.location, 'http://x/db/doc', 'response headers kept')
  t.equal(res.headers['x-couch'], 'y')
  t.same(JSON.parse(await text(res)), { method: 'PUT', url: '/db/doc?batch=ok', length: body.length })
  const [seen] = up.seen
  t.equal(seen?.headers.authorization, undefined, 'the credentials stop at the proxy')
  t.equal(seen?.headers.cookie, undefined)
  t.equal(seen?.headers.host, new URL(proxy.url).host, 'the Host the client asked for')
  t.equal(seen?.headers['content-type'], 'application/json')
  // The scheme name is case-insensitive (RFC 9110 §11.1).
  const lower = await send(proxy.url, { headers: { Authorization: GOOD.replace('Basic', 'basic') } })
  t.equal(lower.statusCode, 201)
  await text(lower)
})

t.test(
  'a continuous feed streams through, chunk by chunk, and a client that leaves ends it upstream',
  async (t) => {
    const up = await upstream(t)
    const proxy = await proxyTo(t, up.url)
    let feed: ServerResponse | undefined
    const opened = new Promise<void>((resolve) =>
      up.handle((_req, res) => {
        res.writeHead(200, { 'Content-Type': 'application/json' })
        res.flushHeaders()
        feed = res
        resolve()
      }),
    )
    const res = await send(proxy.url, {
      path: '/db/_changes?feed=continuous',
      headers: { Authorization: GOOD },
    })
    await opened
    t.equal(res.statusCode, 200, 'the headers arrive before any change')
    const chunks = res[Symbol.asyncIterator]()
    for (const n of [1, 2, 3]) {
      // Each change is written only after the previous one arrived: nothing is held back.
      feed!.write(`{"seq":${n},"id":"d${n}"}\n`)
      const { value } = await chunks.next()
      t.equal(String(value), `{"seq":${n},"id":"d${n}"}\n`, `change ${n} arrived while the feed is open`)
    }
    const upstreamClosed = once(feed!, 'close')
    res.destroy()
    await upstreamClosed
    t.pass('the upstream feed closed when the client left')
  },
)

t.test('a server that dies mid-response: the client sees the connection cut, not a clean end', async (t) => {
  const up = await upstream(t)
  const proxy = await proxyTo(t, up.url)
  up.handle((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/json' })
    res.write('{"seq":1}\n')
    setImmediate(() => res.socket?.destroy())
  })
  const res = await send(proxy.url, {
    path: '/db/_changes?feed=continuous',
    headers: { Authorization: GOOD },
  })
  const failure = await text(res).then(
    () => undefined,
    (err: Error) => err,
  )
  t.ok(failure, 'reading the body fails')
  // Nothing listening behind: 502, CouchDB-style.
  const dead = await proxyTo(t, 'http://127.0.0.1:9')
  const refused = await send(dead.url, { headers: { Authorization: GOOD } })
  t.equal(refused.statusCode, 502)
  t.match(JSON.parse(await text(refused)), { error: 'bad_gateway' })
})
