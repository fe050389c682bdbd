#!/usr/bin/env node
// `npm run soak -- --minutes N`: back-to-back rushes through the local appliance (a CouchDB per
// region, the EC2 emulator whose instances are real engines, the controller's reconcile loop as
// its own process), printing every minute each engine's and the controller's RSS and open file
// descriptors (/proc/<pid>/status, /proc/<pid>/fd); at the end, the least-squares slope of each
// per minute (a leak shows as steady growth). Results: bench/results/soak.json, from which
// `npm run reliability:docs` writes the soak section of docs/reliability.md.
import { spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { startLocalFleet } from '../dist/appliance/fleet.js'
import { startPouchServer } from '../dist/appliance/pouchdb.js'
import { startDemoTarget } from '../dist/appliance/target.js'
import { migrate } from '../dist/controller/migrate.js'
import { connectCouch } from '../dist/lib/couch/client.js'
import { submitRush, watchRush } from '../dist/lib/couch/rushes.js'
import { slope } from './lib/stats.js'

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    regions: { type: 'string', default: 'us-east-1,eu-west-1' },
    pattern: { type: 'string', default: '1-20:5,20:5' },
    help: { type: 'boolean', short: 'h' },
  },
})
if (values.help) {
  console.log(`Usage: npm run soak -- [--minutes N] [--regions LIST] [--pattern 1-20:5,20:5]

Back-to-back rushes through the local appliance for N minutes (default 10); every minute the
RSS and open file descriptors of each engine and of the controller; at the end the slope of
each per minute (least squares). Results in bench/results/soak.json.`)
  process.exit(0)
}
const minutes = Number(values.minutes)
if (!(minutes > 0)) {
  console.error('soak: --minutes must be a positive number')
  process.exit(2)
}
const regions = values.regions.split(',')
const prefix = 'soak'
const RESULTS = fileURLToPath(new URL('./results/soak.json', import.meta.url))
const CONTROLLER = fileURLToPath(new URL('../dist/controller/main.js', import.meta.url))

/** RSS (KiB) and open fds of a process, or undefined when it is gone. */
function measure(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const rss = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1])
    const fds = readdirSync(`/proc/${pid}/fd`).length
    return { rss, fds }
  } catch {
    return undefined
  }
}

const stops = []
const logDir = mkdtempSync(join(tmpdir(), 'stampede-soak-'))
stops.push(() => rmSync(logDir, { recursive: true, force: true }))
const stopAll = async () => {
  while (stops.length > 0)
    await Promise.resolve()
      .then(stops.pop())
      .catch(() => {})
}
process.on('SIGINT', () => void stopAll().then(() => process.exit(130)))

