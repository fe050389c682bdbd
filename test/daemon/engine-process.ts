import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { getDoc } from '../../lib/couch/client.js'
import { submitRush } from '../../lib/couch/rushes.js'
import type { EngineDoc, ShardDoc } from '../../lib/documents.js'
import type { RushSpec } from '../../lib/split.js'
import { couchEnv, type TestCouch } from '../harness/couch.js'

export const ENGINE_MAIN = fileURLToPath(new URL('../../dist/daemon/main.js', import.meta.url))

export interface EngineProcess {
  child: ChildProcess
  /** stderr lines so far. */
  stderr: string[]
  /** pino messages (`msg`) so far, in order. */
  messages: string[]
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>
  /** SIGKILL if still running (teardown). */
  kill(): Promise<void>
}

/**
 * `dist/daemon/main.js` with these arguments; the environment adds to the test's own and to
 * the test CouchDB's credentials (a variable set to undefined is left out).
 */
export function spawnEngine(args: string[], env: NodeJS.ProcessEnv = {}): EngineProcess {
  if (!existsSync(ENGINE_MAIN))
    throw new Error('build first: npx tsc -p . (this test runs dist/daemon/main.js)')
  const child = spawn(process.execPath, [ENGINE_MAIN, ...args], {
    env: { ...process.env, ...couchEnv(), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const stderr: string[] = []
  const messages: string[] = []
  createInterface({ input: child.stderr! }).on('line', (line) => stderr.push(line))
  createInterface({ input: child.stdout! }).on('line', (line) => {
    try {
      messages.push((JSON.parse(line) as { msg: string }).msg)
    } catch {
      messages.push(line)
    }
  })
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal, at: Date.now() })),
  )
  return {
    child,
    stderr,
    messages,
    exited,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
      await exited
    },
  }
}

/** Flags of an engine on a test CouchDB: in-process load, loopback allowed, fast heartbeats. */
export function engineArgs(server: TestCouch, extra: string[] = []): string[] {
  return [
    '--couch',
    server.url,
    '--prefix',
    server.prefix,
    '--workers',
    '0',
    '--allow-loopback',
    '--heartbeat-ms',
    '200',
    '--log-level',
    'info',
    ...extra,
  ]
}

export function fleetDoc(server: TestCouch, instanceId: string): Promise<EngineDoc | undefined> {
  return getDoc<EngineDoc>(server.couch.db(server.couch.names.fleet), `engine:${instanceId}`)
}

export function shardDoc(
  server: TestCouch,
  rush: string,
  region = 'us-east-1',
): Promise<ShardDoc | undefined> {
  return getDoc<ShardDoc>(server.couch.db(server.couch.names.dispatch(region)), `shard:${rush}:0`)
}

/** A one-shard rush against `url`: `users` users for `seconds`, starting `leadMs` from now. */
export function submitOneShard(
  server: TestCouch,
  url: string,
  options: { users?: number; seconds: number; leadMs: number; region?: string },
): Promise<string> {
  const users = options.users ?? 2
  const spec: RushSpec = {
    model: 'rush',
    request: { method: 'GET', url, headers: {}, timeoutMs: 2000 },
    pattern: [{ start: users, end: users, duration: options.seconds }],
    regions: [options.region ?? 'us-east-1'],
    shardsPerRegion: 1,
    startLeadMs: options.leadMs,
  }
  return submitRush(server.couch, spec)
}
