// A target that answers every request after a fixed delay ("ok", keep-alive). Started by
// the bench with an IPC channel:  node slow-server.js HOST PORT DELAY_MS [RECORD_DIR]
// With RECORD_DIR it records the time of every connection open/close and request
// arrival/answer (epoch milliseconds), so the bench can merge the records of several
// server processes and find the exact peak of concurrent connections and requests.
import { writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { join } from 'node:path'

const [host, portText, delayText, recordDir] = process.argv.slice(2)
const port = Number(portText)
const delayMs = Number(delayText)
const now = () => performance.timeOrigin + performance.now()

class Times {
  array = new Float64Array(1 << 16)
  length = 0
  push(value) {
    if (this.length === this.array.length) {
      const bigger = new Float64Array(this.array.length * 2)
      bigger.set(this.array)
      this.array = bigger
    }
    this.array[this.length++] = value
  }
  save(path) {
    writeFileSync(path, new Uint8Array(this.array.buffer, 0, this.length * 8))
  }
}

const record = recordDir !== undefined
const times = { opened: new Times(), closed: new Times(), arrived: new Times(), answered: new Times() }
let connections = 0
let inFlight = 0
let peakConnections = 0
let peakInFlight = 0
let requests = 0
let generation = 0
const body = Buffer.from('ok')

const server = createServer(
  { keepAliveTimeout: 120_000, headersTimeout: 60_000, requestTimeout: 0 },
  (req, res) => {
    requests++
    if (++inFlight > peakInFlight) peakInFlight = inFlight
    if (record) times.arrived.push(now())
    req.resume()
    setTimeout(() => {
      if (record) times.answered.push(now())
      inFlight--
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 2 })
      res.end(body)
    }, delayMs)
  },
)
server.maxConnections = Number.MAX_SAFE_INTEGER
server.on('connection', (socket) => {
  if (++connections > peakConnections) peakConnections = connections
  if (record) times.opened.push(now())
  const opened = generation
  socket.on('close', () => {
    connections--
    // A connection opened before the last reset (the readiness probe) is not in the records.
    if (record && opened === generation) times.closed.push(now())
  })
})
server.on('error', (err) => {
  process.send?.({ type: 'error', message: err.message })
  process.exit(1)
})
server.listen({ host, port, backlog: 65_535 }, () =>
  process.send?.({ type: 'listening', port: server.address().port }),
)

process.on('message', (message) => {
  if (message.type === 'reset') {
    // Forget the bench's readiness probe: records start with the tool's first connection.
    generation++
    for (const list of Object.values(times)) list.length = 0
    requests = peakInFlight = 0
    peakConnections = connections
    process.send?.({ type: 'reset' })
    return
  }
  if (message.type !== 'report') return
  if (record) for (const [name, list] of Object.entries(times)) list.save(join(recordDir, `${name}.f64`))
  process.send?.({ type: 'report', requests, connections, peakConnections, peakInFlight, inFlight })
})
process.on('disconnect', () => process.exit(0))
