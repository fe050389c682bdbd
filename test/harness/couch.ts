import { type ChildProcess, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type CouchProxy, startCouchProxy } from '../../appliance/couch-proxy.js'
import { type Couch, connectCouch } from '../../lib/couch/client.js'
import type { Credentials } from '../../lib/couch/credentials.js'

/**
 * A CouchDB for a test: PouchDB Server (in memory, on 127.0.0.1, a free port) behind an
 * authenticating proxy that refuses every request without the test's credentials, started
 * here and stopped after; or, when COUCHDB_URL is set, that real CouchDB (credentials in the
 * URL: `http://admin:secret@127.0.0.1:5984`) with database names under a unique prefix
 * (dropped after).
 */
export interface TestCouch {
  /** Base URL, no credentials in it. */
  url: string
  prefix: string
  pouchdbServer: boolean
  /** The credentials it requires (none: a real CouchDB in admin party). */
  credentials: Credentials | undefined
  /** A client with the credentials. */
  couch: Couch
  /** Another client with the credentials, under `prefix` (default: this server's). */
  connect(prefix?: string): Couch
  stop(): Promise<void>
}

/**
 * One set of credentials for every test CouchDB of this test process, as one set serves every
 * region of a deployment: `migrate` writes them into the replication documents, so each
 * region's replicator authenticates to the other regions' servers with them.
 */
export const couchCredentials: Credentials | undefined = (() => {
  const external = process.env.COUCHDB_URL
  if (external) {
    const url = new URL(external)
    return url.username
      ? { username: decodeURIComponent(url.username), password: decodeURIComponent(url.password) }
      : undefined
  }
  return { username: 'stampede-test', password: randomBytes(12).toString('base64url') }
})()

/**
 * The environment that gives a process the test CouchDB's credentials, the way an operator
 * gives them (never on a command line). Every process a test starts against a test CouchDB
 * gets it; leaving it out fails, because the server refuses anonymous requests.
 */
export function couchEnv(): Record<string, string> {
  return couchCredentials
    ? { STAMPEDE_COUCH_USER: couchCredentials.username, STAMPEDE_COUCH_PASSWORD: couchCredentials.password }
    : {}
}

/** A client of `url` with the test credentials (for servers a test got from elsewhere, such as an engine's URL). */
export function connectTestCouch(url: string, prefix?: string): Couch {
  return connectCouch(url, {
    ...(prefix !== undefined && { prefix }),
    ...(couchCredentials && { credentials: couchCredentials }),
  })
}

const BIN = fileURLToPath(new URL('../../node_modules/pouchdb-server/bin/pouchdb-server', import.meta.url))

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

export function uniquePrefix(): string {
  return `t${randomBytes(4).toString('hex')}`
}

export async function startCouch(options: { prefix?: string } = {}): Promise<TestCouch> {
  const prefix = options.prefix ?? uniquePrefix()
  const external = process.env.COUCHDB_URL
  if (external) {
    const url = new URL(external)
    url.username = ''
    url.password = ''
    const base = url.href.replace(/\/+$/, '')
    const couch = connectTestCouch(base, prefix)
    return {
      url: base,
      prefix,
      pouchdbServer: false,
      credentials: couchCredentials,
      couch,
      connect: (other = prefix) => connectTestCouch(base, other),
      async stop() {
        for (const db of await couch.server.db.list()) {
          if (db.startsWith(`${prefix}-`)) await couch.server.db.destroy(db).catch(() => {})
        }
        const replicator = couch.db('_replicator')
        const rows = await replicator
          .list()
          .catch(() => ({ rows: [] as { id: string; value: { rev: string } }[] }))
        for (const row of rows.rows) {
          if (row.id.startsWith(`stampede.${prefix}.`))
            await replicator.destroy(row.id, row.value.rev).catch(() => {})
        }
      },
    }
  }
  const dir = mkdtempSync(join(tmpdir(), 'stampede-pouch-'))
  for (let attempt = 0; ; attempt++) {
    const port = await freePort()
    const child = spawn(
      process.execPath,
      [BIN, '--in-memory', '--port', String(port), '--host', '127.0.0.1', '--no-stdout-logs'],
      {
        cwd: dir,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
    const backend = `http://127.0.0.1:${port}`
    if (await waitUp(backend, child)) {
      let proxy: CouchProxy
      try {
        proxy = await startCouchProxy({ upstream: backend, credentials: couchCredentials! })
      } catch (err) {
        await stopChild(child)
        throw err
      }
      const url = proxy.url
      return {
        url,
        prefix,
        pouchdbServer: true,
        credentials: couchCredentials,
        couch: connectTestCouch(url, prefix),
        connect: (other = prefix) => connectTestCouch(url, other),
        async stop() {
          await proxy.close()
          await stopChild(child)
          rmSync(dir, { recursive: true, force: true })
        },
      }
    }
    await stopChild(child)
    if (attempt >= 2) throw new Error(`PouchDB Server did not start on ${backend}`)
  }
}

async function waitUp(url: string, child: ChildProcess): Promise<boolean> {
  const deadline = Date.now() + 15_000
  while (Date.now() < deadline && child.exitCode === null) {
    try {
      const response = await fetch(url)
      if (response.ok) return true
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  return false
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => {
    child.once('exit', () => resolve())
    child.kill('SIGTERM')
    setTimeout(() => child.kill('SIGKILL'), 3000).unref()
  })
}

/**
 * Polls `check` until it returns a value (not undefined/false) or the time is up. The
 * default bound is generous (a minute): it only says when to give up, and a busy machine
 * (npm run test:busy) makes every step of an engine or a CouchDB slower.
 */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 60_000,
  everyMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value !== undefined && value !== false) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, everyMs))
  }
}

/** Clean-ups that run last-in first-out (engines before the servers they talk to). */
export function cleanups(t: { teardown(fn: () => unknown): void }): (fn: () => unknown) => void {
  const stack: (() => unknown)[] = []
  t.teardown(async () => {
    while (stack.length > 0) await stack.pop()!()
  })
  return (fn) => {
    stack.push(fn)
  }
}
