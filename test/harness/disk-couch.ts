import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type Couch, connectCouch } from '../../lib/couch/client.js'
import { freePort, uniquePrefix } from './couch.js'

const BIN = fileURLToPath(new URL('../../node_modules/pouchdb-server/bin/pouchdb-server', import.meta.url))

/**
 * PouchDB Server with on-disk storage (LevelDOWN, in a temporary folder) on a fixed port, so a
 * test can kill it (`kill -9`) and start it again on the same port with the same data, as a
 * CouchDB restarted by its supervisor.
 */
export interface DiskCouch {
  url: string
  prefix: string
  couch: Couch
  readonly pid: number | undefined
  /** SIGKILL; resolves once the process is gone. */
  kill(): Promise<void>
  /** Starts it again on the same port and folder; resolves once it answers. */
  restart(): Promise<void>
  stop(): Promise<void>
}

export async function startDiskCouch(): Promise<DiskCouch> {
  const dir = mkdtempSync(join(tmpdir(), 'stampede-disk-couch-'))
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  let child: ChildProcess | undefined
  const start = async () => {
    for (let attempt = 0; ; attempt++) {
      child = spawn(
        process.execPath,
        [BIN, '--port', String(port), '--host', '127.0.0.1', '--dir', dir, '--no-stdout-logs'],
        { cwd: dir, stdio: ['ignore', 'ignore', 'ignore'] },
      )
      if (await answers(url, child)) return
      await kill()
      // The port may still be held by the killed process's last sockets for a moment.
      if (attempt >= 20) throw new Error(`PouchDB Server did not start again on ${url}`)
      await new Promise((resolve) => setTimeout(resolve, 250))
    }
  }
  const kill = async () => {
    const current = child
    if (!current || current.exitCode !== null || current.signalCode !== null) return
    const exited = new Promise((resolve) => current.once('exit', resolve))
    current.kill('SIGKILL')
    await exited
  }
  await start()
  const prefix = uniquePrefix()
  return {
    url,
    prefix,
    couch: connectCouch(url, { prefix }),
    get pid() {
      return child?.pid
    },
    kill,
    restart: start,
    async stop() {
      await kill()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

async function answers(url: string, child: ChildProcess): Promise<boolean> {
  const deadline = Date.now() + 15_000
  while (Date.now() < deadline && child.exitCode === null && child.signalCode === null) {
    try {
      if ((await fetch(url)).ok) return true
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return false
}
