import http from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Point } from '../../lib/timeline.js'
import type { RunningModel } from '../../load/model.js'

/**
 * A target on 127.0.0.1 that answers nothing until `release()`: until then every request
 * holds its connection, whatever the time (a `/delay/MS` answer could come before a busy
 * machine's next step, and free a connection or a visitor the test counts on being busy).
 * Counts connections accepted and requests received.
 */
export type HeldTarget = Awaited<ReturnType<typeof startHeldTarget>>

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

/**
 * Starts an open model (`start`, whose points go to `points`) at a time already past, so every
 * arrival is due at its first wake-up, which sends what connections allow, queues the rest and
 * ends the schedule in one go, before any request lands; then stops it once the first request
 * has landed and releases the answers. Returns the points' totals.
 */
export async function stopAfterTheScheduleRanOut(
  start: (startAt: number) => RunningModel,
  target: HeldTarget,
  points: Point[],
): Promise<{ sent: number; hits: number; dropped: number }> {
  const running = start(performance.now() - 1000)
  while (target.requests < 1) await new Promise((resolve) => setImmediate(resolve))
  running.stop()
  target.release()
  await running.done
  const sum = (field: 'sent' | 'hits' | 'dropped') => points.reduce((total, point) => total + point[field], 0)
  return { sent: sum('sent'), hits: sum('hits'), dropped: sum('dropped') }
}
