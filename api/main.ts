#!/usr/bin/env node
import { parseArgs } from 'node:util'
import { connectCouch } from '../lib/couch/client.js'
import { loadCredentials, parseCouchUrl } from '../lib/couch/credentials.js'
import { StampedeError, UsageError } from '../lib/errors.js'
import { parseDurationSeconds } from '../lib/pattern.js'
import { proofTargetOf, proveHost } from './proof.js'
import { DEFAULT_QUOTAS, type Quotas } from './quotas.js'
import { BLITZ_REGIONS } from './regions.js'
import { buildApi } from './server.js'
import { ApiStore } from './store.js'

export const HELP = `Usage: stampede-api [serve] [options]
       stampede-api tenants create NAME [--max-users N] [--max-duration D] [--max-running N]
                                        [--rushes-per-day N] [--regions LIST]
       stampede-api tenants list [--json] | tenants disable NAME | tenants enable NAME
       stampede-api tenants authorize NAME HOST
       stampede-api keys rotate NAME
       stampede-api prove URL --token TOKEN [--allow-loopback] [--allow-private]

The tenant API: blitz.io's v1 and a documented v2 (/api/v2/openapi.json) in front of the
job plane. Tenants hold API keys, never CouchDB credentials. The server keeps no state of
its own: run as many as you like against the same CouchDB.

serve options:
  --listen HOST:PORT       where to listen (default: 0.0.0.0:$PORT when PORT is set, else 127.0.0.1:8080)
  --regions LIST           regions to serve (default: every <prefix>-dispatch-* database found)
  --region-map LIST        blitz names to regions, e.g. california=us-west-1 (default: blitz's seven
                           names to their AWS regions, where served)
  --allow-loopback         proofs may fetch loopback addresses (a local appliance)
  --allow-private          proofs may fetch private-range addresses
  --proof-ttl DURATION     a proven host stays proven this long (default 24h; e.g. 30m, 3600)
  --rate-limit N           requests per API key per minute (default 600; 0: none)
  --merge-poll MS          between reads of a followed rush's samples (default 250)
  --start-lead MS          from a submission to second 0 of the rush (default 2000)
  --quiet                  no request log
tenants create options (quotas; defaults in brackets):
  --max-users N            concurrent users (or requests in flight) of one rush [${DEFAULT_QUOTAS.maxUsers}]
  --max-duration D         longest rush, e.g. 10m [${DEFAULT_QUOTAS.maxDuration}s]
  --max-running N          rushes running at once [${DEFAULT_QUOTAS.maxRunning}]
  --rushes-per-day N       rushes started per UTC day [${DEFAULT_QUOTAS.rushesPerDay}]
  --regions LIST           regions allowed [all]
common options:
  --couch URL              the job plane's CouchDB (default $STAMPEDE_COUCH_URL)
  --prefix NAME            database name prefix (default stampede)
  -h, --help               this help

CouchDB credentials come from STAMPEDE_COUCH_USER/STAMPEDE_COUCH_PASSWORD or
STAMPEDE_COUCH_CREDENTIALS_FILE, never from the command line. An API key is printed once,
at creation or rotation; only its hash is stored.
`

