import t from 'tap'
import { sumTimeline } from '../../lib/timeline.js'
import { compileTransaction } from '../../lib/transaction/compile.js'
import type { TransactionSpec } from '../../lib/transaction/spec.js'
import { runLoad } from '../../load/run.js'
import { LOCAL_POLICY } from '../../load/safety.js'
import { Deadlines } from '../../load/transaction/deadlines.js'
import type { TransactionRecorder } from '../../load/transaction/recorder.js'
import { TransactionUser, type UserContext } from '../../load/transaction/user.js'
import { fakePlainTarget } from '../harness/fake-socket.js'
import { shopTransaction, startShop } from '../harness/shop.js'

type Event = [string, ...unknown[]]

/** A recorder part that logs what it was told. */
function part(name: string, events: Event[]) {
  return {
    sent() {},
    wrote(_now: number, bytes: number) {
      events.push([`${name} wrote`, bytes])
    },
    hit(_now: number, _latency: number, status: number, rx: number, passed: boolean) {
      events.push([`${name} hit`, status, rx, passed])
    },
    error(_now: number, kind: string, rx: number) {
      events.push([`${name} error`, kind, rx])
    },
    timeout(_now: number, rx: number) {
      events.push([`${name} timeout`, rx])
    },
    exhausted() {},
  }
}

const spec: TransactionSpec = {
  steps: [
    {
      name: 'login',
      request: {
        method: 'POST',
        url: 'http://127.0.0.1:9/login',
        headers: {},
        bodyBase64: Buffer.from('u=ann').toString('base64'),
        timeoutMs: 60_000,
      },
      extract: [
        { from: 'cookie', name: 'session' },
        { from: 'header', name: 'x-token', as: 'tok' },
        { from: 'json', path: '$.id', as: 'id' },
      ],
    },
    {
      name: 'item',
      request: {
        method: 'GET',
        url: 'http://127.0.0.1:9/items/#{id}',
        headers: { authorization: 'Bearer #{tok}' },
        timeoutMs: 60_000,
      },
    },
  ],
}

function setup(transaction = spec) {
  const { target, sockets } = fakePlainTarget({ stale: true })
  Object.assign(target, { url: new URL('http://127.0.0.1:9/'), origin: 'http://127.0.0.1:9' })
  const events: Event[] = []
  const recorder = {
    steps: [part('login', events), part('item', events)],
    iterations: part('iteration', events),
    exhausted() {},
  } as unknown as TransactionRecorder
  const deadlines = new Deadlines(60_000)
  const ended: boolean[] = []
  const context: UserContext = {
    transaction: compileTransaction(transaction),
    recorder,
    deadlines,
    rows: undefined,
    target: () => target,
    wallNow: () => Date.now(),
    onIterationEnd: (_user, ok) => ended.push(ok),
    lean: true,
  }
  const user = new TransactionUser(context, 1)
  user.active = true
  return { user, sockets, events, ended, deadlines }
}

const login = Buffer.from(
  'HTTP/1.1 200 OK\r\nSet-Cookie: session=abc; Path=/\r\nX-Token: t1\r\nTransfer-Encoding: chunked\r\n\r\n' +
    '5\r\n{"id"\r\n4\r\n: 42\r\n1\r\n}\r\n0\r\n\r\n',
  'latin1',
)
const item = Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok', 'latin1')

