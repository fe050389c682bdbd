import http from 'node:http'
import type { AddressInfo, Socket } from 'node:net'

/**
 * An HTTP proxy in front of a test CouchDB, on 127.0.0.1, for fault tests: it forwards every
 * request, except that it can hold the requests a predicate picks (the test learns the moment
 * one arrives: an event to strike on, no sleep) and cut the link (every connection dropped,
 * new ones refused) until healed.
 */
export interface ProxiedRequest {
  method: string
  /** Path and query. */
  url: string
  body: string
}

export interface Hold {
  /** Resolves with the first matching request, held (not forwarded) until `release` or `drop`. */
  readonly arrived: Promise<ProxiedRequest>
  /** Forwards the held request (and stops holding new ones). */
  release(): void
  /** Answers the held request by closing its connection: it never reaches the server. */
  drop(): void
}

export interface CouchProxy {
  url: string
  /** Requests forwarded so far. */
  readonly forwarded: number
  /** Holds the next request for which `match` is true. */
  hold(match: (request: ProxiedRequest) => boolean): Hold
  /**
   * A partition: every open connection is dropped, then new ones are refused (`refuse`) or
   * accepted and never answered (`drop`, as when packets vanish: clients wait for their own
   * timeouts instead of failing at once, so their back-off grows more slowly); `heal` ends it
   * (requests held by `drop` are closed then, and their clients retry).
   */
  cut(mode?: 'refuse' | 'drop'): void
  heal(): void
  readonly isCut: boolean
  close(): Promise<void>
}

export async function startProxy(upstream: string): Promise<CouchProxy> {
  const target = new URL(upstream)
  let agent = new http.Agent({ keepAlive: true })
  const sockets = new Set<Socket>()
  const holds: {
    match: (request: ProxiedRequest) => boolean
    resolve: (request: ProxiedRequest) => void
    go?: () => void
    stop?: () => void
    done: boolean
  }[] = []
  let cut: false | 'refuse' | 'drop' = false
  let forwarded = 0
  const stalled = new Set<Socket>()

  const forward = (req: http.IncomingMessage, res: http.ServerResponse, body: Buffer) => {
    forwarded++
    const out = http.request(
      {
        host: target.hostname,
        port: target.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, host: target.host },
        agent,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers)
        answer.pipe(res)
        res.on('close', () => answer.destroy())
      },
    )
    out.on('error', () => res.destroy())
    res.on('close', () => {
      if (!res.writableFinished) out.destroy()
    })
    out.end(body)
  }

  const server = http.createServer((req, res) => {
    if (cut === 'drop') {
      stalled.add(req.socket)
      return
    }
    if (cut) {
      req.socket.destroy()
      return
    }
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      const body = Buffer.concat(chunks)
      const seen: ProxiedRequest = { method: req.method ?? '', url: req.url ?? '/', body: body.toString() }
      const hold = holds.find((h) => !h.done && h.match(seen))
      if (hold) {
        hold.done = true
        hold.go = () => forward(req, res, body)
        hold.stop = () => req.socket.destroy()
        hold.resolve(seen)
        return
      }
      forward(req, res, body)
    })
  })
  server.keepAliveTimeout = 60_000
  server.on('connection', (socket) => {
    if (cut === 'refuse') {
      socket.destroy()
      return
    }
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo

  return {
    url: `http://127.0.0.1:${port}`,
    get forwarded() {
      return forwarded
    },
    get isCut() {
      return cut !== false
    },
    hold(match) {
      let resolve!: (request: ProxiedRequest) => void
      const arrived = new Promise<ProxiedRequest>((r) => {
        resolve = r
      })
      const entry = { match, resolve, done: false } as (typeof holds)[number]
      holds.push(entry)
      return {
        arrived,
        release: () => {
          entry.done = true
          entry.go?.()
        },
        drop: () => {
          entry.done = true
          entry.stop?.()
        },
      }
    },
    cut(mode = 'refuse') {
      cut = mode
      for (const socket of sockets) socket.destroy()
      agent.destroy()
    },
    heal() {
      agent = new http.Agent({ keepAlive: true })
      cut = false
      for (const socket of stalled) socket.destroy()
      stalled.clear()
    },
    async close() {
      for (const hold of holds) hold.stop?.()
      server.closeAllConnections()
      agent.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

/** A predicate: a write (POST or PUT) of the document `id` for which `test` holds. */
export function docWrite(id: string, test: (doc: Record<string, unknown>) => boolean) {
  return anyDocWrite((doc) => doc._id === id && test(doc))
}

/** A hold predicate: a write of any document `test` picks. */
export function anyDocWrite(test: (doc: Record<string, unknown>) => boolean) {
  return (request: ProxiedRequest): boolean => {
    if (request.method !== 'PUT' && request.method !== 'POST') return false
    try {
      return test(JSON.parse(request.body) as Record<string, unknown>)
    } catch {
      return false
    }
  }
}
