/**
 * What the fault tests share: a real engine process (dist/daemon/main.js) whose JSON log lines
 * are events to wait on, and the checks every fault ends with — the rush ended, every second
 * reported once, the merged hits equal what the target answered, no shard ran twice.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import type { Couch } from '../../lib/couch/client.js'
import { watchRush } from '../../lib/couch/rushes.js'
import type { RushState } from '../../lib/documents.js'
import { couchEnv } from './couch.js'

export const ENGINE_MAIN = fileURLToPath(new URL('../../dist/daemon/main.js', import.meta.url))

export interface LogLine {
  msg: string
  level: number
  time: number
  shard?: string
  state?: string
  [key: string]: unknown
}

export interface EngineProc {
  child: ChildProcess
  lines: LogLine[]
  stderr: string[]
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>
  /** The first log line (past or future) that matches. */
  when(match: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>
  /** SIGKILL; resolves once the process is gone (epoch ms of the kill). */
  kill(): Promise<number>
  /** SIGTERM and wait (teardown; SIGKILL if it takes longer than `ms`). */
  stop(ms?: number): Promise<void>
}

/** The engine as a process; `prefix` runs it under another command (e.g. faketime). */
export function spawnEngine(
  args: string[],
  options: { env?: NodeJS.ProcessEnv; prefix?: string[]; couchCredentials?: boolean } = {},
): EngineProc {
  if (!existsSync(ENGINE_MAIN)) throw new Error('build first: npm run build (this test runs dist/)')
  const argv = [...(options.prefix ?? []), process.execPath, ENGINE_MAIN, ...args]
  // Its own process group, signalled as a whole: under tap a node child may run behind a
  // wrapper process (seen with LD_PRELOAD set), and a signal to the wrapper alone would leave
  // the engine running, orphaned.
  const child = spawn(argv[0]!, argv.slice(1), {
    // The test CouchDB's credentials, as an operator's environment would hold them.
    env: { ...process.env, ...(options.couchCredentials !== false && couchEnv()), ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  })
  const signal = (name: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, name)
    } catch {
      // the group is gone
    }
  }
  const lines: LogLine[] = []
  const stderr: string[] = []
  const waiters: { match: (line: LogLine) => boolean; resolve: (line: LogLine) => void }[] = []
  createInterface({ input: child.stderr! }).on('line', (line) => stderr.push(line))
  createInterface({ input: child.stdout! }).on('line', (text) => {
    let line: LogLine
    try {
      line = JSON.parse(text) as LogLine
    } catch {
      line = { msg: text, level: 30, time: Date.now() }
    }
    lines.push(line)
    for (const waiter of [...waiters]) {
      if (waiter.match(line)) {
        waiters.splice(waiters.indexOf(waiter), 1)
        waiter.resolve(line)
      }
    }
  })
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal, at: Date.now() })),
  )
  const alive = () => child.exitCode === null && child.signalCode === null
  return {
    child,
    lines,
    stderr,
    exited,
    when(match, timeoutMs = 30_000) {
      const past = lines.find(match)
      if (past) return Promise.resolve(past)
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          const index = waiters.findIndex((w) => w.resolve === done)
          if (index >= 0) waiters.splice(index, 1)
          reject(
            new Error(`no matching engine log line within ${timeoutMs} ms; stderr: ${stderr.join(' | ')}`),
          )
        }, timeoutMs)
        const done = (line: LogLine) => {
          clearTimeout(timer)
          resolve(line)
        }
        waiters.push({ match, resolve: done })
        void exited.then(() => {
          if (waiters.some((w) => w.resolve === done)) {
            waiters.splice(
              waiters.findIndex((w) => w.resolve === done),
              1,
            )
            clearTimeout(timer)
            reject(new Error(`engine exited before the awaited log line; stderr: ${stderr.join(' | ')}`))
          }
        })
      })
    },
    async kill() {
      const at = Date.now()
      signal('SIGKILL')
      await exited
      return at
    },
    async stop(ms = 10_000) {
      if (!alive()) {
        signal('SIGKILL')
        return
      }
      signal('SIGTERM')
      const timer = setTimeout(() => signal('SIGKILL'), ms)
      await exited
      clearTimeout(timer)
      // Whatever of the group outlived the one we waited for.
      signal('SIGKILL')
    },
  }
}

/** Flags of an engine with a static identity on a test CouchDB (in-process load, loopback allowed). */
export function engineFlags(
  couchUrl: string,
  prefix: string,
  instanceId: string,
  extra: string[] = [],
): string[] {
  return [
    '--couch',
    couchUrl,
    '--prefix',
    prefix,
    '--instance-id',
    instanceId,
    '--region',
    'us-east-1',
    '--workers',
    '0',
    '--allow-loopback',
    '--heartbeat-ms',
    '500',
    '--log-level',
    'info',
    ...extra,
  ]
}

export interface RushSeen {
  state: RushState
  /** Seconds in the order the watcher emitted them. */
  seconds: number[]
  hits: number
  sent: number
}

/** Watches the rush to its end as the CLI does (every second emitted once, in order). */
export async function watchToEnd(couch: Couch, rush: string): Promise<RushSeen> {
  const seconds: number[] = []
  const result = await watchRush(couch, rush, (point) => seconds.push(point.t), {
    pollMs: 200,
    graceMs: 60_000,
  })
  return { state: result.state, seconds, hits: result.summary.hits, sent: result.summary.sent }
}

/** `[0, 1, …, n-1]`. */
export function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i)
}

/** How many times each shard was started, from the engines' `shard running` log lines. */
export function runsPerShard(...engines: EngineProc[]): Map<string, number> {
  const runs = new Map<string, number>()
  for (const engine of engines)
    for (const line of engine.lines)
      if (line.msg === 'shard running' && line.shard) runs.set(line.shard, (runs.get(line.shard) ?? 0) + 1)
  return runs
}

export function twice(runs: Map<string, number>): number {
  return [...runs.values()].filter((n) => n > 1).length
}

export interface SampleAudit {
  /** Entries of the rush in the results database. */
  entries: number
  /** Entries of a (shard, second) already present: samples written twice. */
  duplicates: number
  /** Seconds missing inside a shard's reported range: samples lost. */
  gaps: number
}

/** Audits the rush's sample entries as stored (view `entries`): none twice, none missing. */
export async function auditSamples(couch: Couch, rush: string): Promise<SampleAudit> {
  const rows = await couch
    .db(couch.names.results)
    .view<{ shard: string; point: { t: number } }>('stampede', 'entries', {
      startkey: [rush, 0],
      endkey: [rush, {}],
    })
  const seen = new Map<string, Set<number>>()
  let duplicates = 0
  for (const row of rows.rows) {
    const { shard, point } = row.value
    const set = seen.get(shard) ?? new Set<number>()
    if (set.has(point.t)) duplicates++
    set.add(point.t)
    seen.set(shard, set)
  }
  let gaps = 0
  for (const set of seen.values()) gaps += Math.max(...set) + 1 - set.size
  return { entries: rows.rows.length, duplicates, gaps }
}
