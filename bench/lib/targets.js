import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { request } from 'node:http'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { freePort, killGroup, pinned, sleep, spawnTracked, tempDir } from './processes.js'

const SLOW_SERVER = fileURLToPath(new URL('../targets/slow-server.js', import.meta.url))

/** Resolves when GET url answers (each try may take `answerMs`), or rejects after `ms`. */
export async function waitForHttp(url, ms = 10_000, answerMs = 2000) {
  const deadline = Date.now() + ms
  for (;;) {
    const ok = await new Promise((resolve) => {
      const req = request(url, { agent: false }, (res) => {
        res.resume()
        res.on('end', () => resolve(res.statusCode === 200))
      })
      req.on('error', () => resolve(false))
      req.setTimeout(answerMs, () => req.destroy())
      req.end()
    })
    if (ok) return
    if (Date.now() > deadline) throw new Error(`target ${url} did not answer within ${ms} ms`)
    await sleep(100)
  }
}

/**
 * Debian's nginx with a configuration of the bench's own in a temp dir: one worker, on
 * 127.0.0.1 and a free port, `return 200 "ok"` (or the server block's `locations`), no
 * access log, keep-alive without limit.
 */
export async function startNginx({ core, locations = 'location / { return 200 "ok"; }' } = {}) {
  const dir = tempDir('stampede-bench-nginx-')
  for (const sub of ['client', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(dir, sub))
  const port = await freePort()
  const conf = join(dir, 'nginx.conf')
  writeFileSync(
    conf,
    `worker_processes 1;
daemon off;
master_process on;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
worker_rlimit_nofile 20000;
events { worker_connections 10000; multi_accept on; }
http {
  access_log off;
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  client_body_temp_path ${dir}/client;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  server {
    listen 127.0.0.1:${port} backlog=4096;
    ${locations}
  }
}
`,
  )
  const [cmd, args] = pinned(core, 'nginx', ['-c', conf, '-p', dir, '-e', join(dir, 'error.log')])
  const child = spawnTracked(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (chunk) => {
    stderr += chunk
  })
  const url = `http://127.0.0.1:${port}/`
  try {
    await waitForHttp(url)
  } catch (err) {
    killGroup(child)
    throw new Error(`${err.message}: ${stderr || readErrorLog(dir)}`)
  }
  return { url, port, dir, stop: () => killGroup(child, 'SIGKILL') }
}

/**
 * nginx serving the shop of bench/lib/shop-transaction.js as bench/targets/shop-server.js
 * does (a login that sets a cookie and answers a token, a JSON list, small JSON answers):
 * a target that keeps up with 20,000 requests/s on one core with room to spare, where the
 * Node shop takes ~90% of its core at that rate and queues at every hiccup.
 */
export function startNginxShop({ core } = {}) {
  return startNginx({
    core,
    locations: `default_type application/json;
    location = /login {
      add_header Set-Cookie "session=abc123; Path=/; HttpOnly";
      return 200 '{"token":"t-abc123"}';
    }
    location = /items { return 200 '{"items":[{"id":7},{"id":8},{"id":9}]}'; }
    location / { return 200 '{"ok":true}'; }`,
  })
}

function readErrorLog(dir) {
  try {
    return readFileSync(join(dir, 'error.log'), 'utf8')
  } catch {
    return ''
  }
}

/**
 * One Node process of bench/targets/slow-server.js: answers after `delayMs` on
 * host:port. With `record`, it keeps the time of every connection and request.
 */
export async function startSlowServer({ host = '127.0.0.1', port, delayMs, core, record = false }) {
  const recordDir = record ? tempDir('stampede-bench-target-') : undefined
  const args = [SLOW_SERVER, host, String(port ?? 0), String(delayMs)]
  if (recordDir) args.push(recordDir)
  const [cmd, cmdArgs] = pinned(core, process.execPath, args)
  const child = spawnTracked(cmd, cmdArgs, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const listening = await new Promise((resolve, reject) => {
    child.once('message', (message) =>
      message.type === 'listening'
        ? resolve(message.port)
        : reject(new Error(`target ${host}:${port}: ${message.message}`)),
    )
    child.once('exit', (code) => reject(new Error(`target ${host}:${port} exited (${code})`)))
  })
  const url = `http://${host}:${listening}/`
  // The probe waits for one delayed answer.
  await waitForHttp(url, 10_000 + delayMs, delayMs + 2000)
  await new Promise((resolve) => {
    child.once('message', resolve)
    child.send({ type: 'reset' })
  })
  return {
    url,
    host,
    port: listening,
    pid: child.pid,
    recordDir,
    /** Asks for the counters (and, when recording, writes the time records). */
    report: () =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`target ${host} did not report`)), 30_000)
        child.once('message', (message) => {
          clearTimeout(timer)
          resolve(message)
        })
        child.send({ type: 'report' })
      }),
    /** The recorded times, each a sorted Float64Array of epoch milliseconds. */
    records: () => {
      const read = (name) => {
        const bytes = readFileSync(join(recordDir, `${name}.f64`))
        return new Float64Array(bytes.buffer, bytes.byteOffset, bytes.length / 8).slice().sort()
      }
      return {
        opened: read('opened'),
        closed: read('closed'),
        arrived: read('arrived'),
        answered: read('answered'),
      }
    },
    stop: () => killGroup(child),
  }
}

/**
 * Merges start and end times (each sorted) into the peak number of things open at once,
 * when it was first reached, and when the first one started. An end and a start at the
 * same instant count as the end first (the conservative reading).
 */
export function peakOverlap(starts, ends) {
  let open = 0
  let peak = 0
  let peakAt
  let j = 0
  for (let i = 0; i < starts.length; i++) {
    const t = starts[i]
    while (j < ends.length && ends[j] <= t) {
      j++
      open--
    }
    open++
    if (open > peak) {
      peak = open
      peakAt = t
    }
  }
  return { peak, peakAt, firstAt: starts.length > 0 ? starts[0] : undefined }
}

/** Merges several sorted Float64Arrays into one sorted array. */
export function mergeSorted(arrays) {
  const total = arrays.reduce((sum, a) => sum + a.length, 0)
  const merged = new Float64Array(total)
  let offset = 0
  for (const a of arrays) {
    merged.set(a, offset)
    offset += a.length
  }
  return merged.sort()
}
