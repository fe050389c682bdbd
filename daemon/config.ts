import { parseArgs } from 'node:util'
import type { Credentials } from '../lib/couch/credentials.js'
import { loadCredentials, parseCouchUrl } from '../lib/couch/credentials.js'
import { DEFAULT_PREFIX } from '../lib/couch/names.js'
import { UsageError } from '../lib/errors.js'
import { parseDurationSeconds } from '../lib/pattern.js'
import { type AddressPolicy, DAEMON_POLICY } from '../load/safety.js'
import { DEFAULT_IMDS_ENDPOINT } from './imds-identity.js'

export type IdentityKind = 'imds' | 'static'

export interface ImdsConfig {
  endpoint: string
  /** Per request. */
  timeoutMs: number
  /** Tries of the whole identity read. */
  attempts: number
}

export interface DaemonConfig {
  couchUrl: URL
  credentials?: Credentials
  prefix: string
  /** Where the identity comes from: the metadata service (EC2) or the flags below. */
  identity: IdentityKind
  imds: ImdsConfig
  /** Between polls of `spot/instance-action` (imds identity only); 0: no polling. */
  spotPollMs: number
  instanceId?: string
  region?: string
  az?: string
  instanceType?: string
  capacity: number
  workers: number | 'auto'
  /** Keep the load processes loaded between shards (`load/pool.ts`); off with --no-worker-pool. */
  workerPool: boolean
  /** The pool's processes warm up their load path while idle (`load/warm-up.ts`); off with --no-warm-up. */
  warmUp: boolean
  policy: AddressPolicy
  logLevel: string
  heartbeatMs: number
  leaseMs: number
  /** Drain bound: after SIGTERM or a spot notice, running shards get this long. */
  drainMs: number
}

export const DAEMON_HELP = `Usage: stampede-engine [options]

The engine daemon: registers in the fleet database, follows its region's dispatch feed,
claims shards and runs their load. Every option also reads from the environment.

  --couch URL            CouchDB of this region (STAMPEDE_COUCH_URL); credentials come from
                         STAMPEDE_COUCH_USER/STAMPEDE_COUCH_PASSWORD or STAMPEDE_COUCH_CREDENTIALS_FILE
  --prefix NAME          database name prefix (STAMPEDE_DB_PREFIX, default ${DEFAULT_PREFIX})

Identity (STAMPEDE_IDENTITY; default: static when an instance id is given, else imds):
  --identity imds        on EC2: instance id, region, zone and type from the metadata service,
                         IMDSv2 only; it also watches for spot interruption notices
  --imds-endpoint URL    metadata service (AWS_EC2_METADATA_SERVICE_ENDPOINT, default ${DEFAULT_IMDS_ENDPOINT})
  --imds-timeout DUR     per request (STAMPEDE_IMDS_TIMEOUT, default 1s)
  --imds-attempts N      tries before giving up (STAMPEDE_IMDS_ATTEMPTS, default 5, back-off from 200 ms)
  --spot-poll DUR        spot/instance-action poll interval; 0 turns it off (STAMPEDE_SPOT_POLL, default 5s)
  --identity static      off EC2: the identity from these flags
  --instance-id ID       this engine's id (STAMPEDE_INSTANCE_ID)
  --region NAME          its region (STAMPEDE_REGION)
  --az NAME              its availability zone (STAMPEDE_AZ)

Load and lifecycle:
  --capacity N           most concurrent connections over all shards (STAMPEDE_CAPACITY, default 10000)
  --workers N|auto       load processes per shard; 0 runs load in the supervisor (STAMPEDE_WORKERS, default auto)
  --no-worker-pool       fork a shard's load processes when it starts instead of keeping that many
                         loaded and idle (STAMPEDE_WORKER_POOL=0); slower starts, less idle memory
  --no-warm-up           pooled load processes do not warm up (STAMPEDE_WARM_UP=0); by default each
                         runs ~1 s of load against a server of its own on 127.0.0.1 when it is
                         forked, so that a shard's first second is not sent by cold code
  --allow-loopback       allow loopback targets (STAMPEDE_ALLOW_LOOPBACK=1); refused by default
  --allow-private        allow private-range targets (STAMPEDE_ALLOW_PRIVATE=1); refused by default
  --lease-ms N           shard lease, renewed every third of it (STAMPEDE_LEASE_MS, default 30000)
  --heartbeat-ms N       engine heartbeat (STAMPEDE_HEARTBEAT_MS, default 10000)
  --drain-timeout DUR    bound of a drain (STAMPEDE_DRAIN_TIMEOUT, default 30s; --drain-ms N and
                         STAMPEDE_DRAIN_MS still work)
  --log-level LEVEL      pino level (STAMPEDE_LOG_LEVEL, default info)
  -h, --help             this help

Durations: 30 or 30s, 500ms, 2m.

Drain: on SIGTERM/SIGINT, or when the metadata service announces a spot interruption, the
engine claims nothing more and says "draining"; shards that have not started go back to the
queue; running ones finish if they can before the drain timeout (a spot notice can shorten
it), else they stop and are marked lost. Then it says "gone" and exits 0. A second signal
stops at once.

Exit status: 0 drained, 1 could not start (no identity, no CouchDB), 2 bad usage.
`

const truthy = (value: string | undefined) => value !== undefined && /^(1|true|yes)$/i.test(value)

/** A duration flag in ms: `30`, `30s`, `500ms`, `2m` (a bare number is seconds). */
function durationMs(text: string, name: string): number {
  try {
    return Math.round(parseDurationSeconds(text) * 1000)
  } catch {
    throw new UsageError(`${name} must be a duration such as 30s or 500ms, not "${text}"`)
  }
}

