import { readFileSync } from 'node:fs'
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import type { AddressInfo } from 'node:net'

/**
 * A target for tests, on 127.0.0.1 only. It counts what it receives, so tests compare
 * Stampede's figures with the server's own. Behaviour by path:
 *   /delay/MS      answer 200 after MS milliseconds
 *   /status/CODE   answer with that status
 *   /garbage       answer bytes that are not HTTP
 *   /reset         drop the connection without answering
 *   /echo          answer 200 with what was received (method, headers, body) as JSON
 *   anything else  answer 200 "ok" (after `delayMs`, if given)
 * Shared by every test folder: the job-plane tests use `count` and `arrivals` too.
 */
export interface Target {
  url: string
  port: number
  /** Requests received (fully read), whatever the answer. */
  readonly requests: number
  /** The same as `requests`. */
  readonly count: number
  /** Epoch ms at which each request arrived. */
  readonly arrivals: number[]
  /** The most requests in progress at once. */
  readonly peakInFlight: number
  /** Connections accepted. */
  readonly connections: number
  /** Requests received per path prefix (first segment). */
  readonly byPath: Map<string, number>
  last?: { method: string; headers: IncomingMessage['headers']; body: string }
  reset(): void
  close(): Promise<void>
}

const fixture = (name: string) => readFileSync(new URL(`../fixtures/${name}`, import.meta.url))

export interface TargetOptions {
  https?: boolean
  /** Delay of the default answer, milliseconds. */
  delayMs?: number
}

/** Starts a target; a number is taken as `{ delayMs }`. */
export async function startTarget(optionsOrDelay: TargetOptions | number = {}): Promise<Target> {
  const options = typeof optionsOrDelay === 'number' ? { delayMs: optionsOrDelay } : optionsOrDelay
  const arrivals: number[] = []
  let requests = 0
  let inFlight = 0
  let peakInFlight = 0
  let connections = 0
  const byPath = new Map<string, number>()

  const target: Target = {
    url: '',
    port: 0,
    get requests() {
      return requests
    },
    get count() {
      return requests
    },
    arrivals,
    get peakInFlight() {
      return peakInFlight
    },
    get connections() {
      return connections
    },
    byPath,
    reset() {
      requests = 0
      arrivals.length = 0
      peakInFlight = inFlight
      connections = 0
      byPath.clear()
    },
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      requests++
      arrivals.push(Date.now())
      const segments = (req.url ?? '/').split('?')[0]!.split('/')
      byPath.set(segments[1] ?? '', (byPath.get(segments[1] ?? '') ?? 0) + 1)
      inFlight++
      peakInFlight = Math.max(peakInFlight, inFlight)
      let answered = false
      const done = () => {
        if (answered) return
        answered = true
        inFlight--
      }
      res.on('close', done)
      switch (segments[1]) {
        case 'delay': {
          const timer = setTimeout(() => res.end('ok'), Number(segments[2]))
          res.on('close', () => clearTimeout(timer))
          return
        }
        case 'status':
          res.statusCode = Number(segments[2])
          res.end('status')
          return
        case 'garbage':
          req.socket.end('THIS IS NOT HTTP\r\n\r\n')
          return
        case 'reset':
          req.socket.destroy()
          return
        case 'echo':
          target.last = {
            method: req.method ?? '',
            headers: req.headers,
            body: Buffer.concat(chunks).toString(),
          }
          res.setHeader('content-type', 'application/json')
          res.end(JSON.stringify(target.last))
          return
        default:
          if (options.delayMs) {
            const timer = setTimeout(() => res.end('ok'), options.delayMs)
            res.on('close', () => clearTimeout(timer))
          } else res.end('ok')
      }
    })
  }

  const server: Server = options.https
    ? createHttpsServer({ key: fixture('target-key.pem'), cert: fixture('target-cert.pem') }, handle)
    : createHttpServer(handle)
  server.keepAliveTimeout = 30_000
  server.on('connection', () => connections++)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  target.port = (server.address() as AddressInfo).port
  target.url = `${options.https ? 'https' : 'http'}://127.0.0.1:${target.port}`
  return target
}
