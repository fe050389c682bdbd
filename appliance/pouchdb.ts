/**
 * A CouchDB for one region of the local appliance: PouchDB Server (a devDependency: `npm ci`
 * installs it), in memory, on 127.0.0.1, on a free port. It speaks the subset of CouchDB's
 * HTTP API that Stampede uses (see docs/job-plane.md for its gaps). Given credentials, it sits
 * behind an authenticating proxy (`couch-proxy.ts`) that refuses anonymous requests, as a
 * real deployment's CouchDB does; `url` is then the proxy's.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import type { Credentials } from '../lib/couch/credentials.js'
import { StampedeError } from '../lib/errors.js'
import { startCouchProxy } from './couch-proxy.js'

export interface LocalCouch {
  region: string
  url: string
  readonly child: ChildProcess
  stop(): Promise<void>
}

function pouchdbServerBin(): string {
  try {
    const manifest = createRequire(import.meta.url).resolve('pouchdb-server/package.json')
    return join(dirname(manifest), 'bin', 'pouchdb-server')
  } catch (err) {
    throw new StampedeError(
      'STAMPEDE_APPLIANCE_NO_COUCH',
      'pouchdb-server is not installed: the local appliance needs the devDependencies (npm ci, without --omit=dev)',
      { cause: err },
    )
  }
}

/** A port that was free a moment ago (PouchDB Server takes no port 0); a lost race is retried. */
function freePort(): Promise<number> {
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

export async function startPouchServer(
  region: string,
  options: { detached?: boolean; credentials?: Credentials } = {},
): Promise<LocalCouch> {
  const bin = pouchdbServerBin()
  // It writes config.json and log.txt into its working directory.
  const dir = mkdtempSync(join(tmpdir(), `stampede-${region}-`))
  for (let attempt = 1; ; attempt++) {
    const port = await freePort()
    const child = spawn(
      process.execPath,
      [bin, '--in-memory', '--host', '127.0.0.1', '--port', String(port), '--no-stdout-logs'],
      { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'], detached: options.detached ?? false },
    )
    let stderr = ''
    child.stderr!.on('data', (chunk) => {
      stderr = (stderr + chunk).slice(-2000)
    })
    const url = `http://127.0.0.1:${port}`
    if (await answers(url, child)) {
      const proxy = options.credentials
        ? await startCouchProxy({ upstream: url, credentials: options.credentials }).catch(async (err) => {
            await stopChild(child)
            rmSync(dir, { recursive: true, force: true })
            throw err
          })
        : undefined
      return {
        region,
        url: proxy?.url ?? url,
        child,
        async stop() {
          await proxy?.close()
          await stopChild(child)
          rmSync(dir, { recursive: true, force: true })
        },
      }
    }
    await stopChild(child)
    if (attempt >= 3) {
      rmSync(dir, { recursive: true, force: true })
      throw new StampedeError(
        'STAMPEDE_APPLIANCE_NO_COUCH',
        `PouchDB Server for ${region} did not start on ${url}: ${stderr.trim() || 'no answer'}`,
      )
    }
  }
}

/** Until the server answers, it exits, or 15 s pass. */
async function answers(url: string, child: ChildProcess): Promise<boolean> {
  const exited = new Promise<false>((resolve) => child.once('exit', () => resolve(false)))
  const deadline = Date.now() + 15_000
  while (Date.now() < deadline && child.exitCode === null) {
    const up = await Promise.race([
      fetch(url).then(
        (response) => response.ok,
        () => false,
      ),
      exited,
    ])
    if (up) return true
    await Promise.race([new Promise((resolve) => setTimeout(resolve, 100)), exited])
  }
  return false
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000)
    child.once('exit', () => {
      clearTimeout(timer)
      resolve()
    })
    child.kill('SIGTERM')
  })
}
