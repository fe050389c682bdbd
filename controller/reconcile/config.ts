/**
 * `reconcile`'s configuration: flags first, then the environment, then the topology file's
 * `fleet` section, then defaults. Pure: argv, env and the parsed section in, a config out.
 */
import { parseArgs } from 'node:util'
import { UsageError } from '../../lib/errors.js'
import { parseDurationSeconds } from '../../lib/pattern.js'
import type { FleetPolicy, RegionLimits } from './model.js'

export interface ReconcileConfig {
  topologyFile: string
  mode: 'once' | 'loop'
  intervalMs: number
  dryRun: boolean
  policy: Omit<FleetPolicy, 'regions' | 'limits'> & {
    limits: Record<string, RegionLimits>
    defaultLimits: RegionLimits
  }
  image: string
  instanceType: string
  instanceProfile?: string
  /** What the image holds: `stock` fetches the release at boot, `baked` has it. */
  imageKind: 'stock' | 'baked'
  release?: { url: string; sha256: string }
  credentialsParameter: string
  ec2Endpoint?: string
  /** The region whose fleet database holds the lease (default: the topology's first). */
  leaseRegion?: string
  leaseTtlMs: number
  logLevel: string
  concurrency: number
}

export const DEFAULT_IMAGE =
  'resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64'

export const RECONCILE_HELP = `stampede-controller reconcile --topology FILE (--once | --loop [--interval 30s]) [options]

Matches the fleet to demand and collects garbage: plans (pure), then acts. One run at a time
(a lease document in the fleet database); --dry-run prints the plan and changes nothing.

  --once                      one run; exit 0 when converged, 1 with a one-line reason otherwise,
                              3 when another run holds the lease
  --loop                      run every --interval (default 30s), backing off while runs fail
  --dry-run                   print the plan, change nothing (no lease taken)
  --fleet NAME                fleet tag value (STAMPEDE_FLEET; required)
  --image ID                  AMI id or resolve:ssm:NAME (STAMPEDE_IMAGE; default Amazon Linux 2023 x86_64)
  --image-kind stock|baked    stock fetches the release at boot (STAMPEDE_IMAGE_KIND; default stock)
  --release-url URL           release tarball, https:// or s3:// (STAMPEDE_RELEASE_URL; stock image)
  --release-sha256 HEX        its SHA-256 (STAMPEDE_RELEASE_SHA256)
  --credentials-parameter P   SSM parameter with the engines' CouchDB credentials
                              (STAMPEDE_COUCH_CREDENTIALS_SSM; default /stampede/couch)
  --instance-type TYPE        (STAMPEDE_INSTANCE_TYPE; default c7i.large)
  --instance-profile NAME     the engines' instance profile (STAMPEDE_INSTANCE_PROFILE)
  --min N / --max N           engines per region (STAMPEDE_MIN / STAMPEDE_MAX; default 0 / 20);
                              per region in the topology's "fleet": {"regions": {"us-east-1": {"min", "max"}}}
  --capacity N                connections one engine takes (STAMPEDE_CAPACITY; default 10000)
  --cooldown D                idle this long → drained (STAMPEDE_COOLDOWN; default 5m)
  --boot-grace D              launched and not registered this long → terminated (default 10m)
  --heartbeat-stale D         no heartbeat this long → replaced (default 90s)
  --gc-grace D                doc of an instance Describe does not know, silent this long → retired (default 5m)
  --shard-lease-grace D       shard lease expired this long → released (default 30s)
  --drain-settle D            drained engine's time to notice before termination (default 20s)
  --ec2-endpoint URL          EC2 endpoint, e.g. an emulator (STAMPEDE_EC2_ENDPOINT); AWS credentials
                              come from the SDK's chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, role…)
  --lease-region NAME         region whose fleet database holds the lease (default: the first)
  --log-level LEVEL           pino level for the JSON log on stderr (STAMPEDE_LOG_LEVEL; default info)
  -h, --help                  this help

Durations: 90s, 5m, 1.5h, 250ms. The topology file's "fleet" object takes the same settings
in camelCase (name, image, imageKind, instanceType, instanceProfile, capacity, cooldown, …).
`

