import http from 'node:http'
import type { AddressInfo } from 'node:net'

/**
 * A target on 127.0.0.1 that answers nothing until `release()`: until then every request
 * holds its connection, whatever the time (a `/delay/MS` answer could come before a busy
 * machine's next step, and free a connection or a visitor the test counts on being busy).
 * Counts connections accepted and requests received.
 */
export async function startHeldTarget() {
  const held: http.ServerResponse[] = []
  let released = false
  let connections = 0
  let requests = 0
  const server = http.createServer((req, res) => {
    requests++
    req.resume()
    if (released) res.end('ok')
    else held.push(res)
  })
  server.on('connection', () => connections++)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}/`,
    get connections() {
      return connections
    },
    get requests() {
      return requests
    },
    release() {
      released = true
      for (const res of held.splice(0)) res.end('ok')
    },
    close: () => {
      server.closeAllConnections()
      return new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
