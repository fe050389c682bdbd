/**
 * Emulated instances that are real engines: a `LaunchHook` for the EC2 emulator that gives each
 * launched instance its own IMDSv2 emulator and starts a `stampede-engine` process pointed at
 * it (`--identity imds`) and at its region's CouchDB. Terminating the instance (or closing the
 * emulator) stops the engine with SIGTERM, so it drains as on EC2; `kill()` is the host dying.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { basename, dirname } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import type { Clock } from '../lib/clock.js'
import { type EmulatedInstance, type LaunchHandle, startInstanceImds } from './ec2.js'
import type { ImdsEmulator } from './imds.js'

export interface EngineLauncherOptions {
  /** The CouchDB an engine of this region talks to. */
  couchUrlFor(region: string): string
  /** Database prefix. */
  prefix: string
  /** Let engines load loopback targets (a local target); refused by default, as on EC2. */
  allowLoopback?: boolean
  /** Program and leading arguments; default `node dist/daemon/main.js` (the packaged binary can stand in). */
  command?: string[]
  /** Extra environment (STAMPEDE_WORKERS, STAMPEDE_DRAIN_TIMEOUT, …); the launcher's own settings win. */
  env?: NodeJS.ProcessEnv
  /** Each output line of each engine; default: stderr lines go to this process's stderr, stdout is dropped. */
  log?: (line: EngineLogLine) => void
  /** For the instances' IMDS (token expiry). */
  clock?: Clock
  /** After SIGTERM, how long `stop()` waits before SIGKILL (default 45 s: the drain plus its last writes). */
  stopTimeoutMs?: number
  /**
   * Each engine in its own process group, so a terminal's Ctrl-C reaches only the caller, which
   * then stops the engines in order (the local appliance). Default false.
   */
  detached?: boolean
}

export interface EngineLogLine {
  instanceId: string
  stream: 'stdout' | 'stderr'
  line: string
}

export interface EngineExit {
  code: number | null
  signal: NodeJS.Signals | null
}

/** One emulated instance's engine. */
export interface LaunchedEngine extends LaunchHandle {
  readonly instanceId: string
  readonly region: string
  readonly pid: number | undefined
  /** The instance's metadata service (announce a spot interruption on it, make it hang…). */
  readonly imds: ImdsEmulator
  /** Resolves when the process has exited. */
  readonly exited: Promise<EngineExit>
  /** SIGTERM (the engine drains), SIGKILL after `stopTimeoutMs`, then the IMDS closes. Idempotent. */
  stop(): Promise<void>
  /** SIGKILL now, as if the host died; the IMDS stays up until `stop()`. */
  kill(): Promise<EngineExit>
}

/** The hook, with the engines it started, by instance id. */
export interface EngineLauncher {
  (instance: EmulatedInstance): Promise<LaunchedEngine>
  readonly engines: ReadonlyMap<string, LaunchedEngine>
}

/** The built engine: next to this file in dist/, or under dist/ when this file runs from source (tests). */
const ENGINE_MAIN = fileURLToPath(
  new URL(
    basename(dirname(dirname(fileURLToPath(import.meta.url)))) === 'dist'
      ? '../daemon/main.js'
      : '../dist/daemon/main.js',
    import.meta.url,
  ),
)
const DEFAULT_COMMAND = [process.execPath, ENGINE_MAIN]

/**
 * Variables that would give an engine an identity other than its IMDS's, or keep it from
 * asking (tests set AWS_EC2_METADATA_DISABLED so their own SDK clients never reach out).
 */
const IDENTITY_ENV = [
  'STAMPEDE_IDENTITY',
  'STAMPEDE_INSTANCE_ID',
  'STAMPEDE_REGION',
  'STAMPEDE_AZ',
  'STAMPEDE_INSTANCE_TYPE',
  'AWS_EC2_METADATA_DISABLED',
]

export function engineLauncher(options: EngineLauncherOptions): EngineLauncher {
  const engines = new Map<string, LaunchedEngine>()
  const launch = async (instance: EmulatedInstance): Promise<LaunchedEngine> => {
    const imds = await startInstanceImds(instance, options.clock ? { clock: options.clock } : {})
    const engine = startEngine(instance, imds, options)
    engines.set(instance.id, engine)
    return engine
  }
  return Object.assign(launch, { engines })
}

function startEngine(
  instance: EmulatedInstance,
  imds: ImdsEmulator,
  options: EngineLauncherOptions,
): LaunchedEngine {
  const [program, ...leading] = options.command ?? DEFAULT_COMMAND
  if (!program) throw new Error('engineLauncher: command is empty')
  const env: NodeJS.ProcessEnv = { ...process.env, ...options.env }
  for (const name of IDENTITY_ENV) delete env[name]
  Object.assign(env, {
    AWS_EC2_METADATA_SERVICE_ENDPOINT: imds.url,
    STAMPEDE_COUCH_URL: options.couchUrlFor(instance.region),
    STAMPEDE_DB_PREFIX: options.prefix,
    ...(options.allowLoopback && { STAMPEDE_ALLOW_LOOPBACK: '1' }),
  })
  const child = spawn(program, [...leading, '--identity', 'imds'], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: options.detached ?? false,
  })
  const log = options.log ?? defaultLog
  for (const stream of ['stdout', 'stderr'] as const) {
    createInterface({ input: child[stream] }).on('line', (line) =>
      log({ instanceId: instance.id, stream, line }),
    )
  }
  const exited = new Promise<EngineExit>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }))
    child.once('error', (err) => {
      log({ instanceId: instance.id, stream: 'stderr', line: `cannot start ${program}: ${err.message}` })
      resolve({ code: null, signal: null })
    })
  })
  const stopTimeoutMs = options.stopTimeoutMs ?? 45_000
  let stopping: Promise<void> | undefined
  return {
    instanceId: instance.id,
    region: instance.region,
    pid: child.pid,
    imds,
    exited,
    kill: () => signalAndWait(child, exited, 'SIGKILL'),
    stop() {
      stopping ??= (async () => {
        const timer = setTimeout(() => child.kill('SIGKILL'), stopTimeoutMs)
        await signalAndWait(child, exited, 'SIGTERM')
        clearTimeout(timer)
        await imds.close()
      })()
      return stopping
    },
  }
}

async function signalAndWait(
  child: ChildProcess,
  exited: Promise<EngineExit>,
  signal: NodeJS.Signals,
): Promise<EngineExit> {
  if (child.exitCode === null && child.signalCode === null) child.kill(signal)
  return exited
}

function defaultLog({ instanceId, stream, line }: EngineLogLine): void {
  if (stream === 'stderr') process.stderr.write(`[engine ${instanceId}] ${line}\n`)
}