t.test('cookie, header and JSON extraction over the lean path, the answer split at every byte', async (t) => {
  for (let split = 0; split <= login.length; split++) {
    const { user, sockets, events, ended, deadlines } = setup()
    user.startIteration(performance.now())
    const socket = sockets[0]!
    socket.emit('connect')
    t.match(socket.written[0]!.toString('latin1'), /^POST \/login HTTP\/1\.1\r\nhost: 127\.0\.0\.1:9\r\n/)
    if (split > 0) socket.read(login.subarray(0, split))
    if (split < login.length) socket.read(login.subarray(split))
    t.equal(sockets.length, 1, `split at ${split}: one connection`)
    const second = socket.written[1]?.toString('latin1') ?? ''
    t.match(second, /^GET \/items\/42 HTTP\/1\.1\r\n/, `split at ${split}: the JSON value`)
    t.match(second, /\r\nauthorization: Bearer t1\r\n/, 'the header value')
    t.match(second, /\r\ncookie: session=abc\r\n/, 'the cookie')
    t.equal(user.jar.get('session'), 'abc')
    socket.read(item)
    deadlines.close()
    t.same(ended, [true], 'the iteration completed')
    t.same(
      events.filter(([name]) => name.endsWith('hit')).map(([name, status, rx]) => [name, status, rx]),
      [
        ['login hit', 200, login.length],
        ['item hit', 200, item.length],
        ['iteration hit', 200, 0],
      ],
    )
    const wrote = events.filter(([name]) => name.endsWith('wrote')).map(([, bytes]) => bytes)
    t.same(wrote, [socket.written[0]!.length, socket.written[1]!.length], 'bytes counted are bytes written')
  }
})

t.test('a missing header is an extraction error; nothing more is sent', async (t) => {
  const { user, sockets, events, ended, deadlines } = setup()
  t.teardown(() => deadlines.close())
  user.startIteration(performance.now())
  const socket = sockets[0]!
  socket.emit('connect')
  const answer = 'HTTP/1.1 200 OK\r\nSet-Cookie: session=abc\r\nContent-Length: 8\r\n\r\n{"id":1}'
  socket.read(Buffer.from(answer))
  t.same(ended, [false])
  t.same(
    events.filter(([name]) => !name.endsWith('wrote')),
    [
      ['login hit', 200, answer.length, true],
      ['login error', 'extract', 0],
      ['iteration error', 'extract', 0],
    ],
  )
  t.equal(socket.written.length, 1)
})

t.test('an expired lean request is a timeout of its step; the connection is dropped', async (t) => {
  const { user, sockets, events, ended, deadlines } = setup()
  t.teardown(() => deadlines.close())
  user.startIteration(performance.now())
  const socket = sockets[0]!
  socket.emit('connect')
  socket.read(Buffer.from('HTTP/1.1 200 OK\r\n'))
  user.expire()
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(socket.destroyed, true)
  t.same(ended, [false])
  t.same(
    events.filter(([name]) => !name.endsWith('wrote')),
    [
      ['login timeout', 17],
      ['iteration timeout', 0],
    ],
  )
  t.equal(user.inFlight, false)
})

