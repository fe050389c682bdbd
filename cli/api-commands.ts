// biome-ignore-all lint/suspicious/noExplicitAny: JSON answers of the API, read field by field
import { UsageError } from '../lib/errors.js'
import { createHistogram, mergeInto } from '../lib/histogram.js'
import { parsePattern, patternDuration } from '../lib/pattern.js'
import type { RequestSpec } from '../lib/request-spec.js'
import { summarize } from '../lib/summary.js'
import { evaluateThresholds, parseThreshold } from '../lib/thresholds.js'
import { stepSummaries, summarizeTransaction } from '../lib/transaction/summary.js'
import type { SprintResult } from '../load/sprint.js'
import { ApiClient, apiKey } from './api-client.js'
import { API_NOTES, API_OPTION, remoteApi } from './api-options.js'
import { Exports, ReportSeconds } from './exports.js'
import { type CommandSpec, type ParsedOptions, stringOption } from './options.js'
import { formatCount, formatMs } from './report.js'
import { formatTransaction } from './transaction-report.js'

/** `stampede status|abort|sprint … --api URL`, and `stampede hosts`: the API's side of them. */
function client(url: string): ApiClient {
  return new ApiClient(url, apiKey())
}

/**
 * `status ID --api --report/--junit/--csv`: the seconds merged so far, replayed from the
 * rush's event stream (they carry their histograms), and no further: a running rush is
 * written as it stands, not waited for.
 */
async function writeExports(api: ApiClient, rush: any, values: ParsedOptions): Promise<void> {
  // Opened once the rush is known: an unknown id leaves no empty file behind.
  const exports = new Exports(values)
  if (!exports.wanted) return
  const seconds = new ReportSeconds()
  // A transaction's part histograms (the iterations', then each step's), for step thresholds.
  const names: string[] | undefined = rush.steps
  const parts = names && Array.from({ length: names.length + 1 }, () => createHistogram())
  try {
    const finished = rush.verdict !== 'pending'
    if (finished || rush.seconds > 0) {
      const stop = new AbortController()
      let count = 0
      await api.follow(
        rush.id,
        (point, histogram, secondParts) => {
          seconds.second(point, histogram)
          secondParts?.forEach((part, index) => {
            if (parts?.[index]) mergeInto(parts[index], part)
          })
          if (!finished && ++count >= rush.seconds) stop.abort()
        },
        { signal: stop.signal },
      )
    }
  } catch (err) {
    exports.abandon()
    throw err
  }
  const n = seconds.all.points.length
  const summary = summarize(seconds.all.points, seconds.all.histogram, n)
  const sources = (rush.thresholds as { threshold: string }[]).map((result) => result.threshold)
  const transaction = names && parts && summarizeTransaction(seconds.all.points, parts, names, n)
  exports.write(
    seconds.build({
      model: rush.model,
      url: rush.url,
      pattern: rush.pattern,
      where: `rush ${rush.id} through the API, ${rush.shards.length} shards in ${rush.regions.join(', ')}`,
      startedAt: rush.startAt,
      cutShort: n < patternDuration(parsePattern(rush.pattern, rush.model === 'rush' ? undefined : 'rate')),
      ...(rush.state !== 'done' && {
        unfinished:
          rush.verdict === 'pending'
            ? `rush ${rush.id} is ${rush.state}: ${n} seconds so far`
            : `rush ${rush.id} ended ${rush.state}`,
      }),
      summary,
      thresholds: evaluateThresholds(
        sources.map(parseThreshold),
        summary,
        transaction && stepSummaries(transaction),
      ),
      ...(transaction && { transaction }),
    }),
  )
}

export async function apiStatus(url: string, id: string, values: ParsedOptions): Promise<number> {
  const json = values.json === true
  const api = client(url)
  const rush = await api.call('GET', `/rushes/${encodeURIComponent(id)}`)
  await writeExports(api, rush, values)
  if (json) {
    process.stdout.write(`${JSON.stringify(rush, null, 2)}\n`)
    return 0
  }
  const lines = [
    `rush ${id}  ${rush.state}  (${rush.verdict})`,
    `  ${rush.model === 'rush' ? 'users' : 'rate'} ${rush.pattern}  ${rush.method} ${rush.url}`,
    `  regions ${rush.regions.join(', ')}, second 0 at ${rush.startAt}`,
    '',
    '  shard                                 region          state     engine               second',
  ]
  for (const shard of rush.shards) {
    lines.push(
      `  ${shard.id.padEnd(38)}${shard.region.padEnd(16)}${shard.state.padEnd(10)}${(shard.engine ?? '-').padEnd(21)}${shard.progress ?? '-'}${shard.reason ? `  (${shard.reason})` : ''}${shard.exhausted ? `  (data rows ran out: ${shard.exhausted})` : ''}`,
    )
  }
  const { summary } = rush
  if (rush.seconds > 0) {
    lines.push(
      '',
      `  ${rush.seconds} merged seconds: ${formatCount(summary.hits)} hits, ${formatCount(summary.errors)} errors, p50 ${formatMs(summary.latency.p50)} ms, p95 ${formatMs(summary.latency.p95)} ms, p99 ${formatMs(summary.latency.p99)} ms`,
    )
  }
  let text = `${lines.join('\n')}\n`
  // The rush's merged step table, as `stampede status` prints it through CouchDB.
  if (rush.transaction && rush.seconds > 0) text += `\n${formatTransaction(rush.transaction)}`
  process.stdout.write(text)
  return 0
}

