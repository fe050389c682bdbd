#!/usr/bin/env node
// `npm run bench:reconcile`: one reconcile over 1,000 emulated instances in 4 regions (the EC2
// emulator through the real SDK, PouchDB Server for the documents). Prints the wall time (whole
// run, and each phase) and the EC2 API calls it made, by action. The target: pages of
// DescribeInstances, plus one call per action batch (terminate and tag are batched per region),
// nothing per instance. Settings: BENCH_INSTANCES (default 1000), BENCH_REGIONS (default 4).
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import pino from 'pino'

const dist = (path) => new URL(`../dist/${path}`, import.meta.url).href
const { AwsCloudProvider } = await import(dist('controller/cloud/aws.js'))
const { reconcileOnce, observe } = await import(dist('controller/reconcile/reconcile.js'))
const { planReconcile } = await import(dist('controller/reconcile/plan.js'))
const { couchStore } = await import(dist('controller/reconcile/store.js'))
const { emptyState } = await import(dist('controller/reconcile/model.js'))
const { ManualClock } = await import(dist('emulators/clock.js'))
const { startEc2 } = await import(dist('emulators/ec2.js'))
const { connectCouch } = await import(dist('lib/couch/client.js'))
const { migrate } = await import(dist('controller/migrate.js'))
const { submitRush } = await import(dist('lib/couch/rushes.js'))

process.env.AWS_EC2_METADATA_DISABLED = 'true'
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true'
const TOTAL = Number(process.env.BENCH_INSTANCES ?? 1000)
const REGIONS = ['us-east-1', 'eu-west-1', 'ap-southeast-2', 'sa-east-1'].slice(
  0,
  Number(process.env.BENCH_REGIONS ?? 4),
)
const PER_REGION = Math.ceil(TOTAL / REGIONS.length)
const M = 60_000
const FLEET = 'bench'

