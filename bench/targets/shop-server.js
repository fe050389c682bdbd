#!/usr/bin/env node
// A target with sessions for the transaction benchmark (bench/transaction.js), on
// 127.0.0.1: POST /login sets a cookie and answers a token as JSON, GET /items answers a
// JSON list, GET /items/ID and GET /logout answer small JSON. Tells its port over IPC.
import { createServer } from 'node:http'

const port = Number(process.argv[2] ?? 0)
const LIST = JSON.stringify({ items: [{ id: 7 }, { id: 8 }, { id: 9 }] })
const server = createServer((req, res) => {
  req.resume()
  req.on('end', () => {
    if (req.url === '/login') {
      res.writeHead(200, {
        'content-type': 'application/json',
        'set-cookie': 'session=abc123; Path=/; HttpOnly',
      })
      res.end('{"token":"t-abc123"}')
    } else if (req.url === '/items') {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(LIST)
    } else {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end('{"ok":true}')
    }
  })
})
server.keepAliveTimeout = 60_000
server.listen(port, '127.0.0.1', () => process.send?.({ type: 'listening', port: server.address().port }))
process.on('disconnect', () => process.exit(0))
