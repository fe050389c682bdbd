import { closeSync, openSync, writeSync } from 'node:fs'
import { abortRush, submitRush, watchRush } from '../lib/couch/rushes.js'
import { UsageError } from '../lib/errors.js'
import { formatPattern, parsePattern, patternDuration, WHOLE } from '../lib/pattern.js'
import { MAX_PIPELINING, pipeliningRefusal } from '../lib/pipelining.js'
import { evaluateThresholds, parseThreshold, type Threshold } from '../lib/thresholds.js'
import { stepSummaries, summarizeTransaction, type TransactionSummary } from '../lib/transaction/summary.js'
import { DEFAULT_MAX_IN_FLIGHT } from '../lib/workload.js'
import type { LoadJob } from '../load/job.js'
import { runLoad } from '../load/run.js'
import { LOCAL_POLICY } from '../load/safety.js'
import { API_OPTION, remoteApi } from './api-options.js'
import { runThroughApi } from './api-run.js'
import { COUCH_NOTES, COUCH_OPTIONS, connectFromOptions, couchUrlOption } from './couch-options.js'
import { EXPORT_OPTIONS, Exports, ReportSeconds } from './exports.js'
import { type CommandSpec, integerOption, listOption, type ParsedOptions, stringOption } from './options.js'
import { Progress } from './progress.js'
import { formatSummary, formatThresholds, type RunReport, runReportJson } from './report.js'
import { REQUEST_OPTIONS, requestSpecFromOptions } from './request-options.js'
import {
  isTransaction,
  STEP_OPTIONS,
  TRANSACTION_NOTES,
  TRANSACTION_OPTIONS,
  transactionFromOptions,
} from './transaction-options.js'
import { formatTransaction, transactionJson } from './transaction-report.js'

export const RUSH: CommandSpec = {
  name: 'rush',
  usage: 'stampede rush URL (--pattern PATTERN | --rate PATTERN) [options]',
  tagline: 'ramp concurrent users or an arrival rate against URL; report, judge thresholds',
  summary:
    'Load URL with a ramped number of concurrent users (--pattern, closed model: each user sends,\n' +
    'waits for the answer, sends again) or a ramped arrival rate (--rate, open model: requests\n' +
    'are sent on schedule whether or not earlier ones answered; latency counts from the time a\n' +
    'request was due). Prints live progress and a summary; thresholds set the exit code.\n' +
    'Without --couch the load runs on this machine; with --couch it is submitted to the\n' +
    "appliance's engines in --regions, and the merged results stream back.",
  options: [
    {
      name: 'pattern',
      short: 'p',
      type: 'string',
      value: 'PATTERN',
      description: 'concurrent users, e.g. 1-250:60,250:30',
    },
    {
      name: 'rate',
      short: 'r',
      type: 'string',
      value: 'PATTERN',
      description: 'requests per second, e.g. 100-2000:60',
    },
    {
      name: 'max-in-flight',
      type: 'string',
      value: 'N',
      description: `with --rate: most requests in flight; later ones are dropped and counted (default ${DEFAULT_MAX_IN_FLIGHT})`,
    },
    {
      name: 'pipelining',
      type: 'string',
      value: 'N',
      description: `with --pattern: each user keeps up to N requests in flight on its connection (HTTP/1.1 pipelining, plain http: only; 1 to ${MAX_PIPELINING}, default 1: off)`,
    },
    ...REQUEST_OPTIONS,
    ...STEP_OPTIONS,
    ...TRANSACTION_OPTIONS,
    {
      name: 'threshold',
      short: 'T',
      type: 'string',
      multiple: true,
      value: 'EXPR',
      description: 'pass/fail criterion, e.g. p95<500ms, errors<1%',
    },
    {
      name: 'json',
      type: 'string',
      value: 'FILE',
      description: 'write the summary and timeline as JSON to FILE (- for stdout)',
    },
    ...EXPORT_OPTIONS,
    {
      name: 'workers',
      short: 'w',
      type: 'string',
      value: 'N|auto',
      description:
        'local load processes; 0 runs in this process (default auto: every core, more for many connections)',
    },
    {
      name: 'no-warm-up',
      type: 'boolean',
      description:
        'local runs: start at once, without warming the load path up first (~1.5 s; also STAMPEDE_WARM_UP=0)',
    },
    { name: 'quiet', short: 'q', type: 'boolean', description: 'no live progress' },
    ...COUCH_OPTIONS,
    API_OPTION,
    {
      name: 'regions',
      type: 'string',
      value: 'LIST',
      description: 'with --couch or --api: regions to load from, comma-separated (e.g. us-east-1,eu-west-1)',
    },
    {
      name: 'shards-per-region',
      type: 'string',
      value: 'N',
      description: 'with --couch or --api: engines per region (default: one per 2,000 connections)',
    },
    {
      name: 'detach',
      type: 'boolean',
      description: 'with --couch or --api: submit, print the rush id and return',
    },
    { name: 'help', short: 'h', type: 'boolean', description: 'show this help' },
  ],
  notes: [
    'Patterns: comma-separated intervals START-END:DURATION (a linear ramp) or LEVEL:DURATION (a',
    'plateau); durations in seconds, or with a unit: 250ms, 30s, 2m.',
    '',
    'Thresholds: METRIC OP VALUE with OP one of < <= > >=. Latency metrics (min, mean, p50, p90,',
    'p95, p99, p99.9, max) take ms (default), s or us; errors, timeouts and dropped take a count or',
    'a percentage of requests; hits and hits/s take a number. Errors count every failed request:',
    'connection, TLS, parse and socket errors, timeouts and responses outside --expect-status.',
    '',
    TRANSACTION_NOTES,
    '',
    COUCH_NOTES,
    '',
    'Exit status: 0 done and every threshold passed, 99 a threshold failed, 2 bad usage or a',
    'refused target, 1 the run could not be done (or, with --couch, did not finish), 130 interrupted.',
    '',
    'Examples:',
    '  stampede rush http://127.0.0.1:8080/ --pattern 1-250:60 --threshold "p95<500ms"',
    '  stampede rush https://example.test/api --rate 100-2000:60,2000:60 -T "errors<1%" --json out.json',
    '  stampede rush https://example.test/ -p 1-5000:120 --couch https://couch.example.test:6984 \\',
    '    --regions us-east-1,eu-west-1',
  ].join('\n'),
}

