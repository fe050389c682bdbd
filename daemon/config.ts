import { parseArgs } from 'node:util'
import type { Credentials } from '../lib/couch/credentials.js'
import { loadCredentials, parseCouchUrl } from '../lib/couch/credentials.js'
import { DEFAULT_PREFIX } from '../lib/couch/names.js'
import { UsageError } from '../lib/errors.js'
import { type AddressPolicy, DAEMON_POLICY } from '../load/safety.js'

export interface DaemonConfig {
  couchUrl: URL
  credentials?: Credentials
  prefix: string
  instanceId?: string
  region?: string
  az?: string
  instanceType?: string
  capacity: number
  workers: number | 'auto'
  policy: AddressPolicy
  logLevel: string
  heartbeatMs: number
  leaseMs: number
  drainMs: number
}

export const DAEMON_HELP = `Usage: stampede-engine [options]

The engine daemon: registers in the fleet database, follows its region's dispatch feed,
claims shards and runs their load. Every option also reads from the environment.

  --couch URL            CouchDB of this region (STAMPEDE_COUCH_URL); credentials come from
                         STAMPEDE_COUCH_USER/STAMPEDE_COUCH_PASSWORD or STAMPEDE_COUCH_CREDENTIALS_FILE
  --prefix NAME          database name prefix (STAMPEDE_DB_PREFIX, default ${DEFAULT_PREFIX})
  --instance-id ID       this engine's id (STAMPEDE_INSTANCE_ID)
  --region NAME          its region (STAMPEDE_REGION)
  --az NAME              its availability zone (STAMPEDE_AZ)
  --capacity N           most concurrent connections over all shards (STAMPEDE_CAPACITY, default 10000)
  --workers N|auto       load processes per shard; 0 runs load in the supervisor (STAMPEDE_WORKERS, default auto)
  --allow-loopback       allow loopback targets (STAMPEDE_ALLOW_LOOPBACK=1); refused by default
  --allow-private        allow private-range targets (STAMPEDE_ALLOW_PRIVATE=1); refused by default
  --lease-ms N           shard lease, renewed every third of it (STAMPEDE_LEASE_MS, default 30000)
  --heartbeat-ms N       engine heartbeat (STAMPEDE_HEARTBEAT_MS, default 10000)
  --drain-ms N           on SIGTERM, time running shards get to finish (STAMPEDE_DRAIN_MS, default 30000)
  --log-level LEVEL      pino level (STAMPEDE_LOG_LEVEL, default info)
  -h, --help             this help
`

const truthy = (value: string | undefined) => value !== undefined && /^(1|true|yes)$/i.test(value)

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
        'allow-private': { type: 'boolean' },
        'lease-ms': { type: 'string' },
        'heartbeat-ms': { type: 'string' },
        'drain-ms': { type: 'string' },
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
    drainMs: Number(pick('drain-ms', 'STAMPEDE_DRAIN_MS') ?? '30000'),
  }
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
  return config
}