const port = await freePort()
const dir = mkdtempSync(join(tmpdir(), 'stampede-bench-'))
const pouch = spawn(
  process.execPath,
  [
    fileURLToPath(new URL('../node_modules/pouchdb-server/bin/pouchdb-server', import.meta.url)),
    '--in-memory',
    '--port',
    String(port),
    '--host',
    '127.0.0.1',
    '--no-stdout-logs',
  ],
  { cwd: dir, stdio: 'ignore' },
)
const url = `http://127.0.0.1:${port}`
await waitUp(url)
const clock = new ManualClock()
const ec2 = await startEc2({ clock, pendingMs: 1000 })
const cloud = new AwsCloudProvider({
  endpoint: ec2.url,
  credentials: { accessKeyId: 'AKIABENCH', secretAccessKey: 'bench' },
})
try {
  // One server stands for every region here: migrate each alone (no replication onto itself).
  for (const name of REGIONS) await migrate({ prefix: 'bench', regions: [{ name, url }] })
  const couch = connectCouch(url, { prefix: 'bench' })
  const fleetDb = couch.db(couch.names.fleet)

  // The fleet: PER_REGION instances per region, launched 30 minutes ago.
  for (const region of REGIONS) {
    await cloud.launch({
      fleet: FLEET,
      region,
      clientToken: `seed-${region}`,
      imageId: 'ami-0123456789abcdef0',
      instanceType: 'c7i.large',
      count: PER_REGION,
      userData: '#cloud-config\n',
    })
  }
  clock.advance(30 * M)
  const now = clock.now()
  // Their engines: most busy and fresh; per region a few never registered, a few idle past the
  // cooldown, a few with a stale heartbeat, a few killed.
  const mix = { unregistered: 10, idle: 8, stale: 5, killed: 3 }
  const docs = []
  for (const region of REGIONS) {
    const ids = ec2.instances(region).map((i) => i.id)
    ids.forEach((id, k) => {
      if (k < mix.unregistered) return
      const base = {
        _id: `engine:${id}`,
        type: 'engine',
        instanceId: id,
        region,
        az: `${region}a`,
        version: 'bench',
        capacity: 10000,
        checkpoint: null,
        startedAt: now - 29 * M,
        bootId: 'b',
      }
      if (k < mix.unregistered + mix.idle)
        docs.push({ ...base, state: 'idle', inUse: 0, heartbeatAt: now - 5000, idleSince: now - 20 * M })
      else if (k < mix.unregistered + mix.idle + mix.stale)
        docs.push({ ...base, state: 'busy', inUse: 100, heartbeatAt: now - 10 * M })
      else docs.push({ ...base, state: 'busy', inUse: 5000, heartbeatAt: now - 5000 })
    })
    for (const id of ids.slice(
      mix.unregistered + mix.idle + mix.stale,
      mix.unregistered + mix.idle + mix.stale + mix.killed,
    ))
      await ec2.kill(id)
  }
  for (let i = 0; i < docs.length; i += 500) await fleetDb.bulk({ docs: docs.slice(i, i + 500) })
  // Some demand: a rush of 12 shards of 9,000 connections in the first region: the idle engines
  // there take 8 (so they are not drained), 4 need new engines (one RunInstances).
  await submitRush(
    couch,
    {
      model: 'rush',
      request: { method: 'GET', url: 'https://example.com/', headers: {}, timeoutMs: 1000 },
      pattern: [{ start: 108000, end: 108000, duration: 600 }],
      regions: [REGIONS[0]],
      shardsPerRegion: 12,
      startAt: now + M,
    },
    { now },
  )

  const policy = {
    fleet: FLEET,
    regions: REGIONS,
    limits: Object.fromEntries(REGIONS.map((r) => [r, { min: 0, max: PER_REGION + 10 }])),
    capacity: 10000,
    cooldownMs: 5 * M,
    bootGraceMs: 10 * M,
    heartbeatStaleMs: 90_000,
    gcGraceMs: 5 * M,
    shardLeaseGraceMs: 30_000,
    drainSettleMs: 20_000,
  }
  const store = couchStore(couch, () => couch)
  const deps = {
    cloud,
    store,
    policy,
    launchTemplate: () => ({
      imageId: 'ami-0123456789abcdef0',
      instanceType: 'c7i.large',
      userData: '#cloud-config\n',
      instanceProfile: 'stampede-engine',
    }),
    log: pino({ level: 'silent' }),
    now: () => clock.now(),
    holder: 'bench',
  }

  const instanceCount = ec2.instances().length
  ec2.resetCalls()
  let t0 = performance.now()
  const observation = await observe(cloud, store, policy, emptyState(), deps.now)
  const observeMs = performance.now() - t0
  t0 = performance.now()
  const plan = planReconcile(observation, policy)
  const planMs = performance.now() - t0
  const observeCalls = ec2.calls.length

  ec2.resetCalls()
  t0 = performance.now()
  const report = await reconcileOnce(deps)
  const wall = performance.now() - t0
  const calls = {}
  for (const call of ec2.calls) calls[call.action] = (calls[call.action] ?? 0) + 1
  const byKind = {}
  for (const action of report.plan.actions) byKind[action.kind] = (byKind[action.kind] ?? 0) + 1
  const totalCalls = ec2.calls.length

  console.log(
    `reconcile over ${instanceCount} emulated instances in ${REGIONS.length} regions (${docs.length} engine docs)`,
  )
  console.log(
    `  observe, cold (list the cloud, read the docs; PouchDB builds its view indexes): ${observeMs.toFixed(0)} ms, ${observeCalls} EC2 calls`,
  )
  console.log(
    `  plan (pure):                             ${planMs.toFixed(1)} ms, ${plan.actions.length} actions`,
  )
  console.log(
    `  whole run (lease, observe, plan, intent, apply, release): ${wall.toFixed(0)} ms — ${report.outcome}: ${report.reason}`,
  )
  console.log(`  actions: ${JSON.stringify(byKind)}`)
  console.log(`  EC2 calls: ${totalCalls} ${JSON.stringify(calls)}`)
  const pages = Math.ceil(PER_REGION / 1000) * REGIONS.length
  console.log(
    `  target: ${pages} DescribeInstances page(s) + at most one call per action batch per region; per instance: ${(totalCalls / instanceCount).toFixed(3)} calls`,
  )
} finally {
  cloud.close()
  await ec2.close()
  pouch.kill('SIGTERM')
  rmSync(dir, { recursive: true, force: true })
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
}

async function waitUp(base) {
  for (let i = 0; i < 150; i++) {
    try {
      if ((await fetch(base)).ok) return
    } catch {}
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`PouchDB Server did not start on ${base}`)
}