/** Options of a run on this machine, and why a remote run has no use for them. */
const LOCAL_ONLY = [
  ['workers', 'with --couch or --api the engines decide'],
  ['no-warm-up', "with --couch or --api the engines' load processes warm up while idle"],
] as const

/**
 * Local runs warm their load path up before second 0 unless told not to (`--no-warm-up`, or
 * STAMPEDE_WARM_UP=0 as for engines). Measured (bench:accuracy, 100 users against a 50 ms
 * target): a cold process's p99 was 60–62 ms in its first two seconds and 52–54 ms after.
 */
export function warmUpWanted(values: ParsedOptions, env: NodeJS.ProcessEnv): boolean {
  return values['no-warm-up'] !== true && !/^(0|false|no)$/i.test(env.STAMPEDE_WARM_UP ?? '')
}

function workersOption(values: ParsedOptions): number | 'auto' {
  const text = stringOption(values, 'workers') ?? 'auto'
  return text === 'auto' ? 'auto' : integerOption(values, 'workers')!
}

export function jobFromOptions(positionals: string[], values: ParsedOptions, argv: string[] = []): LoadJob {
  // Several URLs, step options or a scenario: a transaction (cli/transaction-options.ts).
  const transaction = isTransaction(positionals, values)
    ? transactionFromOptions(RUSH, argv, positionals, values)
    : undefined
  const request = transaction ? transaction.steps[0]!.request : requestSpecFromOptions(positionals[0], values)
  const users = stringOption(values, 'pattern')
  const rate = stringOption(values, 'rate')
  if ((users === undefined) === (rate === undefined)) {
    throw new UsageError('give exactly one of --pattern (users) or --rate (requests per second)')
  }
  const maxInFlight = integerOption(values, 'max-in-flight')
  if (maxInFlight !== undefined && rate === undefined)
    throw new UsageError('--max-in-flight goes with --rate')
  if (maxInFlight === 0) throw new UsageError('--max-in-flight must be at least 1')
  const pipelining = integerOption(values, 'pipelining')
  if (pipelining !== undefined) {
    const refusal = pipeliningRefusal({
      model: users !== undefined ? 'rush' : 'arrival-rate',
      pipelining,
      transaction: transaction !== undefined,
      url: request.url,
      headers: request.headers,
    })
    if (refusal) throw new UsageError(`--${refusal}`)
  }
  const job: LoadJob = {
    model: users !== undefined ? 'rush' : 'arrival-rate',
    request,
    pattern: users !== undefined ? parsePattern(users) : parsePattern(rate!, 'rate'),
    share: WHOLE,
    policy: LOCAL_POLICY,
  }
  if (maxInFlight !== undefined) job.maxInFlight = maxInFlight
  if (pipelining !== undefined && pipelining > 1) job.pipelining = pipelining
  if (transaction) job.transaction = transaction
  return job
}

/** A transaction's names of steps, in order. */
function stepNamesOf(job: LoadJob): string[] {
  return (job.transaction?.steps ?? []).map((step, index) => step.name ?? `step${index + 1}`)
}