export async function apiAbort(url: string, id: string): Promise<number> {
  await client(url).call('POST', `/rushes/${encodeURIComponent(id)}/abort`)
  process.stdout.write(`rush ${id} aborted\n`)
  return 0
}

/** A sprint run by an engine of the region; its result printed as a local sprint's. */
export async function apiSprint(
  url: string,
  spec: RequestSpec,
  region: string | undefined,
): Promise<SprintResult> {
  if (spec.resolve || spec.insecure) throw new UsageError('--resolve and --insecure are for local sprints')
  const api = client(url)
  const submitted = await api.call('POST', '/sprints', {
    request: {
      url: spec.url,
      method: spec.method,
      headers: spec.headers,
      timeoutMs: spec.timeoutMs,
      ...(spec.bodyBase64 !== undefined && { body: Buffer.from(spec.bodyBase64, 'base64').toString('utf8') }),
      ...(spec.expectStatus !== undefined && { expectStatus: spec.expectStatus }),
    },
    ...(region !== undefined && { region }),
  })
  // One request: poll until an engine wrote its result back (bounded by its timeout and a margin).
  const deadline = Date.now() + spec.timeoutMs + 60_000
  for (let wait = 50; ; wait = Math.min(wait * 2, 1000)) {
    const sprint = await api.call('GET', `/sprints/${submitted.id}`)
    if (sprint.result) return sprint.result as SprintResult
    if (Date.now() > deadline)
      throw new UsageError(`sprint ${submitted.id} is still ${sprint.state}: no engine took it`)
    await new Promise((resolve) => setTimeout(resolve, wait))
  }
}

export const HOSTS: CommandSpec = {
  name: 'hosts',
  usage: 'stampede hosts add HOST | verify HOST [--scheme http|https] [--port N] | list  --api URL',
  tagline: 'prove to the tenant API that you control a host, so that you may load it',
  summary:
    'A tenant may load only hosts it proved to control. "add" prints the token and what to publish:\n' +
    'a file /stampede-TOKEN.txt answering the token over HTTP(S), or a DNS TXT record _stampede.HOST\n' +
    'holding it. "verify" asks the API to check now; "list" shows your hosts and their proofs.',
  options: [
    API_OPTION,
    {
      name: 'scheme',
      type: 'string',
      value: 'http|https',
      description: 'with verify: the scheme to check (default http)',
    },
    {
      name: 'port',
      type: 'string',
      value: 'N',
      description: "with verify: the port to check (default the scheme's)",
    },
    { name: 'json', type: 'boolean', description: 'print JSON' },
    { name: 'help', short: 'h', type: 'boolean', description: 'show this help' },
  ],
  notes: `${API_NOTES}\n\nExit status: 0 done (verify: proven), 1 verify found no proof, 2 bad usage.`,
}

function printHost(host: any, json: boolean): void {
  if (json) return void process.stdout.write(`${JSON.stringify(host, null, 2)}\n`)
  const lines = [
    `${host.host}  ${host.proven ? `proven (${host.provenBy})` : 'not proven'}`,
    `  token ${host.token}`,
  ]
  if (!host.proven) lines.push(`  ${host.instructions}`)
  for (const check of host.checks ?? []) {
    lines.push(
      `  checked ${check.url}: ${check.code || 'no answer'}${check.error ? ` (${check.error})` : ''}`,
    )
  }
  process.stdout.write(`${lines.join('\n')}\n`)
}

export async function hostsCommand(positionals: string[], values: ParsedOptions): Promise<number> {
  const url = remoteApi(values)
  if (url === undefined) throw new UsageError('hosts needs --api URL (or STAMPEDE_API_URL)')
  const [action, host, ...extra] = positionals
  const json = values.json === true
  if (extra.length > 0) throw new UsageError(`unexpected ${extra.join(' ')}`)
  const api = client(url)
  switch (action) {
    case 'add':
      if (!host) throw new UsageError('hosts add HOST')
      printHost(await api.call('POST', '/hosts', { host }), json)
      return 0
    case 'verify': {
      if (!host) throw new UsageError('hosts verify HOST')
      const scheme = stringOption(values, 'scheme')
      if (scheme !== undefined && scheme !== 'http' && scheme !== 'https')
        throw new UsageError('--scheme is http or https')
      const port = stringOption(values, 'port')
      if (port !== undefined && !/^\d{1,5}$/.test(port)) throw new UsageError('--port must be a port number')
      const result = await api.call('POST', `/hosts/${encodeURIComponent(host)}/verify`, {
        ...(scheme !== undefined && { scheme }),
        ...(port !== undefined && { port: Number(port) }),
      })
      printHost(result, json)
      return result.proven ? 0 : 1
    }
    case 'list': {
      const { hosts } = await api.call('GET', '/hosts')
      if (json) process.stdout.write(`${JSON.stringify(hosts, null, 2)}\n`)
      else for (const one of hosts) printHost(one, false)
      return 0
    }
    default:
      throw new UsageError('hosts add HOST | hosts verify HOST | hosts list')
  }
}