const OPTIONS = {
  topology: { type: 'string' },
  once: { type: 'boolean' },
  loop: { type: 'boolean' },
  interval: { type: 'string' },
  'dry-run': { type: 'boolean' },
  fleet: { type: 'string' },
  image: { type: 'string' },
  'image-kind': { type: 'string' },
  'release-url': { type: 'string' },
  'release-sha256': { type: 'string' },
  'credentials-parameter': { type: 'string' },
  'instance-type': { type: 'string' },
  'instance-profile': { type: 'string' },
  min: { type: 'string' },
  max: { type: 'string' },
  capacity: { type: 'string' },
  cooldown: { type: 'string' },
  'boot-grace': { type: 'string' },
  'heartbeat-stale': { type: 'string' },
  'gc-grace': { type: 'string' },
  'shard-lease-grace': { type: 'string' },
  'drain-settle': { type: 'string' },
  'ec2-endpoint': { type: 'string' },
  'lease-region': { type: 'string' },
  'log-level': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const

/** The config, or undefined when --help was asked. `section` is the topology's `fleet` object. */
export function parseReconcileConfig(
  argv: string[],
  env: NodeJS.ProcessEnv,
  section: (topologyFile: string) => Record<string, unknown> = () => ({}),
): ReconcileConfig | undefined {
  let values: Record<string, string | boolean | undefined>
  try {
    ;({ values } = parseArgs({ args: argv, strict: true, options: OPTIONS }))
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
  if (values.help) return undefined
  const topologyFile = values.topology as string | undefined
  if (!topologyFile) throw new UsageError('reconcile needs --topology FILE')
  if (values.once === values.loop) throw new UsageError('reconcile needs exactly one of --once and --loop')
  const file = section(topologyFile)
  const pick = (flag: string, envName: string, key: string): string | undefined => {
    const fromFlag = values[flag]
    if (typeof fromFlag === 'string') return fromFlag
    if (env[envName] !== undefined && env[envName] !== '') return env[envName]
    const fromFile = file[key]
    return fromFile === undefined ? undefined : String(fromFile)
  }
  const ms = (flag: string, envName: string, key: string, fallback: string) =>
    durationMs(pick(flag, envName, key) ?? fallback, `--${flag}`)
  const count = (flag: string, envName: string, key: string, fallback: number, min = 0) => {
    const text = pick(flag, envName, key)
    if (text === undefined) return fallback
    const n = Number(text)
    if (!Number.isInteger(n) || n < min)
      throw new UsageError(`--${flag} must be an integer ≥ ${min}, not "${text}"`)
    return n
  }

  const fleet = pick('fleet', 'STAMPEDE_FLEET', 'name')
  if (!fleet || !/^[A-Za-z0-9_.:-]{1,128}$/.test(fleet))
    throw new UsageError(
      '--fleet NAME is required (letters, digits, _ . : -; the value of the stampede:fleet tag)',
    )
  const defaultLimits = {
    min: count('min', 'STAMPEDE_MIN', 'min', 0),
    max: count('max', 'STAMPEDE_MAX', 'max', 20),
  }
  if (defaultLimits.min > defaultLimits.max) throw new UsageError('--min must not exceed --max')
  const limits: Record<string, RegionLimits> = {}
  const perRegion = file.regions
  if (perRegion && typeof perRegion === 'object') {
    for (const [region, value] of Object.entries(perRegion as Record<string, Partial<RegionLimits>>)) {
      const min = value?.min ?? defaultLimits.min
      const max = value?.max ?? defaultLimits.max
      if (!Number.isInteger(min) || !Number.isInteger(max) || min < 0 || min > max)
        throw new UsageError(`fleet.regions.${region}: min and max must be integers with 0 ≤ min ≤ max`)
      limits[region] = { min, max }
    }
  }
  const imageKind = pick('image-kind', 'STAMPEDE_IMAGE_KIND', 'imageKind') ?? 'stock'
  if (imageKind !== 'stock' && imageKind !== 'baked')
    throw new UsageError('--image-kind must be stock or baked')
  const releaseUrl = pick('release-url', 'STAMPEDE_RELEASE_URL', 'releaseUrl')
  const releaseSha = pick('release-sha256', 'STAMPEDE_RELEASE_SHA256', 'releaseSha256')
  if ((releaseUrl === undefined) !== (releaseSha === undefined))
    throw new UsageError('--release-url and --release-sha256 go together')
  const instanceProfile = pick('instance-profile', 'STAMPEDE_INSTANCE_PROFILE', 'instanceProfile')
  const ec2Endpoint = pick('ec2-endpoint', 'STAMPEDE_EC2_ENDPOINT', 'ec2Endpoint')
  const leaseRegion = pick('lease-region', 'STAMPEDE_LEASE_REGION', 'leaseRegion')
  const heartbeatStaleMs = ms('heartbeat-stale', 'STAMPEDE_HEARTBEAT_STALE', 'heartbeatStale', '90s')
  return {
    topologyFile,
    mode: values.once ? 'once' : 'loop',
    intervalMs: durationMs(typeof values.interval === 'string' ? values.interval : '30s', '--interval'),
    dryRun: values['dry-run'] === true,
    policy: {
      fleet,
      limits,
      defaultLimits,
      capacity: count('capacity', 'STAMPEDE_CAPACITY', 'capacity', 10_000, 1),
      cooldownMs: ms('cooldown', 'STAMPEDE_COOLDOWN', 'cooldown', '5m'),
      bootGraceMs: ms('boot-grace', 'STAMPEDE_BOOT_GRACE', 'bootGrace', '10m'),
      heartbeatStaleMs,
      gcGraceMs: Math.max(heartbeatStaleMs, ms('gc-grace', 'STAMPEDE_GC_GRACE', 'gcGrace', '5m')),
      shardLeaseGraceMs: ms('shard-lease-grace', 'STAMPEDE_SHARD_LEASE_GRACE', 'shardLeaseGrace', '30s'),
      drainSettleMs: ms('drain-settle', 'STAMPEDE_DRAIN_SETTLE', 'drainSettle', '20s'),
    },
    image: pick('image', 'STAMPEDE_IMAGE', 'image') ?? DEFAULT_IMAGE,
    instanceType: pick('instance-type', 'STAMPEDE_INSTANCE_TYPE', 'instanceType') ?? 'c7i.large',
    ...(instanceProfile !== undefined && { instanceProfile }),
    imageKind,
    ...(releaseUrl !== undefined &&
      releaseSha !== undefined && { release: { url: releaseUrl, sha256: releaseSha } }),
    credentialsParameter:
      pick('credentials-parameter', 'STAMPEDE_COUCH_CREDENTIALS_SSM', 'credentialsParameter') ??
      '/stampede/couch',
    ...(ec2Endpoint !== undefined && { ec2Endpoint }),
    ...(leaseRegion !== undefined && { leaseRegion }),
    leaseTtlMs: 120_000,
    logLevel: pick('log-level', 'STAMPEDE_LOG_LEVEL', 'logLevel') ?? 'info',
    concurrency: 8,
  }
}

function durationMs(text: string, what: string): number {
  try {
    return Math.round(parseDurationSeconds(text) * 1000)
  } catch {
    throw new UsageError(`${what}: "${text}" is not a duration (90s, 5m, 1.5h, 250ms)`)
  }
}
