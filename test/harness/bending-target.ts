import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'

/**
 * A target on 127.0.0.1 that bends under load, so a report has something to show: each
 * answer waits 2 ms plus 1 ms per request already in progress; every 40th answers 503;
 * every 150th takes `slowMs` (past a short --timeout, a timeout).
 */
export async function startBendingTarget(slowMs = 400): Promise<{ url: string; close(): Promise<void> }> {
  let inFlight = 0
  let n = 0
  const server = createServer((request, response) => {
    request.resume()
    request.on('end', () => {
      const k = ++n
      inFlight++
      const delay = k % 150 === 0 ? slowMs : 2 + inFlight
      setTimeout(() => {
        inFlight--
        response.statusCode = k % 40 === 0 ? 503 : 200
        response.end('ok')
      }, delay)
    })
  })
  server.keepAliveTimeout = 60_000
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
