/**
 * `stampede-controller reconcile`: wires the config to the real adapters (EC2, CouchDB per
 * region, pino on stderr) and runs once or in a loop. Exit codes: 0 converged (or a dry run),
 * 1 not converged (one line says why), 2 usage, 3 another run holds the lease.
 */

import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { hostname } from 'node:os'
import pino from 'pino'
import { renderUserData } from '../../cloud-init/render.js'
import { systemClock } from '../../lib/clock.js'
import { connectCouch } from '../../lib/couch/client.js'
import { loadCredentials } from '../../lib/couch/credentials.js'
import { UsageError } from '../../lib/errors.js'
import { AwsCloudProvider } from '../cloud/aws.js'
import { readTopology, type Topology } from '../topology.js'
import { parseReconcileConfig, RECONCILE_HELP, type ReconcileConfig } from './config.js'
import type { FleetPolicy } from './model.js'
import { formatPlan } from './plan.js'
import { type ReconcileDeps, type RunReport, reconcileLoop, reconcileOnce } from './reconcile.js'
import { couchStore } from './store.js'

export async function reconcileCommand(
  argv: string[],
  io: { out: (line: string) => void; err: (line: string) => void } = {
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
  },
): Promise<number> {
  const config = parseReconcileConfig(argv, process.env, fleetSection)
  if (!config) {
    io.out(RECONCILE_HELP.trimEnd())
    return 0
  }
  const topology = readTopology(config.topologyFile)
  const cloud = new AwsCloudProvider({
    ...(config.ec2Endpoint !== undefined && { endpoint: config.ec2Endpoint }),
  })
  try {
    const deps = reconcileDeps(config, topology, cloud)
    if (config.mode === 'once') {
      const report = await reconcileOnce(deps)
      return finish(report, io)
    }
    const stop = new AbortController()
    const onSignal = () => stop.abort()
    process.once('SIGTERM', onSignal)
    process.once('SIGINT', onSignal)
    await reconcileLoop(deps, { intervalMs: config.intervalMs, signal: stop.signal })
    return 0
  } finally {
    cloud.close()
  }
}

function finish(report: RunReport, io: { out: (line: string) => void; err: (line: string) => void }): number {
  if (report.outcome === 'dry-run') {
    for (const line of formatPlan(report.plan!)) io.out(line)
    io.out(`dry run: ${report.reason}`)
    return 0
  }
  if (report.outcome === 'converged') {
    io.out(`converged: ${report.reason}`)
    return 0
  }
  io.err(`stampede-controller: ${report.outcome === 'lease-held' ? '' : 'not converged: '}${report.reason}`)
  return report.outcome === 'lease-held' ? 3 : 1
}

export function policyOf(config: ReconcileConfig, topology: Topology): FleetPolicy {
  const regions = topology.regions.map((r) => r.name)
  const { defaultLimits, limits, ...rest } = config.policy
  for (const region of Object.keys(limits))
    if (!regions.includes(region))
      throw new UsageError(`fleet.regions.${region}: not a region of the topology`)
  return {
    ...rest,
    regions,
    limits: Object.fromEntries(regions.map((r) => [r, limits[r] ?? defaultLimits])),
  }
}

export function reconcileDeps(
  config: ReconcileConfig,
  topology: Topology,
  cloud: AwsCloudProvider,
): ReconcileDeps {
  const credentials = loadCredentials()
  const options = { prefix: topology.prefix, ...(credentials && { credentials }) }
  const couches = new Map(topology.regions.map((r) => [r.name, connectCouch(r.url, options)]))
  const leaseRegion = config.leaseRegion ?? topology.regions[0]!.name
  const home = couches.get(leaseRegion)
  if (!home) throw new UsageError(`--lease-region ${leaseRegion} is not a region of the topology`)
  const urlOf = new Map(topology.regions.map((r) => [r.name, r.url]))
  const policy = policyOf(config, topology)
  return {
    cloud,
    store: couchStore(home, (region) => couches.get(region)!),
    policy,
    launchTemplate: (region) => ({
      imageId: config.image,
      instanceType: config.instanceType,
      ...(config.instanceProfile !== undefined && { instanceProfile: config.instanceProfile }),
      // Deterministic (no timestamps): a repeated launch must send the same parameters as the first.
      userData: renderUserData({
        image: config.imageKind,
        region,
        couchUrl: urlOf.get(region)!,
        credentialsParameter: config.credentialsParameter,
        prefix: topology.prefix,
        ...(config.release && { release: config.release }),
        settings: { STAMPEDE_CAPACITY: String(policy.capacity) },
      }),
    }),
    log: pino(
      { level: config.logLevel, base: { component: 'controller', fleet: policy.fleet } },
      pino.destination(2),
    ),
    clock: systemClock,
    holder: `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`,
    leaseTtlMs: config.leaseTtlMs,
    dryRun: config.dryRun,
    concurrency: config.concurrency,
  }
}

/** The topology file's `fleet` object, if any. */
function fleetSection(file: string): Record<string, unknown> {
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as { fleet?: unknown }
    return parsed.fleet && typeof parsed.fleet === 'object' ? (parsed.fleet as Record<string, unknown>) : {}
  } catch {
    return {} // readTopology reports an unreadable file with a clear message
  }
}
