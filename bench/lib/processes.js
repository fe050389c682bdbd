import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { cpus, tmpdir, totalmem } from 'node:os'
import { join } from 'node:path'

/**
 * Every process the bench starts is its own process group, registered here, and killed
 * (the whole group) when the bench exits — normally, on an error or on a signal. Kernel
 * settings the bench raised are put back the same way.
 */
const groups = new Set()
const restores = []

export function cleanup() {
  for (const pid of groups) {
    try {
      process.kill(-pid, 'SIGKILL')
    } catch {
      // Already gone.
    }
  }
  groups.clear()
  while (restores.length > 0) {
    try {
      restores.pop()()
    } catch {
      // Best effort: the bench is exiting anyway.
    }
  }
}

let installed = false
export function installCleanup() {
  if (installed) return
  installed = true
  process.on('exit', cleanup)
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(signal, () => {
      cleanup()
      process.exit(130)
    })
  }
  process.on('uncaughtException', (err) => {
    console.error(err)
    cleanup()
    process.exit(1)
  })
  process.on('unhandledRejection', (err) => {
    console.error(err)
    cleanup()
    process.exit(1)
  })
}

/** A temporary directory, removed by the cleanup. */
export function tempDir(prefix) {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  restores.push(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** Kills one registered process group now. */
export function killGroup(child, signal = 'SIGKILL') {
  if (!child?.pid) return
  try {
    process.kill(-child.pid, signal)
  } catch {
    // Already gone.
  }
  groups.delete(child.pid)
}

/** Spawns a process in a new group that the cleanup kills. */
export function spawnTracked(command, args, options = {}) {
  const child = spawn(command, args, { ...options, detached: true })
  if (child.pid) groups.add(child.pid)
  child.on('exit', () => groups.delete(child.pid))
  return child
}

export const hasTaskset = existsSync('/usr/bin/taskset') || existsSync('/bin/taskset')

/** `[command, args]` pinned to `core` with taskset when it exists. */
export function pinned(core, command, args) {
  if (core === undefined || !hasTaskset) return [command, args]
  return ['taskset', ['-c', String(core), command, ...args]]
}

/** Sums the `times` builtin's second line (children: user and system), in seconds. */
function parseTimes(text) {
  const lines = text.trim().split('\n')
  const children = lines[1] ?? ''
  const seconds = [...children.matchAll(/(\d+)m([\d.]+)s/g)].map((m) => Number(m[1]) * 60 + Number(m[2]))
  if (seconds.length !== 2) return undefined
  return { user: seconds[0], system: seconds[1] }
}

/**
 * Runs a tool to completion, bounded in time, and measures the CPU time of its whole
 * process tree: it runs under `bash -c '"$@"; times'`, and bash's `times` reports the
 * user and system time of every child it waited for — including the children those
 * reaped (a supervisor's workers). The figures go to file descriptor 3, apart from the
 * tool's own output. Resolves { code, signal, stdout, stderr, wallSeconds, cpu }.
 */
export function runMeasured(command, args, { core, timeoutMs, onStart, env } = {}) {
  const script = '"$@"; rc=$?; times >&3; exit $rc'
  const [cmd, cmdArgs] = pinned(core, 'bash', ['-c', script, 'bench', command, ...args])
  return new Promise((resolve) => {
    const started = performance.now()
    const child = spawnTracked(cmd, cmdArgs, {
      stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
      env: env ? { ...process.env, ...env } : process.env,
    })
    const out = []
    const err = []
    const times = []
    child.stdio[1].on('data', (chunk) => out.push(chunk))
    child.stdio[2].on('data', (chunk) => err.push(chunk))
    child.stdio[3].on('data', (chunk) => times.push(chunk))
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      killGroup(child)
    }, timeoutMs ?? 120_000)
    onStart?.(child)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      const cpu = parseTimes(Buffer.concat(times).toString())
      resolve({
        code,
        signal,
        timedOut,
        stdout: Buffer.concat(out).toString(),
        stderr: Buffer.concat(err).toString(),
        wallSeconds: (performance.now() - started) / 1000,
        cpuSeconds: cpu ? cpu.user + cpu.system : undefined,
        cpu,
      })
    })
  })
}

/** A TCP port that is free on `host` right now. */
export function freePort(host = '127.0.0.1') {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.on('error', reject)
    server.listen({ host, port: 0 }, () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
}

/** Whether `port` can be bound on `host`. */
export function portFree(host, port) {
  return new Promise((resolve) => {
    const server = createServer()
    server.unref()
    server.on('error', () => resolve(false))
    server.listen({ host, port }, () => server.close(() => resolve(true)))
  })
}

/** Raises a /proc/sys setting to at least `value` for the run; put back on exit. */
export function raiseSysctl(path, value) {
  let before
  try {
    before = Number(readFileSync(path, 'utf8').trim())
  } catch {
    return { path, before: undefined, now: undefined }
  }
  if (before >= value) return { path, before, now: before }
  try {
    writeFileSync(path, String(value))
    restores.push(() => writeFileSync(path, String(before)))
    return { path, before, now: value }
  } catch {
    return { path, before, now: before }
  }
}

export function loadAverage() {
  try {
    return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).map(Number)
  } catch {
    return undefined
  }
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** This machine as the benchmark pages name it: cores, CPU model, memory, Node, taskset. */
export function machineFacts() {
  return {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    memoryGiB: Number((totalmem() / 2 ** 30).toFixed(1)),
    node: process.version,
    taskset: hasTaskset,
  }
}
