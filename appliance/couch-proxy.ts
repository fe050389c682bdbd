/**
 * An authenticating reverse proxy in front of PouchDB Server, so that a local CouchDB refuses
 * anonymous requests as every real deployment does. PouchDB Server's own admin setting does
 * not: anonymous document writes still pass, and an anonymous database creation crashes it.
 *
 * Like CouchDB with `require_valid_user`: every request needs HTTP Basic credentials (the only
 * scheme Stampede's clients use — nano and the changes follower send an Authorization header,
 * never a `_session` cookie); without them 401 with CouchDB's JSON body. Bodies stream both
 * ways, chunk by chunk, so a continuous `_changes` feed flows through as it is written; when
 * either side goes away the other is cut, so a dead server looks dead to the client.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import { Agent, createServer, type IncomingHttpHeaders, request, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { pipeline } from 'node:stream'
import type { Credentials } from '../lib/couch/credentials.js'

export interface CouchProxy {
  /** The proxy's base URL (http://127.0.0.1:port), no credentials. */
  url: string
  /** Requests refused for want of valid credentials so far. */
  readonly refused: number
  close(): Promise<void>
}

export interface CouchProxyOptions {
  /** The server behind, e.g. http://127.0.0.1:5984. */
  upstream: string
  credentials: Credentials
  /** Default 0: any free port. */
  port?: number
}

/** Connection-level headers: they describe one hop, not the message (RFC 9110 §7.6.1). */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
])

/**
 * What goes on: the hop's own headers are dropped, and so are the credentials — PouchDB Server
 * would check a Basic header or a session cookie against its own (empty) user database and
 * refuse the request.
 */
function forwarded(headers: IncomingHttpHeaders, drop: string[] = []): IncomingHttpHeaders {
  const out: IncomingHttpHeaders = {}
  for (const [name, value] of Object.entries(headers)) {
    if (!HOP_BY_HOP.has(name) && !drop.includes(name)) out[name] = value
  }
  return out
}

const digest = (text: string) => createHash('sha256').update(text).digest()

function sendJson(res: ServerResponse, status: number, body: object, headers: Record<string, string> = {}) {
  const text = JSON.stringify(body)
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'must-revalidate',
    ...headers,
  })
  res.end(`${text}\n`)
}

export async function startCouchProxy(options: CouchProxyOptions): Promise<CouchProxy> {
  const upstream = new URL(options.upstream)
  // Compared as digests of equal length, in constant time.
  const expected = digest(`${options.credentials.username}:${options.credentials.password}`)
  const agent = new Agent({ keepAlive: true })
  let refused = 0

  /** undefined: authenticated; else the reason CouchDB gives. */
  const refusal = (header: string | undefined): string | undefined => {
    const basic = header && /^basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header)
    if (!basic) return 'Authentication required.'
    const given = Buffer.from(basic[1]!, 'base64').toString('utf8')
    return timingSafeEqual(digest(given), expected) ? undefined : 'Name or password is incorrect.'
  }

  const server = createServer((req, res) => {
    const reason = refusal(req.headers.authorization)
    if (reason) {
      refused++
      // Read what was sent, so the connection stays usable for the next request.
      req.resume()
      sendJson(res, 401, { error: 'unauthorized', reason }, { 'WWW-Authenticate': 'Basic realm="stampede"' })
      return
    }
    const outgoing = request({
      protocol: upstream.protocol,
      hostname: upstream.hostname,
      port: upstream.port,
      method: req.method,
      path: req.url,
      headers: forwarded(req.headers, ['authorization', 'cookie']),
      agent,
    })
    outgoing.on('response', (incoming) => {
      res.writeHead(incoming.statusCode ?? 502, incoming.statusMessage, forwarded(incoming.headers))
      // The headers now, not with the first body chunk: a quiet feed must still answer.
      res.flushHeaders()
      pipeline(incoming, res, () => {})
    })
    outgoing.on('error', (err) => {
      if (res.destroyed) return
      if (res.headersSent) res.destroy()
      else sendJson(res, 502, { error: 'bad_gateway', reason: `the CouchDB behind: ${err.message}` })
    })
    // A client that leaves (an aborted feed) ends its upstream request too.
    res.on('close', () => {
      if (!res.writableFinished) outgoing.destroy()
    })
    pipeline(req, outgoing, () => {})
  })

  const sockets = new Set<Socket>()
  server.on('connection', (socket) => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve())
  })
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    get refused() {
      return refused
    },
    close() {
      return new Promise<void>((resolve) => {
        server.close(() => resolve())
        for (const socket of sockets) socket.destroy()
        agent.destroy()
      })
    },
  }
}