function positiveInt(text: string, name: string): number {
  const value = Number(text)
  if (!Number.isInteger(value) || value <= 0)
    throw new UsageError(`${name} must be a positive integer, not "${text}"`)
  return value
}

/** Flags first, then the environment; `undefined` when --help was asked. */
export function parseDaemonConfig(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
): DaemonConfig | undefined {
  let values: Record<string, string | boolean | undefined>
  try {
    ;({ values } = parseArgs({
      args: argv,
      strict: true,
      options: {
        couch: { type: 'string' },
        prefix: { type: 'string' },
        'instance-id': { type: 'string' },
        region: { type: 'string' },
        az: { type: 'string' },
        capacity: { type: 'string' },
        workers: { type: 'string' },
        'allow-loopback': { type: 'boolean' },
        'no-worker-pool': { type: 'boolean' },
        'no-warm-up': { type: 'boolean' },
        'allow-private': { type: 'boolean' },
        'lease-ms': { type: 'string' },
        'heartbeat-ms': { type: 'string' },
        'drain-ms': { type: 'string' },
        'drain-timeout': { type: 'string' },
        identity: { type: 'string' },
        'imds-endpoint': { type: 'string' },
        'imds-timeout': { type: 'string' },
        'imds-attempts': { type: 'string' },
        'spot-poll': { type: 'string' },
        'log-level': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }))
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
  if (values.help) return undefined
  const pick = (flag: string, name: string) => (values[flag] as string | undefined) ?? env[name]
  const couch = pick('couch', 'STAMPEDE_COUCH_URL')
  if (!couch) throw new UsageError('the CouchDB URL is required (--couch or STAMPEDE_COUCH_URL)')
  const workersText = pick('workers', 'STAMPEDE_WORKERS') ?? 'auto'
  let workers: number | 'auto' = 'auto'
  if (workersText !== 'auto') {
    workers = Number(workersText)
    if (!Number.isInteger(workers) || workers < 0)
      throw new UsageError(`--workers must be auto or a count, not "${workersText}"`)
  }
  const config: DaemonConfig = {
    couchUrl: parseCouchUrl(couch, '--couch'),
    prefix: pick('prefix', 'STAMPEDE_DB_PREFIX') ?? DEFAULT_PREFIX,
    capacity: positiveInt(pick('capacity', 'STAMPEDE_CAPACITY') ?? '10000', '--capacity'),
    workers,
    workerPool: values['no-worker-pool'] !== true && !/^(0|false|no)$/i.test(env.STAMPEDE_WORKER_POOL ?? ''),
    warmUp: values['no-warm-up'] !== true && !/^(0|false|no)$/i.test(env.STAMPEDE_WARM_UP ?? ''),
    policy: {
      allowLoopback:
        values['allow-loopback'] === true ||
        truthy(env.STAMPEDE_ALLOW_LOOPBACK) ||
        DAEMON_POLICY.allowLoopback,
      allowPrivate:
        values['allow-private'] === true || truthy(env.STAMPEDE_ALLOW_PRIVATE) || DAEMON_POLICY.allowPrivate,
    },
    logLevel: pick('log-level', 'STAMPEDE_LOG_LEVEL') ?? 'info',
    leaseMs: positiveInt(pick('lease-ms', 'STAMPEDE_LEASE_MS') ?? '30000', '--lease-ms'),
    heartbeatMs: positiveInt(pick('heartbeat-ms', 'STAMPEDE_HEARTBEAT_MS') ?? '10000', '--heartbeat-ms'),
    drainMs: drainMs(pick),
    identity: 'imds',
    imds: {
      endpoint: pick('imds-endpoint', 'AWS_EC2_METADATA_SERVICE_ENDPOINT') ?? DEFAULT_IMDS_ENDPOINT,
      timeoutMs: durationMs(pick('imds-timeout', 'STAMPEDE_IMDS_TIMEOUT') ?? '1s', '--imds-timeout'),
      attempts: positiveInt(pick('imds-attempts', 'STAMPEDE_IMDS_ATTEMPTS') ?? '5', '--imds-attempts'),
    },
    spotPollMs: durationMs(pick('spot-poll', 'STAMPEDE_SPOT_POLL') ?? '5s', '--spot-poll'),
  }
  if (config.imds.timeoutMs <= 0) throw new UsageError('--imds-timeout must be more than 0')
  const credentials = loadCredentials(env)
  if (credentials) config.credentials = credentials
  for (const [key, flag, name] of [
    ['instanceId', 'instance-id', 'STAMPEDE_INSTANCE_ID'],
    ['region', 'region', 'STAMPEDE_REGION'],
    ['az', 'az', 'STAMPEDE_AZ'],
  ] as const) {
    const value = pick(flag, name)
    if (value !== undefined) config[key] = value
  }
  if (env.STAMPEDE_INSTANCE_TYPE) config.instanceType = env.STAMPEDE_INSTANCE_TYPE
  const identity = pick('identity', 'STAMPEDE_IDENTITY') ?? (config.instanceId ? 'static' : 'imds')
  if (identity !== 'imds' && identity !== 'static')
    throw new UsageError(`--identity must be imds or static, not "${identity}"`)
  config.identity = identity
  return config
}

/** --drain-timeout (a duration), or the older --drain-ms (milliseconds); default 30 s. */
function drainMs(pick: (flag: string, name: string) => string | undefined): number {
  const timeout = pick('drain-timeout', 'STAMPEDE_DRAIN_TIMEOUT')
  if (timeout !== undefined) return durationMs(timeout, '--drain-timeout')
  const ms = pick('drain-ms', 'STAMPEDE_DRAIN_MS')
  if (ms === undefined) return 30_000
  const value = Number(ms)
  if (!Number.isInteger(value) || value < 0)
    throw new UsageError(`--drain-ms must be a number of milliseconds, not "${ms}"`)
  return value
}
