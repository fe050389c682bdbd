import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface DemoTarget {
  url: string
  /** Requests answered so far: the target's own count, to set beside the rush's. */
  readonly count: number
  close(): Promise<void>
}

/** The demo's target on 127.0.0.1: answers after 2 to 12 ms, like `stampede demo`'s. */
export async function startDemoTarget(): Promise<DemoTarget> {
  let count = 0
  const server: Server = createServer((_req, res) => {
    setTimeout(
      () => {
        count++
        res.end('hello from the Stampede appliance demo target\n')
      },
      2 + Math.random() * 10,
    )
  })
  server.keepAliveTimeout = 30_000
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}/`,
    get count() {
      return count
    },
    async close() {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