const OPTIONS = {
  couch: { type: 'string' },
  prefix: { type: 'string' },
  listen: { type: 'string' },
  regions: { type: 'string' },
  'region-map': { type: 'string' },
  'allow-loopback': { type: 'boolean' },
  'allow-private': { type: 'boolean' },
  'proof-ttl': { type: 'string' },
  'rate-limit': { type: 'string' },
  'merge-poll': { type: 'string' },
  'start-lead': { type: 'string' },
  quiet: { type: 'boolean' },
  'max-users': { type: 'string' },
  'max-duration': { type: 'string' },
  'max-running': { type: 'string' },
  'rushes-per-day': { type: 'string' },
  token: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const

type Values = Partial<Record<keyof typeof OPTIONS, string | boolean>>

function whole(values: Values, name: keyof typeof OPTIONS): number | undefined {
  const text = values[name]
  if (typeof text !== 'string') return undefined
  const value = Number(text)
  if (!Number.isInteger(value) || value < 0)
    throw new UsageError(`--${name} must be a whole number, got "${text}"`)
  return value
}

function list(text: string | boolean | undefined): string[] {
  return typeof text === 'string'
    ? text
        .split(',')
        .map((item) => item.trim())
        .filter(Boolean)
    : []
}

function connect(values: Values) {
  const url = (values.couch as string | undefined) ?? process.env.STAMPEDE_COUCH_URL
  if (!url) throw new UsageError('no CouchDB: give --couch URL or set STAMPEDE_COUCH_URL')
  const prefix = values.prefix as string | undefined
  return connectCouch(parseCouchUrl(url, '--couch'), {
    credentials: loadCredentials(),
    ...(prefix !== undefined && { prefix }),
  })
}

function quotasOf(values: Values): Partial<Quotas> {
  const quotas: Partial<Quotas> = {}
  const maxUsers = whole(values, 'max-users')
  if (maxUsers !== undefined) quotas.maxUsers = maxUsers
  if (typeof values['max-duration'] === 'string')
    quotas.maxDuration = parseDurationSeconds(values['max-duration'])
  const maxRunning = whole(values, 'max-running')
  if (maxRunning !== undefined) quotas.maxRunning = maxRunning
  const perDay = whole(values, 'rushes-per-day')
  if (perDay !== undefined) quotas.rushesPerDay = perDay
  if (values.regions !== undefined) quotas.regions = list(values.regions)
  return quotas
}

async function serve(values: Values): Promise<number> {
  const couch = connect(values)
  let regions = list(values.regions)
  if (regions.length === 0) {
    const marker = `${couch.names.prefix}-dispatch-`
    regions = (
      await couch.server.db.list().catch((err) => {
        throw new StampedeError(
          'STAMPEDE_COUCH',
          `listing databases at ${couch.url}: ${(err as Error).message}`,
        )
      })
    )
      .filter((db) => db.startsWith(marker))
      .map((db) => db.slice(marker.length))
      .sort()
    if (regions.length === 0)
      throw new UsageError(
        `no ${marker}* database at ${couch.url}: run stampede-controller migrate, or give --regions`,
      )
  }
  const regionMap: Record<string, string> = {}
  for (const [name, region] of Object.entries(BLITZ_REGIONS))
    if (regions.includes(region)) regionMap[name] = region
  for (const pair of list(values['region-map'])) {
    const [name, region] = pair.split('=')
    if (!name || !region) throw new UsageError(`--region-map takes NAME=REGION pairs, got "${pair}"`)
    regionMap[name.toLowerCase()] = region
  }
  const port = process.env.PORT
  const listen = (values.listen as string | undefined) ?? (port ? `0.0.0.0:${port}` : '127.0.0.1:8080')
  const at = listen.lastIndexOf(':')
  const host = listen.slice(0, at).replace(/^\[|\]$/g, '')
  const portNumber = Number(listen.slice(at + 1))
  if (at <= 0 || !Number.isInteger(portNumber) || portNumber < 0 || portNumber > 65535)
    throw new UsageError(`--listen takes HOST:PORT, got "${listen}"`)
  const ttl =
    typeof values['proof-ttl'] === 'string' ? parseDurationSeconds(values['proof-ttl']) * 1000 : 86_400_000
  const rateLimit = whole(values, 'rate-limit')
  const mergePoll = whole(values, 'merge-poll')
  const startLead = whole(values, 'start-lead')
  const { app } = await buildApi({
    couch,
    regions,
    regionMap,
    proof: {
      policy: {
        allowLoopback: values['allow-loopback'] === true,
        allowPrivate: values['allow-private'] === true,
      },
      timeoutMs: 5000,
    },
    proofTtlMs: ttl,
    ...(rateLimit !== undefined && { rateLimit }),
    ...(mergePoll !== undefined && { mergePollMs: mergePoll }),
    ...(startLead !== undefined && { startLeadMs: startLead }),
    logger: values.quiet ? false : { level: 'info' },
  })
  const address = await app.listen({ host, port: portNumber })
  process.stderr.write(`stampede-api listening on ${address} (regions ${regions.join(', ')})\n`)
  await new Promise<void>((resolve) => {
    const stop = () => resolve()
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
  })
  await app.close()
  return 0
}

async function tenants(sub: string | undefined, args: string[], values: Values): Promise<number> {
  const store = new ApiStore(connect(values))
  await store.ensure()
  const now = Date.now()
  const one = (what: string) => {
    if (args.length !== 1) throw new UsageError(`tenants ${sub} takes ${what}`)
    return args[0]!
  }
  switch (sub) {
    case 'create': {
      const { tenant, key } = await store.createTenant(one('one NAME'), quotasOf(values), now)
      process.stdout.write(`user ${tenant.name}\nkey ${key}\n`)
      process.stderr.write(
        'The key is shown once; only its hash is stored. Give it to the tenant as STAMPEDE_API_KEY.\n',
      )
      return 0
    }
    case 'list': {
      const all = await store.listTenants()
      if (values.json) {
        const out = all.map(({ name, quotas, disabled, createdAt }) => ({
          name,
          quotas,
          disabled,
          createdAt,
        }))
        process.stdout.write(`${JSON.stringify(out, null, 2)}\n`)
        return 0
      }
      for (const tenant of all) {
        const q = tenant.quotas
        process.stdout.write(
          `${tenant.name.padEnd(24)}${tenant.disabled ? 'disabled' : 'active  '}  users ${q.maxUsers}, ${q.maxDuration} s, ${q.maxRunning} at once, ${q.rushesPerDay}/day, regions ${q.regions.length > 0 ? q.regions.join(',') : 'all'}\n`,
        )
      }
      return 0
    }
    case 'disable':
    case 'enable': {
      const tenant = await store.setDisabled(one('one NAME'), sub === 'disable')
      process.stdout.write(`tenant ${tenant.name} ${sub}d\n`)
      return 0
    }
    case 'quotas': {
      const tenant = await store.setQuotas(one('one NAME'), quotasOf(values))
      process.stdout.write(`tenant ${tenant.name}: ${JSON.stringify(tenant.quotas)}\n`)
      return 0
    }
    case 'authorize': {
      if (args.length !== 2) throw new UsageError('tenants authorize takes NAME HOST')
      const tenant = await store.requireTenant(args[0]!)
      const host = args[1]!.toLowerCase()
      const doc = await store.hostOrNew(tenant.name, host, now)
      await store.saveHost({ ...doc, operator: true, provenAt: now, provenBy: 'operator' })
      process.stdout.write(`tenant ${tenant.name} may load ${host}\n`)
      return 0
    }
    default:
      throw new UsageError('tenants commands: create, list, disable, enable, quotas, authorize')
  }
}

/** Checks a proof exactly as the API would (for operators, and the isolation tests). */
async function prove(args: string[], values: Values): Promise<number> {
  if (args.length !== 1) throw new UsageError('prove takes one URL (scheme, host and port to check)')
  if (typeof values.token !== 'string') throw new UsageError('prove needs --token TOKEN')
  let url: URL
  try {
    url = new URL(args[0]!)
  } catch {
    throw new UsageError(`invalid URL "${args[0]}"`)
  }
  const outcome = await proveHost(proofTargetOf(url), values.token, {
    policy: {
      allowLoopback: values['allow-loopback'] === true,
      allowPrivate: values['allow-private'] === true,
    },
    timeoutMs: 5000,
  })
  process.stdout.write(`${JSON.stringify(outcome)}\n`)
  return outcome.ok ? 0 : 1
}

export async function main(argv: string[]): Promise<number> {
  let parsed: { values: Values; positionals: string[] }
  try {
    parsed = parseArgs({
      args: argv,
      options: OPTIONS,
      allowPositionals: true,
      strict: true,
    }) as typeof parsed
  } catch (err) {
    process.stderr.write(`stampede-api: ${(err as Error).message.split('\n')[0]}\n`)
    return 2
  }
  const { values, positionals } = parsed
  if (values.help || positionals[0] === 'help') {
    process.stdout.write(HELP)
    return 0
  }
  const [command = 'serve', ...rest] = positionals
  try {
    switch (command) {
      case 'serve':
        if (rest.length > 0) throw new UsageError(`serve takes no arguments, got ${rest.join(' ')}`)
        return await serve(values)
      case 'tenants':
        return await tenants(rest[0], rest.slice(1), values)
      case 'keys': {
        if (rest[0] !== 'rotate' || rest.length !== 2) throw new UsageError('keys rotate NAME')
        const store = new ApiStore(connect(values))
        const key = await store.rotateKey(rest[1]!, Date.now())
        process.stdout.write(`user ${rest[1]!.toLowerCase()}\nkey ${key}\n`)
        return 0
      }
      case 'prove':
        return await prove(rest, values)
      default:
        throw new UsageError(`unknown command "${command}" (commands: serve, tenants, keys, prove)`)
    }
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`stampede-api: ${err.message}\n`)
      return 2
    }
    if (err instanceof StampedeError) {
      process.stderr.write(`stampede-api: ${err.message}\n`)
      return 1
    }
    process.stderr.write(`stampede-api: unexpected failure: ${(err as Error)?.stack ?? err}\n`)
    return 1
  }
}

process.exitCode = await main(process.argv.slice(2))
