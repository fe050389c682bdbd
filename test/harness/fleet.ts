/**
 * Fleet tests' common set-up: a reconcile wired to a cloud provider and a test CouchDB, a
 * policy with short graces, and helpers that write engine docs and rushes.
 */

import type { CloudProvider } from '../../controller/cloud/provider.js'
import type { FleetPolicy } from '../../controller/reconcile/model.js'
import type { ReconcileDeps } from '../../controller/reconcile/reconcile.js'
import { couchStore } from '../../controller/reconcile/store.js'
import { silentLogger } from '../../daemon/log.js'
import type { Clock } from '../../lib/clock.js'
import type { Couch } from '../../lib/couch/client.js'
import { submitRush } from '../../lib/couch/rushes.js'
import type { EngineDoc } from '../../lib/documents.js'

export const S = 1000
export const M = 60 * S

export function testPolicy(regions: string[], overrides: Partial<FleetPolicy> = {}): FleetPolicy {
  return {
    fleet: 'test-fleet',
    regions,
    limits: Object.fromEntries(regions.map((r) => [r, { min: 0, max: 10 }])),
    capacity: 1000,
    cooldownMs: 5 * M,
    bootGraceMs: 10 * M,
    heartbeatStaleMs: 90 * S,
    gcGraceMs: 5 * M,
    shardLeaseGraceMs: 30 * S,
    drainSettleMs: 20 * S,
    ...overrides,
  }
}

export function reconcileDeps(options: {
  cloud: CloudProvider
  couch: Couch
  policy: FleetPolicy
  clock: Clock
  holder?: string
  log?: ReconcileDeps['log']
}): ReconcileDeps {
  return {
    cloud: options.cloud,
    store: couchStore(options.couch, () => options.couch),
    policy: options.policy,
    launchTemplate: (region) => ({
      imageId: 'resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64',
      instanceType: 'c7i.large',
      userData: `#cloud-config\n# engine in ${region}\n`,
      instanceProfile: 'stampede-engine',
    }),
    log: options.log ?? silentLogger(),
    clock: options.clock,
    holder: options.holder ?? 'test-holder',
    sleep: async () => {},
  }
}

export async function writeEngine(
  couch: Couch,
  instanceId: string,
  overrides: Partial<EngineDoc> & { heartbeatAt: number },
): Promise<void> {
  const doc: EngineDoc = {
    _id: `engine:${instanceId}`,
    type: 'engine',
    instanceId,
    region: 'us-east-1',
    az: 'us-east-1a',
    version: 'test',
    state: 'idle',
    capacity: 1000,
    inUse: 0,
    checkpoint: null,
    startedAt: overrides.heartbeatAt,
    bootId: 'boot',
    ...overrides,
  }
  await couch.db(couch.names.fleet).insert(doc)
}

/** A rush of `users` users for `seconds` seconds against a dead local port, starting at `startAt`. */
export async function queueRush(
  couch: Couch,
  options: { regions: string[]; users: number; seconds: number; startAt: number; shardsPerRegion?: number },
): Promise<string> {
  return submitRush(
    couch,
    {
      model: 'rush',
      request: { method: 'GET', url: 'http://127.0.0.1:9/', headers: {}, timeoutMs: 1000 },
      pattern: [{ start: options.users, end: options.users, duration: options.seconds }],
      regions: options.regions,
      startAt: options.startAt,
      ...(options.shardsPerRegion !== undefined && { shardsPerRegion: options.shardsPerRegion }),
    },
    { now: options.startAt - 1000 },
  )
}
