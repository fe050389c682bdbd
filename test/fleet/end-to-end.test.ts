/**
 * The whole fleet on one machine: a rush is queued in two regions with no engine anywhere;
 * the controller launches emulated instances, each instance boots a real engine process
 * from its own IMDS, the engines register and run the rush, and after the cooldown the
 * fleet scales back to its minimum. Real clock, real processes, the real AWS SDK.
 */

import t from 'tap'
import { AwsCloudProvider } from '../../controller/cloud/aws.js'
import { reconcileOnce } from '../../controller/reconcile/reconcile.js'
import { startEc2 } from '../../emulators/ec2.js'
import { engineLauncher } from '../../emulators/engine-launcher.js'
import { systemClock } from '../../lib/clock.js'
import { getDoc } from '../../lib/couch/client.js'
import { watchRush } from '../../lib/couch/rushes.js'
import type { EngineDoc } from '../../lib/documents.js'
import { dummyCredentials } from '../harness/aws.js'
import { cleanups, couchEnv, startCouch, uniquePrefix, waitFor } from '../harness/couch.js'
import { reconcileDeps, S, testPolicy } from '../harness/fleet.js'
import { migrateRegions } from '../harness/plane.js'
import { startTarget } from '../harness/target.js'

const REGIONS = ['us-east-1', 'eu-west-1']

t.test('queued rush → launched engines run it → the fleet scales back to the minimum', async (t) => {
  const later = cleanups(t)
  const prefix = uniquePrefix()
  const server = await startCouch({ prefix })
  later(() => server.stop())
  await migrateRegions(Object.fromEntries(REGIONS.map((region) => [region, server])), prefix)
  const target = await startTarget(5)
  later(() => target.close())

  const launcher = engineLauncher({
    couchUrlFor: () => server.url,
    prefix,
    allowLoopback: true,
    stopTimeoutMs: 10_000,
    env: { ...couchEnv(), STAMPEDE_DRAIN_TIMEOUT: '5s', STAMPEDE_WORKERS: '0' },
  })
  const ec2 = await startEc2({ regions: REGIONS, pendingMs: 200, shuttingDownMs: 500, onLaunch: launcher })
  later(() => ec2.close())
  const cloud = new AwsCloudProvider({
    endpoint: ec2.url,
    credentials: dummyCredentials,
    backoffMs: () => 20,
  })
  later(() => cloud.close())
  const policy = testPolicy(REGIONS, { cooldownMs: 2 * S, drainSettleMs: 500, bootGraceMs: 60 * S })
  const deps = reconcileDeps({ cloud, couch: server.couch, policy, clock: systemClock })

  // Reconcile every 300 ms in the background, as `reconcile --loop` would.
  let reconciling = true
  const loop = (async () => {
    while (reconciling) {
      await reconcileOnce(deps).catch((err) => t.comment(`reconcile failed: ${err.message}`))
      await new Promise((resolve) => setTimeout(resolve, 300))
    }
  })()
  later(async () => {
    reconciling = false
    await loop
  })

  const { submitRush } = await import('../../lib/couch/rushes.js')
  const id = await submitRush(server.couch, {
    model: 'rush',
    request: { method: 'GET', url: target.url, headers: {}, timeoutMs: 2000 },
    pattern: [{ start: 4, end: 4, duration: 3 }],
    regions: REGIONS,
    shardsPerRegion: 1,
    startLeadMs: 8000,
  })
  const result = await watchRush(server.couch, id, () => {}, { pollMs: 200 })
  t.equal(
    result.state,
    'done',
    `the rush finished (${result.shards.map((s) => `${s._id} ${s.state} ${s.reason ?? ''}`).join(', ')})`,
  )
  t.ok(result.summary.hits > 0)
  t.equal(result.summary.hits, target.count, 'the merged hits equal the requests the target counted')
  // A shard whose engine was late (a busy machine) runs its pattern from a later second.
  const shift = Math.max(0, ...result.shards.map((s) => s.startShift ?? 0))
  t.same(
    result.timeline.map((p) => p.t),
    Array.from({ length: 3 + shift }, (_, i) => i),
  )
  const launched = ec2.callsOf('RunInstances').filter((call) => call.status === 200)
  t.same(
    REGIONS.map((region) => ec2.instances(region).length),
    [1, 1],
    'one engine was launched per region, no more',
  )
  t.ok(launched.length >= 2)
  const engines = [...launcher.engines.values()]
  t.same(
    engines.map((engine) => engine.region).sort(),
    [...REGIONS].sort(),
    'each engine booted in its region',
  )

  // The minimum is 0: after the cooldown the idle engines are drained and terminated.
  await waitFor(
    'the fleet to scale back to zero',
    () =>
      ec2.instances().every((instance) => ['shutting-down', 'terminated'].includes(ec2.stateOf(instance.id))),
    60_000,
    200,
  )
  // Terminated instances get SIGTERM; the launcher SIGKILLs after its stop timeout, so an
  // engine that never drained would exit too: the exit status and the doc tell them apart.
  const exits = await Promise.all(engines.map((engine) => engine.exited))
  t.same(
    exits,
    engines.map(() => ({ code: 0, signal: null })),
    'every engine exited by itself with status 0 (not killed after the stop timeout)',
  )
  for (const engine of engines) {
    const doc = await getDoc<EngineDoc & { retiredReason?: string }>(
      server.couch.db(server.couch.names.fleet),
      `engine:${engine.instanceId}`,
    )
    t.match(doc, { state: 'gone', inUse: 0 }, `engine:${engine.instanceId} drained and said it was gone`)
    t.equal(
      doc?.retiredReason,
      undefined,
      `engine:${engine.instanceId} wrote it itself, not the garbage collector`,
    )
  }
})