function openOutput(file: string): number {
  try {
    return openSync(file, 'w')
  } catch (err) {
    throw new UsageError(`cannot write --json ${file}: ${(err as NodeJS.ErrnoException).code ?? err}`)
  }
}

/** Ctrl-C and SIGTERM abort the signal while `work` runs. */
export async function interruptible<T>(work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const interrupt = new AbortController()
  const onSignal = () => interrupt.abort()
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  try {
    return await work(interrupt.signal)
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}

/** A finished run, wherever it ran, and why it may not count as done. */
export type Outcome = RunReport & {
  unfinished?: string
  interrupted?: boolean
  transaction?: TransactionSummary
}

async function runHere(
  job: LoadJob,
  values: ParsedOptions,
  progress: Progress | undefined,
  seconds: ReportSeconds | undefined,
): Promise<Outcome> {
  const startedAt = new Date().toISOString()
  const warmUp = warmUpWanted(values, process.env)
  if (warmUp) progress?.status('warming up the load path (--no-warm-up skips it)')
  const result = await interruptible((signal) =>
    runLoad(job, {
      workers: workersOption(values),
      signal,
      warmUp,
      onWarmedUp: (outcome, index) => {
        // Not an error: that process runs cold, its first seconds slower than they could be.
        if (outcome.failed)
          process.stderr.write(`stampede: load process ${index} did not warm up: ${outcome.failed}\n`)
      },
      onSecond:
        progress || seconds
          ? (point, histogram) => {
              progress?.second(point, histogram)
              seconds?.second(point, histogram)
            }
          : undefined,
    }),
  )
  const where = result.workers === 0 ? 'in process' : `${result.workers} load processes`
  return {
    heading: {
      model: job.model,
      url: job.request.url,
      pattern: formatPattern(job.pattern),
      where,
      ...(job.pipelining !== undefined && { pipelining: job.pipelining }),
    },
    startedAt,
    cutShort: result.cutShort,
    interrupted: result.cutShort,
    summary: result.summary,
    thresholds: [],
    timeline: result.timeline,
    histogram: result.histogram,
    ...(job.transaction &&
      result.parts && {
        transaction: summarizeTransaction(
          result.timeline,
          result.parts,
          stepNamesOf(job),
          result.summary.duration,
        ),
      }),
  }
}

async function runThroughCouch(
  job: LoadJob,
  values: ParsedOptions,
  thresholds: Threshold[],
  progress: Progress | undefined,
  seconds: ReportSeconds | undefined,
): Promise<Outcome | string> {
  const regions = (stringOption(values, 'regions') ?? '')
    .split(',')
    .map((region) => region.trim())
    .filter(Boolean)
  if (regions.length === 0) throw new UsageError('with --couch, give --regions (comma-separated)')
  const shardsPerRegion = integerOption(values, 'shards-per-region')
  if (shardsPerRegion === 0) throw new UsageError('--shards-per-region must be at least 1')
  const couch = connectFromOptions(values)!
  const id = await submitRush(couch, {
    model: job.model,
    request: job.request,
    ...(job.transaction && { transaction: job.transaction }),
    pattern: job.pattern,
    regions,
    thresholds: thresholds.map((threshold) => threshold.source),
    ...(job.maxInFlight !== undefined && { maxInFlight: job.maxInFlight }),
    ...(job.pipelining !== undefined && { pipelining: job.pipelining }),
    ...(shardsPerRegion !== undefined && { shardsPerRegion }),
  })
  if (values.detach) return id
  seconds?.setRegions(regions)
  process.stderr.write(`rush ${id} submitted to ${regions.join(', ')}; Ctrl-C aborts it\n`)
  let interrupted = false
  const result = await interruptible(async (signal) => {
    signal.addEventListener('abort', () => {
      interrupted = true
      abortRush(couch, id, 'interrupted from the command line').catch(() => {})
    })
    return watchRush(
      couch,
      id,
      (point, histogram) => {
        progress?.second(point, histogram)
        seconds?.second(point, histogram)
      },
      { signal, ...(seconds && regions.length > 1 && { onRegionPoint: seconds.regionSecond }) },
    )
  })
  const shards = result.shards.length
  const planned = patternDuration(job.pattern)
  // Not an error (every second of every shard ran and is reported), but the timeline is
  // longer than the pattern and the rush's ramp is not the one asked: say why.
  for (const shard of result.shards) {
    if (shard.startShift)
      process.stderr.write(
        `stampede: ${shard._id} (${shard.region}) started its pattern ${shard.startShift} s after second 0: its engine's load was ready late\n`,
      )
  }
  const lost = result.shards.filter((shard) => shard.state !== 'done')
  return {
    heading: {
      model: job.model,
      url: job.request.url,
      pattern: formatPattern(job.pattern),
      where: `rush ${id}, ${shards} shards in ${regions.join(', ')}`,
      ...(job.pipelining !== undefined && { pipelining: job.pipelining }),
    },
    startedAt: new Date(result.rush.startAt).toISOString(),
    cutShort: result.timeline.length < planned,
    interrupted,
    summary: result.summary,
    thresholds: [],
    timeline: result.timeline,
    histogram: result.histogram,
    ...(result.transaction && { transaction: result.transaction }),
    ...(result.state !== 'done' && {
      unfinished: `rush ${id} ended ${result.state}: ${lost.map((shard) => `${shard._id} ${shard.state}${shard.reason ? ` (${shard.reason})` : ''}`).join(', ')}`,
    }),
  }
}

/** `stampede rush`: returns the exit code. */
export async function rushCommand(
  positionals: string[],
  values: ParsedOptions,
  argv: string[] = [],
): Promise<number> {
  const job = jobFromOptions(positionals, values, argv)
  const thresholds = listOption(values, 'threshold').map(parseThreshold)
  const names = stepNamesOf(job)
  for (const threshold of thresholds) {
    if (threshold.step !== undefined && !names.includes(threshold.step))
      throw new UsageError(
        `threshold "${threshold.source}": no step named ${threshold.step}${names.length > 0 ? ` (steps: ${names.join(', ')})` : ' (this rush has no steps)'}`,
      )
  }
  const jsonFile = stringOption(values, 'json')
  const api = remoteApi(values)
  const remote = api !== undefined || couchUrlOption(values) !== undefined
  for (const option of ['regions', 'shards-per-region', 'detach']) {
    if (!remote && values[option] !== undefined)
      throw new UsageError(`--${option} goes with --couch or --api`)
  }
  for (const [option, why] of LOCAL_ONLY) {
    if (remote && values[option] !== undefined) throw new UsageError(`--${option} is for local runs: ${why}`)
  }
  // Open the JSON file before the run: a bad path must fail now, not lose the results later.
  const jsonFd = jsonFile !== undefined && jsonFile !== '-' ? openOutput(jsonFile) : undefined
  const summaryOut = jsonFile === '-' ? process.stderr : process.stdout
  if (values.detach && EXPORT_OPTIONS.some((option) => values[option.name] !== undefined)) {
    throw new UsageError('--detach returns before any result: use stampede status RUSH-ID --report … later')
  }
  const exports = new Exports(values)
  const seconds = exports.wanted ? new ReportSeconds() : undefined
  const progress = values.quiet ? undefined : new Progress(process.stderr, patternDuration(job.pattern))

  let outcome: Outcome | string
  try {
    outcome =
      api !== undefined
        ? await runThroughApi(api, job, values, thresholds, progress, interruptible, seconds)
        : remote
          ? await runThroughCouch(job, values, thresholds, progress, seconds)
          : await runHere(job, values, progress, seconds)
  } catch (err) {
    exports.abandon()
    throw err
  } finally {
    progress?.done()
  }
  if (typeof outcome === 'string') {
    process.stdout.write(`${outcome}\n`)
    return 0
  }

  outcome.thresholds = evaluateThresholds(
    thresholds,
    outcome.summary,
    outcome.transaction && stepSummaries(outcome.transaction),
  )
  summaryOut.write(formatSummary(outcome.heading, outcome.summary, outcome.cutShort))
  if (outcome.transaction) summaryOut.write(`\n${formatTransaction(outcome.transaction)}`)
  const verdict = formatThresholds(outcome.thresholds)
  if (verdict) summaryOut.write(`\n${verdict}`)
  if (jsonFile !== undefined) {
    const report = {
      ...runReportJson(outcome),
      ...(outcome.transaction && { transaction: transactionJson(outcome.transaction) }),
    }
    const json = `${JSON.stringify(report, null, 2)}\n`
    if (jsonFd === undefined) process.stdout.write(json)
    else {
      writeSync(jsonFd, json)
      closeSync(jsonFd)
    }
  }
  if (seconds) {
    exports.write(
      seconds.build({
        ...outcome.heading,
        startedAt: outcome.startedAt,
        cutShort: outcome.cutShort,
        ...(outcome.unfinished !== undefined && { unfinished: outcome.unfinished }),
        summary: outcome.summary,
        thresholds: outcome.thresholds,
        ...(outcome.transaction && { transaction: outcome.transaction }),
      }),
    )
  }
  if (outcome.interrupted) return 130
  if (outcome.unfinished) {
    process.stderr.write(`stampede: ${outcome.unfinished}\n`)
    return 1
  }
  return outcome.thresholds.every((result) => result.passed) ? 0 : 99
}
