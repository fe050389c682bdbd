import { closeSync, openSync, writeSync } from 'node:fs'
import { UsageError } from '../lib/errors.js'
import { formatPattern, parsePattern, patternDuration, WHOLE } from '../lib/pattern.js'
import { evaluateThresholds, parseThreshold } from '../lib/thresholds.js'
import { DEFAULT_MAX_IN_FLIGHT, type LoadJob } from '../load/job.js'
import { runLoad } from '../load/run.js'
import { LOCAL_POLICY } from '../load/safety.js'
import { type CommandSpec, integerOption, listOption, type ParsedOptions, stringOption } from './options.js'
import { Progress } from './progress.js'
import { formatSummary, formatThresholds, runReportJson } from './report.js'
import { REQUEST_OPTIONS, requestSpecFromOptions } from './request-options.js'

export const RUSH: CommandSpec = {
  name: 'rush',
  usage: 'stampede rush URL (--pattern PATTERN | --rate PATTERN) [options]',
  tagline: 'ramp concurrent users or an arrival rate against URL; report, judge thresholds',
  summary:
    'Load URL with a ramped number of concurrent users (--pattern, closed model: each user sends,\n' +
    'waits for the answer, sends again) or a ramped arrival rate (--rate, open model: requests\n' +
    'are sent on schedule whether or not earlier ones answered; latency counts from the time a\n' +
    'request was due). Prints live progress and a summary; thresholds set the exit code.',
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
    ...REQUEST_OPTIONS,
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
    {
      name: 'workers',
      short: 'w',
      type: 'string',
      value: 'N|auto',
      description:
        'load processes; 0 runs in this process (default auto: every core, more for many connections)',
    },
    { name: 'quiet', short: 'q', type: 'boolean', description: 'no live progress' },
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
    'Exit status: 0 done and every threshold passed, 99 a threshold failed, 2 bad usage or a',
    'refused target, 1 the run could not be done, 130 interrupted.',
    '',
    'Examples:',
    '  stampede rush http://127.0.0.1:8080/ --pattern 1-250:60 --threshold "p95<500ms"',
    '  stampede rush https://example.test/api --rate 100-2000:60,2000:60 -T "errors<1%" --json out.json',
  ].join('\n'),
}

function workersOption(values: ParsedOptions): number | 'auto' {
  const text = stringOption(values, 'workers') ?? 'auto'
  if (text === 'auto') return 'auto'
  const count = integerOption(values, 'workers')!
  return count
}

export function jobFromOptions(positionals: string[], values: ParsedOptions): LoadJob {
  if (positionals.length > 1)
    throw new UsageError(`expected one URL, got ${positionals.length}: ${positionals.join(' ')}`)
  const request = requestSpecFromOptions(positionals[0], values)
  const users = stringOption(values, 'pattern')
  const rate = stringOption(values, 'rate')
  if ((users === undefined) === (rate === undefined))
    throw new UsageError('give exactly one of --pattern (users) or --rate (requests per second)')
  const maxInFlight = integerOption(values, 'max-in-flight')
  if (maxInFlight !== undefined && rate === undefined)
    throw new UsageError('--max-in-flight goes with --rate')
  if (maxInFlight === 0) throw new UsageError('--max-in-flight must be at least 1')
  const job: LoadJob = {
    model: users !== undefined ? 'rush' : 'arrival-rate',
    request,
    pattern: users !== undefined ? parsePattern(users) : parsePattern(rate!, 'rate'),
    share: WHOLE,
    policy: LOCAL_POLICY,
  }
  if (maxInFlight !== undefined) job.maxInFlight = maxInFlight
  return job
}

function openOutput(file: string): number {
  try {
    return openSync(file, 'w')
  } catch (err) {
    throw new UsageError(`cannot write --json ${file}: ${(err as NodeJS.ErrnoException).code ?? err}`)
  }
}

/** `stampede rush`: returns the exit code. */
export async function rushCommand(positionals: string[], values: ParsedOptions): Promise<number> {
  const job = jobFromOptions(positionals, values)
  const thresholds = listOption(values, 'threshold').map(parseThreshold)
  const jsonFile = stringOption(values, 'json')
  // Open the JSON file before the run: a bad path must fail now, not lose the results later.
  const jsonFd = jsonFile !== undefined && jsonFile !== '-' ? openOutput(jsonFile) : undefined
  const workers = workersOption(values)
  const summaryOut = jsonFile === '-' ? process.stderr : process.stdout
  const progress = values.quiet ? undefined : new Progress(process.stderr, patternDuration(job.pattern))

  const interrupt = new AbortController()
  const onSignal = () => interrupt.abort()
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  const startedAt = new Date().toISOString()
  let result: Awaited<ReturnType<typeof runLoad>>
  try {
    result = await runLoad(job, {
      workers,
      signal: interrupt.signal,
      onSecond: progress ? (point, histogram) => progress.second(point, histogram) : undefined,
    })
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    progress?.done()
  }

  const heading = {
    model: job.model,
    url: job.request.url,
    pattern: formatPattern(job.pattern),
    workers: result.workers,
  }
  const results = evaluateThresholds(thresholds, result.summary)
  summaryOut.write(formatSummary(heading, result.summary, result.cutShort))
  const verdict = formatThresholds(results)
  if (verdict) summaryOut.write(`\n${verdict}`)
  if (jsonFile !== undefined) {
    const json = `${JSON.stringify(
      runReportJson({
        heading,
        startedAt,
        cutShort: result.cutShort,
        summary: result.summary,
        thresholds: results,
        timeline: result.timeline,
        histogram: result.histogram,
      }),
      null,
      2,
    )}\n`
    if (jsonFd === undefined) process.stdout.write(json)
    else {
      writeSync(jsonFd, json)
      closeSync(jsonFd)
    }
  }
  if (result.cutShort) return 130
  return results.every((r) => r.passed) ? 0 : 99
}
