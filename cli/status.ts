import { abortRush, rushStatus, watchRush } from '../lib/couch/rushes.js'
import { UsageError } from '../lib/errors.js'
import { formatPattern, patternDuration } from '../lib/pattern.js'
import { evaluateThresholds, parseThreshold } from '../lib/thresholds.js'
import { stepSummaries } from '../lib/transaction/summary.js'
import { apiAbort, apiStatus } from './api-commands.js'
import { API_NOTES, API_OPTION, remoteApi } from './api-options.js'
import { COUCH_NOTES, COUCH_OPTIONS, connectFromOptions } from './couch-options.js'
import { EXPORT_OPTIONS, Exports, ReportSeconds } from './exports.js'
import type { CommandSpec, ParsedOptions } from './options.js'
import { formatCount, formatMs } from './report.js'
import { formatTransaction, transactionJson } from './transaction-report.js'

export const STATUS: CommandSpec = {
  name: 'status',
  usage: 'stampede status RUSH-ID --couch URL|--api URL [--json] [--report FILE] [--junit FILE] [--csv FILE]',
  tagline: "show a submitted rush: its state, each shard's engine and progress, results so far",
  summary:
    'Show a rush submitted with --couch or --api: its state, where each shard runs and how far it got,\n' +
    'and the merged results so far; --report, --junit and --csv write them to files (judged\n' +
    "on the rush's own thresholds).",
  options: [
    ...COUCH_OPTIONS,
    API_OPTION,
    { name: 'json', type: 'boolean', description: 'print the status as JSON' },
    ...EXPORT_OPTIONS,
    { name: 'help', short: 'h', type: 'boolean', description: 'show this help' },
  ],
  notes: `${COUCH_NOTES}\n${API_NOTES}`,
}

export const ABORT: CommandSpec = {
  name: 'abort',
  usage: 'stampede abort RUSH-ID --couch URL',
  tagline: 'stop a submitted rush on every engine in every region',
  summary:
    'Abort a rush submitted with --couch: every engine running one of its shards stops within a\nsecond, in every region; shards not started yet never start.',
  options: [
    ...COUCH_OPTIONS,
    API_OPTION,
    { name: 'help', short: 'h', type: 'boolean', description: 'show this help' },
  ],
  notes: `${COUCH_NOTES}\n${API_NOTES}`,
}

function rushIdArgument(positionals: string[]): string {
  if (positionals.length !== 1) throw new UsageError('give one rush id')
  return positionals[0]!
}

export async function statusCommand(positionals: string[], values: ParsedOptions): Promise<number> {
  const id = rushIdArgument(positionals)
  const api = remoteApi(values)
  if (api !== undefined) return apiStatus(api, id, values)
  const couch = connectFromOptions(values)!
  const status = await rushStatus(couch, id)
  // Opened once the rush is known: an unknown id leaves no empty report behind.
  const exports = new Exports(values)
  const seconds = exports.wanted ? new ReportSeconds() : undefined
  if (status.rush.regions.length > 1) seconds?.setRegions(status.rush.regions)
  const result = await watchRush(couch, id, (point, histogram) => seconds?.second(point, histogram), {
    once: true,
    ...(seconds && status.rush.regions.length > 1 && { onRegionPoint: seconds.regionSecond }),
  }).catch((err) => {
    exports.abandon()
    throw err
  })
  if (seconds) {
    const { rush } = result
    const sources = Array.isArray(rush.thresholds) ? rush.thresholds.filter((t) => typeof t === 'string') : []
    const planned = patternDuration(rush.pattern)
    exports.write(
      seconds.build({
        model: rush.model,
        url: rush.request.url,
        pattern: formatPattern(rush.pattern),
        where: `rush ${id}, ${rush.shards.length} shards in ${rush.regions.join(', ')}`,
        startedAt: new Date(rush.startAt).toISOString(),
        cutShort: result.timeline.length < planned,
        ...(result.state !== 'done' && {
          unfinished:
            result.state === 'running' || result.state === 'queued'
              ? `rush ${id} is ${result.state}: ${result.timeline.length} of ${planned} seconds so far`
              : `rush ${id} ended ${result.state}`,
        }),
        summary: result.summary,
        thresholds: evaluateThresholds(
          sources.map(parseThreshold),
          result.summary,
          result.transaction && stepSummaries(result.transaction),
        ),
        ...(result.transaction && { transaction: result.transaction }),
      }),
    )
  }
  if (values.json) {
    process.stdout.write(
      `${JSON.stringify(
        {
          ...status,
          seconds: result.timeline.length,
          summary: result.summary,
          ...(result.transaction && { transaction: transactionJson(result.transaction) }),
        },
        null,
        2,
      )}\n`,
    )
    return 0
  }
  const { rush } = status
  const lines = [
    `rush ${id}  ${status.state}`,
    `  ${rush.model === 'rush' ? 'users' : 'rate'} ${formatPattern(rush.pattern)}  ${rush.request.method} ${rush.request.url}`,
    `  regions ${rush.regions.join(', ')}, second 0 at ${new Date(rush.startAt).toISOString()}`,
    '',
    '  shard                                 region          state     engine               second',
  ]
  for (const shard of status.shards) {
    lines.push(
      `  ${shard.id.padEnd(38)}${shard.region.padEnd(16)}${shard.state.padEnd(10)}${(shard.engine ?? '-').padEnd(21)}${shard.progress ?? '-'}${shard.reason ? `  (${shard.reason})` : ''}${shard.exhausted ? `  (data rows ran out: ${shard.exhausted})` : ''}`,
    )
  }
  const { summary } = result
  if (result.timeline.length > 0) {
    lines.push(
      '',
      `  ${result.timeline.length} merged seconds: ${formatCount(summary.hits)} hits, ${formatCount(summary.errors)} errors, p50 ${formatMs(summary.latency.p50)} ms, p95 ${formatMs(summary.latency.p95)} ms, p99 ${formatMs(summary.latency.p99)} ms`,
    )
  }
  let text = `${lines.join('\n')}\n`
  if (result.transaction && result.timeline.length > 0) text += `\n${formatTransaction(result.transaction)}`
  process.stdout.write(text)
  return 0
}

export async function abortCommand(positionals: string[], values: ParsedOptions): Promise<number> {
  const id = rushIdArgument(positionals)
  const api = remoteApi(values)
  if (api !== undefined) return apiAbort(api, id)
  await abortRush(connectFromOptions(values)!, id)
  process.stdout.write(`rush ${id} aborted\n`)
  return 0
}