try {
  const couches = new Map()
  for (const region of regions) {
    const couch = await startPouchServer(region)
    stops.push(() => couch.stop())
    couches.set(region, couch.url)
  }
  await migrate({ prefix, regions: regions.map((name) => ({ name, url: couches.get(name) })) })
  const fleet = await startLocalFleet({
    regions,
    couchUrlFor: (region) => couches.get(region),
    prefix,
    logDir,
  })
  stops.push(() => fleet.close())
  const topology = join(logDir, 'topology.json')
  writeFileSync(
    topology,
    JSON.stringify({
      prefix,
      regions: regions.map((name) => ({ name, url: couches.get(name) })),
      fleet: {
        name: 'appliance',
        imageKind: 'baked',
        image: 'resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64',
        capacity: 2000,
        cooldown: '60s',
        bootGrace: '60s',
        heartbeatStale: '60s',
        gcGrace: '30s',
        drainSettle: '5s',
        regions: Object.fromEntries(regions.map((r) => [r, { min: 1, max: 4 }])),
      },
    }),
  )
  // The controller as `stampede-controller reconcile --loop` runs it: its own process.
  const controller = spawn(
    process.execPath,
    [
      CONTROLLER,
      'reconcile',
      '--topology',
      topology,
      '--loop',
      '--interval',
      '1s',
      '--ec2-endpoint',
      fleet.ec2.url,
    ],
    {
      env: {
        ...process.env,
        AWS_ACCESS_KEY_ID: 'AKIALOCALSOAK',
        AWS_SECRET_ACCESS_KEY: 'local-soak',
        AWS_REGION: regions[0],
        AWS_EC2_METADATA_DISABLED: 'true',
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      },
      stdio: ['ignore', 'ignore', 'ignore'],
    },
  )
  const controllerExited = new Promise((resolve) => controller.once('exit', resolve))
  stops.push(async () => {
    controller.kill('SIGTERM')
    await controllerExited
  })
  await Promise.all(regions.map((region) => fleet.firstEngine(region)))
  const target = await startDemoTarget()
  stops.push(() => target.close())
  const couch = connectCouch(couches.get(regions[0]), { prefix })

  const startedAt = Date.now()
  const endAt = startedAt + minutes * 60_000
  const series = new Map() // name → [{ x: minute, rss, fds }]
  const rushes = { done: 0, other: 0, hits: 0 }
  const sample = () => {
    const minute = (Date.now() - startedAt) / 60_000
    const row = [`${minute.toFixed(1).padStart(5)} min`]
    const procs = [['controller', controller.pid]]
    for (const [id, engine] of fleet.launcher.engines)
      if (engine.pid) procs.push([`engine ${id}`, engine.pid])
    for (const [name, pid] of procs) {
      const m = measure(pid)
      if (!m) continue
      const list = series.get(name) ?? []
      list.push({ x: minute, rss: m.rss, fds: m.fds })
      series.set(name, list)
      row.push(`${name}: ${(m.rss / 1024).toFixed(1)} MiB ${m.fds} fds`)
    }
    row.push(`rushes done ${rushes.done}, other ${rushes.other}; load ${loadavg()[0].toFixed(2)}`)
    console.log(row.join(' | '))
  }
  sample()
  const timer = setInterval(sample, 60_000)
  stops.push(() => clearInterval(timer))
  const [{ parsePattern }] = await Promise.all([import('../dist/lib/pattern.js')])
  const pattern = parsePattern(values.pattern)
  while (Date.now() < endAt) {
    const id = await submitRush(couch, {
      model: 'rush',
      request: { method: 'GET', url: target.url, headers: {}, timeoutMs: 2000 },
      pattern,
      regions,
    })
    const result = await watchRush(couch, id, () => {}, { pollMs: 500, graceMs: 60_000 })
    if (result.state === 'done') rushes.done++
    else rushes.other++
    rushes.hits += result.summary.hits
  }
  sample()
  clearInterval(timer)
  const slopes = [...series].map(([name, points]) => ({
    name,
    samples: points.length,
    rssStartMiB: points[0].rss / 1024,
    rssEndMiB: points[points.length - 1].rss / 1024,
    rssSlopeKiBPerMin: slope(points.map((p) => ({ x: p.x, y: p.rss }))),
    fdsStart: points[0].fds,
    fdsEnd: points[points.length - 1].fds,
    fdsSlopePerMin: slope(points.map((p) => ({ x: p.x, y: p.fds }))),
  }))
  console.log('\nslopes (least squares, per minute):')
  for (const s of slopes) {
    console.log(
      `  ${s.name}: RSS ${s.rssStartMiB.toFixed(1)} → ${s.rssEndMiB.toFixed(1)} MiB, ${s.rssSlopeKiBPerMin?.toFixed(1) ?? '–'} KiB/min; fds ${s.fdsStart} → ${s.fdsEnd}, ${s.fdsSlopePerMin?.toFixed(2) ?? '–'}/min (${s.samples} samples)`,
    )
  }
  console.log(`rushes: ${rushes.done} done, ${rushes.other} not done; ${rushes.hits} hits in all`)
  mkdirSync(join(RESULTS, '..'), { recursive: true })
  writeFileSync(
    RESULTS,
    `${JSON.stringify(
      {
        startedAt: new Date(startedAt).toISOString(),
        minutes,
        pattern: values.pattern,
        regions,
        rushes,
        loadavg: loadavg(),
        slopes,
        series: Object.fromEntries(series),
      },
      null,
      2,
    )}\n`,
  )
  console.log(RESULTS)
} finally {
  await stopAll()
}
