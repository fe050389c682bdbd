/**
 * The appliance's cloud: the EC2 emulator whose RunInstances starts real engines (each with its
 * own IMDS, pointed at its region's CouchDB), and the controller's own cloud provider to launch
 * through it. Engine output goes to one log file per instance.
 */

import { createWriteStream, type WriteStream } from 'node:fs'
import { join } from 'node:path'
import pino from 'pino'
import { AwsCloudProvider } from '../controller/cloud/aws.js'
import type { CloudInstance } from '../controller/cloud/provider.js'
import type { FleetPolicy } from '../controller/reconcile/model.js'
import { reconcileLoop } from '../controller/reconcile/reconcile.js'
import { couchStore } from '../controller/reconcile/store.js'
import { type Ec2Emulator, startEc2 } from '../emulators/ec2.js'
import { type EngineLauncher, engineLauncher } from '../emulators/engine-launcher.js'
import { systemClock } from '../lib/clock.js'
import { connectCouch, getDoc } from '../lib/couch/client.js'
import type { Credentials } from '../lib/couch/credentials.js'
import type { EngineDoc } from '../lib/documents.js'
import { StampedeError } from '../lib/errors.js'

export const FLEET = 'appliance'
/** Any `/aws/service/` name resolves to a stable fake AMI in the emulator; the name is what a real fleet would use. */
const IMAGE = 'resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64'
const USER_DATA = '#cloud-config\n# The local appliance: the EC2 emulator starts the engine itself.\n'
/** Dummy keys: the emulator does not check signatures, and the SDK must not look for real ones. */
const CREDENTIALS = { accessKeyId: 'AKIALOCALAPPLIANCE', secretAccessKey: 'local-appliance' }

export interface LocalFleetOptions {
  regions: string[]
  couchUrlFor(region: string): string
  prefix: string
  /** One `<instance-id>.log` per engine. */
  logDir: string
  /** Extra engine settings (STAMPEDE_WORKERS, …). */
  engineEnv?: NodeJS.ProcessEnv
  /** The CouchDB credentials: the controller's, and the engines' through `credentialsFile`. */
  credentials?: Credentials
  /** The same credentials as a file (user:password), handed to the engines as systemd does. */
  credentialsFile?: string
}

export interface LocalFleet {
  ec2: Ec2Emulator
  launcher: EngineLauncher
  /**
   * Runs the controller's reconcile loop until `signal`: it launches the regions' minimum of
   * engines at once, more when queued shards need them, and drains idle ones past the
   * cooldown — the same code as `stampede-controller reconcile --loop`. Its log goes to
   * `controller.log` in the log folder.
   */
  reconcile(signal: AbortSignal): Promise<void>
  /** Resolves with the region's first engine once it has registered. */
  firstEngine(region: string, timeoutMs?: number): Promise<EngineDoc>
  logFile(instanceId: string): string
  /** Engines drain (SIGTERM) and exit; then the emulator closes. */
  close(): Promise<void>
}

export async function startLocalFleet(options: LocalFleetOptions): Promise<LocalFleet> {
  const logs = new Map<string, WriteStream>()
  const logFile = (id: string) => join(options.logDir, `${id}.log`)
  const launcher = engineLauncher({
    couchUrlFor: options.couchUrlFor,
    prefix: options.prefix,
    allowLoopback: true,
    detached: true,
    stopTimeoutMs: 15_000,
    env: {
      STAMPEDE_DRAIN_TIMEOUT: '5s',
      ...(options.credentialsFile && { STAMPEDE_COUCH_CREDENTIALS_FILE: options.credentialsFile }),
      ...options.engineEnv,
    },
    log: ({ instanceId, line }) => {
      let stream = logs.get(instanceId)
      if (!stream) {
        stream = createWriteStream(logFile(instanceId), { flags: 'a' })
        logs.set(instanceId, stream)
      }
      stream.write(`${line}\n`)
    },
  })
  const couchOf = (region: string) =>
    connectCouch(options.couchUrlFor(region), {
      prefix: options.prefix,
      ...(options.credentials && { credentials: options.credentials }),
    })
  const ec2 = await startEc2({ regions: options.regions, pendingMs: 200, onLaunch: launcher })
  const cloud = new AwsCloudProvider({ endpoint: ec2.url, credentials: CREDENTIALS, maxAttempts: 3 })
  /** Resolves once the engine says `idle` or `busy` in its region; fails early if its process ends. */
  const registered = async (
    instance: Pick<CloudInstance, 'id' | 'region'>,
    timeoutMs: number,
  ): Promise<EngineDoc> => {
    const couch = couchOf(instance.region)
    const fleetDb = couch.db(couch.names.fleet)
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const doc = await getDoc<EngineDoc>(fleetDb, `engine:${instance.id}`)
      if (doc?.state === 'idle' || doc?.state === 'busy') return doc
      const engine = launcher.engines.get(instance.id)
      const ended = await Promise.race([engine?.exited ?? new Promise<never>(() => {}), delay(100)])
      if (ended || Date.now() > deadline) {
        throw new StampedeError(
          'STAMPEDE_APPLIANCE_ENGINE',
          `the engine of ${instance.id} (${instance.region}) ${ended ? `exited (${ended.code ?? ended.signal})` : `did not register within ${timeoutMs / 1000} s`}: see ${logFile(instance.id)}`,
        )
      }
    }
  }
  const policy: FleetPolicy = {
    fleet: FLEET,
    regions: options.regions,
    // A warm engine per region, up to four on demand.
    limits: Object.fromEntries(options.regions.map((region) => [region, { min: 1, max: 4 }])),
    capacity: 2000,
    cooldownMs: 60_000,
    bootGraceMs: 60_000,
    heartbeatStaleMs: 60_000,
    gcGraceMs: 30_000,
    shardLeaseGraceMs: 30_000,
    drainSettleMs: 5_000,
  }

  return {
    ec2,
    launcher,
    logFile,
    reconcile(signal) {
      const log = pino(
        { level: 'info' },
        createWriteStream(join(options.logDir, 'controller.log'), { flags: 'a' }),
      )
      return reconcileLoop(
        {
          cloud,
          store: couchStore(couchOf(options.regions[0]!), couchOf),
          policy,
          launchTemplate: () => ({ imageId: IMAGE, instanceType: 'c7g.large', userData: USER_DATA }),
          log,
          clock: systemClock,
          holder: `appliance:${process.pid}`,
        },
        { intervalMs: 1000, signal },
      )
    },
    async firstEngine(region, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const instance = ec2.instances(region)[0]
        if (instance) {
          return registered({ id: instance.id, region }, Math.max(1, deadline - Date.now()))
        }
        if (Date.now() > deadline) {
          throw new StampedeError(
            'STAMPEDE_APPLIANCE_ENGINE',
            `the controller launched no engine in ${region}: see ${join(options.logDir, 'controller.log')}`,
          )
        }
        await delay(100)
      }
    },
    async close() {
      await ec2.close()
      cloud.close()
      await Promise.all([...logs.values()].map((stream) => new Promise((resolve) => stream.end(resolve))))
    },
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
