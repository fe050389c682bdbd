import { migrate } from '../../controller/migrate.js'
import { Engine, type EngineOptions } from '../../daemon/engine.js'
import { StaticIdentity } from '../../daemon/identity.js'
import { silentLogger } from '../../daemon/log.js'
import type { EngineEvent } from '../../daemon/session.js'
import type { Couch } from '../../lib/couch/client.js'
import { rushStatus } from '../../lib/couch/rushes.js'
import {
  cleanups,
  connectTestCouch,
  couchCredentials,
  startCouch,
  type TestCouch,
  uniquePrefix,
} from './couch.js'
import { type CouchProxy, startProxy } from './proxy.js'
import { startTarget, type Target } from './target.js'

/**
 * Migrates the given regions (region name → test server) with one prefix, with the test
 * credentials (which the replication documents then carry).
 */
export async function migrateRegions(servers: Record<string, TestCouch>, prefix: string) {
  return migrate(
    { prefix, regions: Object.entries(servers).map(([name, server]) => ({ name, url: server.url })) },
    couchCredentials ? { credentials: couchCredentials } : {},
  )
}

export interface TestEngine {
  engine: Engine
  events: EngineEvent[]
  /** Resolves with the first event (past or future) that matches. */
  when(match: (event: EngineEvent) => boolean, timeoutMs?: number): Promise<EngineEvent>
}

/** An in-process engine on `url` (a test CouchDB: its credentials), loopback allowed (the tests' target is 127.0.0.1). */
export async function startEngine(
  url: string,
  prefix: string,
  instanceId: string,
  region: string,
  overrides: Partial<EngineOptions> = {},
): Promise<TestEngine> {
  const events: EngineEvent[] = []
  const waiters: { match: (event: EngineEvent) => boolean; resolve: (event: EngineEvent) => void }[] = []
  const couch: Couch = connectTestCouch(url, prefix)
  const engine = new Engine({
    couch,
    identity: new StaticIdentity({ instanceId, region, az: `${region}a` }),
    version: 'test',
    capacity: 1000,
    policy: { allowLoopback: true, allowPrivate: false },
    workers: 0,
    log: silentLogger(),
    feedHeartbeatMs: 2000,
    ...overrides,
    onEvent: (event) => {
      events.push(event)
      for (const waiter of [...waiters]) {
        if (waiter.match(event)) {
          waiters.splice(waiters.indexOf(waiter), 1)
          waiter.resolve(event)
        }
      }
    },
  })
  await engine.start()
  return {
    engine,
    events,
    when(match, timeoutMs = 60_000) {
      const past = events.find(match)
      if (past) return Promise.resolve(past)
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`${instanceId}: no matching event within ${timeoutMs} ms`)),
          timeoutMs,
        )
        waiters.push({
          match,
          resolve: (event) => {
            clearTimeout(timer)
            resolve(event)
          },
        })
      })
    },
  }
}

/**
 * One region for an engine test: a migrated test CouchDB (us-east-1) and a target that
 * answers after `targetDelayMs` (5 ms by default), both stopped after the test; `later`
 * queues more clean-ups.
 */
export async function oneRegion(
  t: { teardown(fn: () => unknown): void },
  targetDelayMs = 5,
): Promise<{ server: TestCouch; target: Target; later: (fn: () => unknown) => void }> {
  const later = cleanups(t)
  const server = await startCouch()
  later(() => server.stop())
  const target = await startTarget(targetDelayMs)
  later(() => target.close())
  await migrateRegions({ 'us-east-1': server }, server.prefix)
  return { server, target, later }
}

/**
 * The seconds a rush's timeline has when its pattern lasts `planned` seconds: more by the
 * largest `startShift` of its shards (a shard whose engine's load was ready late runs its
 * whole pattern from a later second: docs/job-plane.md, "A late start").
 */
export async function expectedSeconds(couch: Couch, id: string, planned: number): Promise<number> {
  const { shards } = await rushStatus(couch, id)
  return planned + Math.max(0, ...shards.map((shard) => shard.startShift ?? 0))
}

/**
 * Two regions whose link can be cut: a test server each, each behind a proxy
 * (test/harness/proxy.ts) through which the other region's replications pull; engines and
 * the CLI talk to their own region's server directly, so a cut only parts the regions.
 */
export async function regionsBehindProxies(
  later: (fn: () => unknown) => void,
  regions: [string, string],
): Promise<{ prefix: string; servers: [TestCouch, TestCouch]; links: [CouchProxy, CouchProxy] }> {
  const prefix = uniquePrefix()
  const servers: TestCouch[] = []
  const links: CouchProxy[] = []
  for (let i = 0; i < 2; i++) {
    const server = await startCouch({ prefix })
    later(() => server.stop())
    servers.push(server)
  }
  for (const server of servers) {
    const link = await startProxy(server.url)
    later(() => link.close())
    links.push(link)
  }
  await migrateRegions(
    Object.fromEntries(regions.map((region, i) => [region, { ...servers[i]!, url: links[i]!.url }])),
    prefix,
  )
  return { prefix, servers: servers as [TestCouch, TestCouch], links: links as [CouchProxy, CouchProxy] }
}