t.test(
  'a step is sent as rendered last time only while its variables and cookies are the same',
  async (t) => {
    const { user, sockets, ended, deadlines } = setup()
    t.teardown(() => deadlines.close())
    const answer = (session: string, token: string, id: number) => {
      const body = `{"id":${id}}`
      return Buffer.from(
        `HTTP/1.1 200 OK\r\nSet-Cookie: session=${session}\r\nX-Token: ${token}\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
      )
    }
    const head = (line: string, cookie: string | undefined, rest = '') =>
      `${line} HTTP/1.1\r\nhost: 127.0.0.1:9\r\nconnection: keep-alive\r\n${rest}${cookie ? `cookie: session=${cookie}\r\n` : ''}`
    // Each iteration's login answers these; the item step reads id (URL), tok (header) and the cookie.
    const iterations: [string, string, number][] = [
      ['abc', 't1', 42],
      ['abc', 't1', 42],
      ['abc', 't1', 43], // the URL's variable changed
      ['abc', 't2', 43], // the header's variable changed
      ['def', 't2', 43], // the cookie changed
      ['def', 't2', 43],
    ]
    let cookie: string | undefined
    for (const [i, [session, token, id]] of iterations.entries()) {
      user.startIteration(performance.now())
      const socket = sockets[0]!
      if (i === 0) socket.emit('connect')
      t.equal(
        socket.written.at(-1)!.toString('latin1'),
        `${head('POST /login', cookie)}content-length: 5\r\n\r\nu=ann`,
        `iteration ${i + 1}: the login with the cookies of the last one`,
      )
      socket.read(answer(session, token, id))
      cookie = session
      t.equal(
        socket.written.at(-1)!.toString('latin1'),
        `${head(`GET /items/${id}`, cookie, `authorization: Bearer ${token}\r\n`)}\r\n`,
        `iteration ${i + 1}: the item with id ${id}, token ${token}, cookie ${session}`,
      )
      socket.read(item)
    }
    t.same(ended, [true, true, true, true, true, true])
    t.equal(sockets.length, 1)
  },
)

t.test('a line break in a rendered header never reaches the lean connection', async (t) => {
  const injecting = structuredClone(spec)
  injecting.steps[1]!.request.url = 'http://127.0.0.1:9/items/1'
  injecting.steps[1]!.request.headers = { authorization: 'Bearer #{id}' }
  const { user, sockets, events, ended, deadlines } = setup(injecting)
  t.teardown(() => deadlines.close())
  user.startIteration(performance.now())
  const socket = sockets[0]!
  socket.emit('connect')
  // The value extracted from the answer carries a line break (header injection).
  const body = '{"id":"1\\r\\nx-injected: y"}'
  socket.read(
    Buffer.from(
      `HTTP/1.1 200 OK\r\nSet-Cookie: session=abc\r\nX-Token: a\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    ),
  )
  // It goes to undici, which refuses the request: an error of the step, before any connection.
  await new Promise<void>((resolve) => {
    const wait = () => (ended.length > 0 ? resolve() : setImmediate(wait))
    wait()
  })
  t.equal(socket.written.length, 1, 'only the first request was written')
  t.equal(sockets.length, 1, 'no other lean connection')
  t.same(ended, [false])
  t.ok(
    events.some(([name]) => name === 'item error'),
    'the step failed as undici fails it',
  )
  t.notOk(
    events.some(([name]) => name === 'item wrote'),
    'nothing of it was written',
  )
  user.destroy()
})

t.test('against a real server, lean and undici: the same requests, hits and bytes sent', async (t) => {
  const rows = 20
  const runs: { tx: number; hits: number[]; refused: number; logins: number }[] = []
  const before = process.env.STAMPEDE_HTTP_CLIENT
  t.teardown(() => {
    if (before === undefined) delete process.env.STAMPEDE_HTTP_CLIENT
    else process.env.STAMPEDE_HTTP_CLIENT = before
  })
  for (const client of ['lean', 'undici']) {
    if (client === 'undici') process.env.STAMPEDE_HTTP_CLIENT = 'undici'
    else delete process.env.STAMPEDE_HTTP_CLIENT
    const shop = await startShop()
    const transaction = shopTransaction(shop.url, rows) as TransactionSpec
    const result = await runLoad(
      {
        model: 'rush',
        request: transaction.steps[0]!.request,
        transaction,
        pattern: [{ start: 2, end: 2, duration: 60 }],
        share: { index: 0, of: 1 },
        policy: LOCAL_POLICY,
      },
      { workers: 0 },
    )
    await shop.close()
    const total = sumTimeline(result.timeline)
    runs.push({
      tx: total.txBytes,
      hits: total.steps!.map((step) => step.hits),
      refused: shop.refused,
      logins: shop.logins.size,
    })
  }
  t.same(runs[0]!.hits, [rows, rows, rows, rows], 'lean: every step of every row')
  t.equal(runs[0]!.refused, 0, 'lean: every cookie, token and id sent')
  t.equal(runs[0]!.logins, rows)
  t.same(runs[1], runs[0], 'undici: the same')
  t.ok(runs[0]!.tx > 0)
})
