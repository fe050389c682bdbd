#!/usr/bin/env node
/**
 * The local appliance (`npm start`): the whole of Stampede on one machine, on 127.0.0.1 only —
 * a CouchDB per region (PouchDB Server, in memory) migrated and replicating, the emulated
 * EC2 whose instances are real engines with their own IMDS, the tenant API with a local
 * tenant, and a demo rush through that API (`stampede rush --api … --regions …`) against a
 * built-in target.
 * Then it stops everything, or with --keep stays up for the user's own rushes until Ctrl-C.
 */
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { DEMO_THRESHOLDS, demoVerdictNote } from '../cli/demo.js'
import { rushCommand } from '../cli/rush.js'
import { migrate } from '../controller/migrate.js'
import type { Credentials } from '../lib/couch/credentials.js'
import { DEFAULT_PREFIX, isRegionName } from '../lib/couch/names.js'
import { StampedeError, UsageError } from '../lib/errors.js'
import { startLocalApi } from './api.js'
import { startLocalFleet } from './fleet.js'
import { startPouchServer } from './pouchdb.js'
import { Shutdown } from './shutdown.js'
import { startDemoTarget } from './target.js'

const HELP = `Usage: npm start [-- options]      (or: node dist/appliance/main.js [options])

Runs Stampede on this machine, everything on 127.0.0.1 and in memory: a CouchDB per region
(PouchDB Server), replicating both ways; an emulated EC2 whose instances are real engines,
each knowing itself from its own IMDSv2; the tenant API with a tenant "local"; then a demo
rush through that API (stampede rush --api … --regions …) against a built-in target, with
live progress and a verdict. Then everything stops, unless --keep (which prints the API's
URL and the tenant's key).

  --regions LIST     regions, comma-separated (default us-east-1,eu-west-1)
  --pattern PATTERN  the demo rush's users (default 1-20:5,20:5)
  --keep             stay up after the demo, for your own rushes, until Ctrl-C
  --no-demo          skip the demo rush (with --keep)
  -h, --help         this help

Exit status: the demo rush's (0 passed, 99 a threshold failed, 1 it could not run, 130
interrupted); 1 when the appliance could not start.
`

interface ApplianceArgs {
  regions: string[]
  pattern: string
  keep: boolean
  demo: boolean
}

