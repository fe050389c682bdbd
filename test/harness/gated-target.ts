import http from 'node:http'
import type { AddressInfo } from 'node:net'

/**
 * A target on 127.0.0.1 whose answers can be stopped: while closed it takes requests and
 * answers none of them. A fault test closes it before it kills an engine, so every response
 * the target finished went out while the engine was alive to record it: the hits the rush
 * reports can then be compared exactly with `answered`.
 */
export interface GatedTarget {
  url: string
  /** Requests received (fully read). */
  readonly received: number
  /** Responses finished (the last byte handed to the socket). */
  readonly answered: number
  /** Epoch ms of each finished response. */
  readonly answeredAt: number[]
  /** From now on nothing is answered. */
  close(): void
  open(): void
  stop(): Promise<void>
}

export async function startGatedTarget(delayMs = 5): Promise<GatedTarget> {
  let received = 0
  let answered = 0
  let closed = false
  const answeredAt: number[] = []
  const server = http.createServer((req, res) => {
    req.resume()
    req.on('end', () => {
      received++
      if (closed) return
      const timer = setTimeout(() => {
        if (closed) return
        res.on('finish', () => {
          answered++
          answeredAt.push(Date.now())
        })
        res.end('ok')
      }, delayMs)
      res.on('close', () => clearTimeout(timer))
    })
  })
  server.keepAliveTimeout = 30_000
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}/`,
    get received() {
      return received
    },
    get answered() {
      return answered
    },
    answeredAt,
    close() {
      closed = true
    },
    open() {
      closed = false
    },
    async stop() {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
