import { UsageError } from '../lib/errors.js'
import { createHistogram, decodeHistogram, mergeInto } from '../lib/histogram.js'
import { formatPattern, patternDuration } from '../lib/pattern.js'
import type { RequestSpec } from '../lib/request-spec.js'
import { summarize } from '../lib/summary.js'
import type { Threshold } from '../lib/thresholds.js'
import type { Point } from '../lib/timeline.js'
import type { ExtractSpec } from '../lib/transaction/extract.js'
import { stepName, type TransactionSpec } from '../lib/transaction/spec.js'
import { summarizeTransaction } from '../lib/transaction/summary.js'
import type { LoadJob } from '../load/job.js'
import { ApiClient, apiKey } from './api-client.js'
import type { ReportSeconds } from './exports.js'
import { integerOption, type ParsedOptions, stringOption } from './options.js'
import type { Progress } from './progress.js'
import type { Outcome } from './rush.js'

/** A request in v2's terms (the body as UTF-8 text, as the API takes it). */
function requestBody(request: RequestSpec): Record<string, unknown> {
  return {
    url: request.url,
    method: request.method,
    headers: request.headers,
    timeoutMs: request.timeoutMs,
    ...(request.bodyBase64 !== undefined && {
      body: Buffer.from(request.bodyBase64, 'base64').toString('utf8'),
    }),
    ...(request.expectStatus !== undefined && { expectStatus: request.expectStatus }),
  }
}

/**
 * A transaction in v2's terms (api/v2/schemas.ts `Transaction`): the scenario file's
 * extraction forms, the data file's rows inline, so the API needs no file of ours.
 */
export function transactionBody(transaction: TransactionSpec): Record<string, unknown> {
  const extract = (spec: ExtractSpec) =>
    spec.from === 'cookie'
      ? { cookie: spec.name, ...(spec.as !== undefined && { as: spec.as }) }
      : spec.from === 'header'
        ? { header: spec.name, as: spec.as }
        : spec.from === 'json'
          ? { json: spec.path, as: spec.as }
          : { regex: spec.pattern, as: spec.as }
  const { data } = transaction
  return {
    steps: transaction.steps.map((step) => ({
      ...(step.name !== undefined && { name: step.name }),
      request: requestBody(step.request),
      ...(step.extract && { extract: step.extract.map(extract) }),
      // Whole milliseconds, as the API's schema takes them.
      ...(step.think && {
        think: { minMs: Math.round(step.think.minMs), maxMs: Math.round(step.think.maxMs) },
      }),
      ...(step.followRedirects !== undefined && { follow: step.followRedirects }),
    })),
    ...(transaction.variables && { variables: transaction.variables }),
    ...(data && {
      data: { name: data.name, mode: data.mode, columns: data.table.columns, rows: data.table.rows },
    }),
  }
}

/** A rush's v2 body from the command line's job. */
export function rushBody(
  job: LoadJob,
  values: ParsedOptions,
  thresholds: Threshold[],
): Record<string, unknown> {
  const requests = job.transaction ? job.transaction.steps.map((step) => step.request) : [job.request]
  if (requests.some((request) => request.resolve || request.insecure))
    throw new UsageError('--resolve and --insecure are for local and --couch runs, not through the API')
  const regions = (stringOption(values, 'regions') ?? '')
    .split(',')
    .map((region) => region.trim())
    .filter(Boolean)
  const shardsPerRegion = integerOption(values, 'shards-per-region')
  return {
    ...(job.transaction
      ? { transaction: transactionBody(job.transaction) }
      : { request: requestBody(job.request) }),
    [job.model === 'rush' ? 'pattern' : 'rate']: formatPattern(job.pattern),
    ...(job.maxInFlight !== undefined && { maxInFlight: job.maxInFlight }),
    ...(job.pipelining !== undefined && { pipelining: job.pipelining }),
    ...(regions.length > 0 && { regions }),
    thresholds: thresholds.map((threshold) => threshold.source),
    ...(shardsPerRegion !== undefined && { shardsPerRegion }),
  }
}

/**
 * `stampede rush --api URL`: submits through the tenant API and follows its event stream
 * (resuming after a dropped connection); the seconds carry their histograms, so the
 * summary is merged here exactly as a --couch run merges it. Ctrl-C aborts the rush.
 */
export async function runThroughApi(
  url: string,
  job: LoadJob,
  values: ParsedOptions,
  thresholds: Threshold[],
  progress: Progress | undefined,
  interruptible: <T>(work: (signal: AbortSignal) => Promise<T>) => Promise<T>,
  seconds?: ReportSeconds,
): Promise<Outcome | string> {
  const client = new ApiClient(url, apiKey())
  const submitted = await client.call<{ id: string }>('POST', '/rushes', rushBody(job, values, thresholds))
  const id = submitted.id
  if (values.detach) return id
  process.stderr.write(`rush ${id} submitted through ${client.base}; Ctrl-C aborts it\n`)
  const timeline: Point[] = []
  const histogram = createHistogram()
  // A transaction's part histograms (the iterations', then each step's), merged from the stream.
  const names = job.transaction?.steps.map(stepName)
  const parts = names && Array.from({ length: names.length + 1 }, () => createHistogram())
  let interrupted = false
  const end = await interruptible(async (signal) => {
    signal.addEventListener('abort', () => {
      interrupted = true
      client.call('POST', `/rushes/${id}/abort`).catch(() => {})
    })
    return client.follow(
      id,
      (point, second, secondParts) => {
        timeline.push(point)
        mergeInto(histogram, second)
        secondParts?.forEach((part, index) => {
          if (parts?.[index]) mergeInto(parts[index], part)
        })
        progress?.second(point, second)
        // The merged seconds only: the stream carries no region's own (see docs/report.md).
        seconds?.second(point, second)
      },
      { signal },
    )
  })
  const rush = await client.call('GET', `/rushes/${id}?timeline=false`)
  const final = end ?? { state: rush.state, shards: rush.shards }
  if (end?.histogram && timeline.length === 0) {
    mergeInto(histogram, decodeHistogram(end.histogram))
    ;(end.parts as string[] | undefined)?.forEach((part, index) => {
      if (parts?.[index]) mergeInto(parts[index], decodeHistogram(part))
    })
  }
  const lost = (final.shards as { id: string; state: string; reason?: string }[]).filter(
    (shard) => shard.state !== 'done',
  )
  return {
    heading: {
      model: job.model,
      url: job.request.url,
      pattern: formatPattern(job.pattern),
      where: `rush ${id} through the API, ${rush.shards.length} shards in ${rush.regions.join(', ')}`,
      ...(job.pipelining !== undefined && { pipelining: job.pipelining }),
    },
    startedAt: rush.startAt,
    cutShort: timeline.length < patternDuration(job.pattern),
    interrupted,
    summary: summarize(timeline, histogram, timeline.length),
    thresholds: [],
    timeline,
    histogram,
    ...(names && parts && { transaction: summarizeTransaction(timeline, parts, names, timeline.length) }),
    ...(final.state !== 'done' && {
      unfinished: `rush ${id} ended ${final.state}: ${lost.map((shard) => `${shard.id} ${shard.state}${shard.reason ? ` (${shard.reason})` : ''}`).join(', ')}`,
    }),
  }
}