function parse(argv: string[]): ApplianceArgs | undefined {
  let values: Record<string, string | boolean | undefined>
  try {
    ;({ values } = parseArgs({
      args: argv,
      strict: true,
      options: {
        regions: { type: 'string' },
        pattern: { type: 'string' },
        keep: { type: 'boolean' },
        'no-demo': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }))
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
  if (values.help) return undefined
  const regions = String(values.regions ?? 'us-east-1,eu-west-1')
    .split(',')
    .map((region) => region.trim())
    .filter(Boolean)
  if (regions.length === 0 || regions.some((region) => !isRegionName(region)))
    throw new UsageError('--regions must list region names such as us-east-1,eu-west-1')
  if (new Set(regions).size !== regions.length) throw new UsageError('--regions lists a region twice')
  const demo = values['no-demo'] !== true
  if (!demo && !values.keep) throw new UsageError('--no-demo goes with --keep (else there is nothing to do)')
  return { regions, pattern: String(values.pattern ?? '1-20:5,20:5'), keep: values.keep === true, demo }
}

const say = (line = '') => process.stdout.write(`${line}\n`)

async function run(args: ApplianceArgs, shutdown: Shutdown): Promise<number> {
  const prefix = DEFAULT_PREFIX
  const logDir = mkdtempSync(join(tmpdir(), 'stampede-appliance-'))
  shutdown.add('engine logs', () => {
    if (shutdown.keepLogs) return `kept in ${logDir}`
    rmSync(logDir, { recursive: true, force: true })
    return 'removed'
  })

  // Every CouchDB wants a login, as in a real deployment: one generated for this run, in a
  // file only this user can read (the way the engines' systemd unit hands theirs over).
  const credentials: Credentials = { username: 'stampede', password: randomBytes(18).toString('base64url') }
  const secretDir = mkdtempSync(join(tmpdir(), 'stampede-appliance-secret-'))
  const credentialsFile = join(secretDir, 'couch-credentials')
  writeFileSync(credentialsFile, `${credentials.username}:${credentials.password}\n`, { mode: 0o600 })
  shutdown.add('CouchDB credentials', () => {
    rmSync(secretDir, { recursive: true, force: true })
    return 'removed'
  })
  // The demo rush runs in this process and reads them as the CLI does.
  process.env.STAMPEDE_COUCH_CREDENTIALS_FILE = credentialsFile

  const couches = new Map<string, string>()
  for (const region of args.regions) {
    const couch = await startPouchServer(region, { detached: true, credentials })
    shutdown.add(`CouchDB ${region}`, () => couch.stop(), couch.child)
    couches.set(region, couch.url)
  }
  const couchUrlFor = (region: string) => couches.get(region)!
  const home = couchUrlFor(args.regions[0]!)
  const actions = await migrate(
    { prefix, regions: args.regions.map((name) => ({ name, url: couchUrlFor(name) })) },
    { credentials },
  )
  const fleet = await startLocalFleet({
    regions: args.regions,
    couchUrlFor,
    prefix,
    logDir,
    credentials,
    credentialsFile,
  })
  shutdown.add('engines (drained, gone) and the EC2 emulator', () => fleet.close())
  const target = await startDemoTarget()
  shutdown.add('demo target', () => target.close())
  // The tenant API, with a local tenant: the demo rush goes through it, as a tenant's would.
  const api = await startLocalApi({ couchUrl: home, prefix, regions: args.regions, credentials })
  shutdown.add('tenant API', () => api.close())
  process.env.STAMPEDE_API_KEY = api.key

  const width = Math.max(...args.regions.map((region) => region.length)) + 10
  say('Stampede local appliance: everything on 127.0.0.1, in memory')
  for (const region of args.regions)
    say(`  ${`CouchDB ${region}`.padEnd(width)}${couchUrlFor(region)}  (PouchDB Server, login required)`)
  say(`  ${'CouchDB login'.padEnd(width)}${credentialsFile}  (user:password)`)
  say(`  ${'EC2 API'.padEnd(width)}${fleet.ec2.url}  (emulated; RunInstances starts a real engine)`)
  say(`  ${'demo target'.padEnd(width)}${target.url}`)
  say(`  ${'tenant API'.padEnd(width)}${api.url}  (tenant "${api.user}")`)
  say(`  ${'engine logs'.padEnd(width)}${logDir}`)
  say(
    `migrated: ${actions.filter((action) => action.kind !== 'warn').length} changes (databases, design docs, replication)`,
  )

  // The controller's reconcile loop keeps the fleet: a warm engine per region, more on demand.
  const controller = new AbortController()
  const reconciling = fleet.reconcile(controller.signal)
  shutdown.add('controller', async () => {
    controller.abort()
    await reconciling
  })
  say('fleet: the controller launches the minimum (one engine per region) through the EC2 API')
  const docs = await Promise.all(args.regions.map((region) => fleet.firstEngine(region)))
  for (const doc of docs) {
    const engine = fleet.launcher.engines.get(doc.instanceId)
    if (engine) shutdown.track(engine.pid, engine.exited)
    say(`  engine:${doc.instanceId}  ${doc.az}  registered, ${doc.state}`)
  }

  const demoArgs = [target.url, '--pattern', args.pattern, '--regions', args.regions.join(',')]
  const thresholds = DEMO_THRESHOLDS.flatMap((threshold) => ['-T', threshold])
  const rush = [...demoArgs, '--api', api.url, ...thresholds]
  const couchRush = [...demoArgs, '--couch', home, ...thresholds]
  let code = 0
  if (args.demo) {
    say()
    say(`demo rush: stampede rush ${rush.map(quote).join(' ')}`)
    code = await shutdown.suspended(() =>
      rushCommand([target.url], {
        pattern: args.pattern,
        api: api.url,
        regions: args.regions.join(','),
        threshold: DEMO_THRESHOLDS,
      }),
    )
    say(`the target counted ${target.count} requests`)
    if (code === 99) process.stdout.write(demoVerdictNote())
    if (code !== 0 && code !== 99) shutdown.keepLogs = true
  }
  if (args.keep && code !== 130) {
    say()
    say('The appliance stays up (Ctrl-C stops it). Engines take loopback targets here. Try:')
    say(`  export STAMPEDE_API_URL=${api.url} STAMPEDE_API_KEY=${api.key}`)
    say(`  node dist/cli/main.js rush ${rush.map(quote).join(' ')}`)
    say(`  curl -H "Authorization: Bearer $STAMPEDE_API_KEY" ${api.url}/api/v2/rushes`)
    say("The operator's path, straight to CouchDB:")
    say(`  export STAMPEDE_COUCH_CREDENTIALS_FILE=${credentialsFile}`)
    say(`  node dist/cli/main.js rush ${couchRush.map(quote).join(' ')}`)
    say(`  node dist/cli/main.js status --couch ${home}`)
    shutdown.awaited = true
    await shutdown.requested
  }
  return code
}

function quote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, "'\\''")}'`
}

async function main(argv: string[]): Promise<number> {
  // The SDK's notice about Node 22 (2027) is for deployments, not for a local demo.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'
  const args = parse(argv)
  if (!args) {
    process.stdout.write(HELP)
    return 0
  }
  const shutdown = new Shutdown({ report: (line) => say(line) })
  const running = run(args, shutdown)
  // Interrupted during start-up: the rest of the start-up fails as things stop under it.
  running.catch(() => {})
  try {
    return await Promise.race([running, shutdown.requested.then(() => (shutdown.awaited ? running : 130))])
  } catch (err) {
    shutdown.keepLogs = true
    throw err
  } finally {
    await shutdown.stopAll()
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    const message = err instanceof StampedeError ? err.message : ((err as Error).stack ?? String(err))
    process.stderr.write(`stampede appliance: ${message}\n`)
    process.exit(err instanceof UsageError ? 2 : 1)
  },
)
