import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

/**
 * A target with sessions, on 127.0.0.1 only, for transaction tests: it checks what a
 * logged-in user must send and counts, per data row, how often each user logged in.
 *   POST /login      body `u=USER&p=PASS`; PASS must be `pw-USER`; sets cookie
 *                    `session=s-USER`, answers {"token": "t-USER", "items": [{"id": 7}, …]}
 *   GET  /items      needs the session cookie and `authorization: Bearer t-USER`
 *   GET  /items/ID   needs the session cookie
 *   GET  /logout     needs the session cookie; clears it
 *   GET  /go         302 to /items (redirect tests)
 *   GET  /away?to=U  302 to U
 * Anything missing: 401 (counted in `refused`).
 */
export interface Shop {
  url: string
  /** Logins per user. */
  logins: Map<string, number>
  /** Requests per path (first segment, with the method). */
  byRoute: Map<string, number>
  /** Requests answered 401. */
  readonly refused: number
  close(): Promise<void>
}

export async function startShop(): Promise<Shop> {
  const logins = new Map<string, number>()
  const byRoute = new Map<string, number>()
  let refused = 0
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://x')
      const route = `${req.method} /${url.pathname.split('/')[1] ?? ''}`
      byRoute.set(route, (byRoute.get(route) ?? 0) + 1)
      const session = /(?:^|;\s*)session=s-([^;]+)/.exec(req.headers.cookie ?? '')?.[1]
      const deny = () => {
        refused++
        res.writeHead(401).end('no')
      }
      const json = (body: unknown, headers: Record<string, string> = {}) =>
        res.writeHead(200, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body))
      if (req.method === 'POST' && url.pathname === '/login') {
        const form = new URLSearchParams(Buffer.concat(chunks).toString())
        const user = form.get('u') ?? ''
        if (user === '' || form.get('p') !== `pw-${user}`) return deny()
        logins.set(user, (logins.get(user) ?? 0) + 1)
        return json(
          { token: `t-${user}`, items: [{ id: 7 }, { id: 8 }] },
          { 'set-cookie': `session=s-${user}; Path=/; HttpOnly` },
        )
      }
      if (url.pathname === '/go') return res.writeHead(302, { location: '/items' }).end()
      if (url.pathname === '/away')
        return res.writeHead(302, { location: url.searchParams.get('to') ?? '/' }).end()
      if (!session) return deny()
      if (url.pathname === '/items') {
        if (req.headers.authorization !== `Bearer t-${session}`) return deny()
        return json({ items: [{ id: 7 }, { id: 8 }] })
      }
      if (url.pathname.startsWith('/items/')) return json({ id: url.pathname.slice(7), user: session })
      if (url.pathname === '/logout') return json({ bye: session }, { 'set-cookie': 'session=; Max-Age=0' })
      return deny()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    logins,
    byRoute,
    get refused() {
      return refused
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

/** The four-step transaction of the issue: cookie login, a CSV of users, a JSON extraction. */
export function shopTransaction(
  url: string,
  users: number,
  mode: 'unique' | 'sequential' | 'random' = 'unique',
) {
  const request = (path: string, extra: Record<string, unknown> = {}) => ({
    method: 'GET',
    url: `${url}${path}`,
    headers: {},
    timeoutMs: 5000,
    expectStatus: '200',
    ...extra,
  })
  return {
    data: {
      name: 'users.csv',
      mode,
      table: {
        columns: ['user', 'pass'],
        rows: Array.from({ length: users }, (_, i) => [`u${i}`, `pw-u${i}`]),
      },
    },
    steps: [
      {
        name: 'login',
        request: request('/login', {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          bodyBase64: Buffer.from('u=#{user}&p=#{pass}').toString('base64'),
        }),
        extract: [
          { from: 'cookie' as const, name: 'session' },
          { from: 'json' as const, path: '$.token', as: 'token' },
        ],
      },
      {
        name: 'list',
        request: request('/items', { headers: { authorization: 'Bearer #{token}' } }),
        extract: [{ from: 'json' as const, path: '$.items[0].id', as: 'item' }],
      },
      { name: 'item', request: request('/items/#{item}') },
      { name: 'logout', request: request('/logout') },
    ],
  }
}
