import { createServer, type Socket } from 'node:net'
import type { TransactionSpec } from '../lib/transaction/spec.js'
import type { LoadModelName } from '../lib/workload.js'
import type { LoadJob } from './job.js'
import type { ModelObserver } from './model.js'
import { prepareJob } from './prepare.js'

/**
 * A load process's warm-up: short runs of the load path against a server of its own, in its
 * idle time before the first shard, so that the shard starts on optimized code.
 *
 * Why: a fresh process runs its first thousands of requests in V8's interpreter and baseline
 * code while the optimizing compiler works on background threads — which share the process's
 * core. Measured at 20,000 requests/s on one core (bench:open, `perf` per thread): in the
 * first 150–300 ms of a cold process's first run the compiler threads took 40–100% of the
 * core in every 10-ms window, the loop thread waited on V8's locks for up to 11 ms at a time,
 * and 2,400–4,700 requests went out more than 1 ms late. Several short runs, not one long one:
 * the end of a run (stop, close) takes paths the run did not, and after a single warm-up run
 * the hot functions deoptimized at its end and recompiled at the next run's start
 * (`--trace-deopt`); after three the next run starts with the compiler idle.
 *
 * The runs go only to this process's own server on 127.0.0.1 and are not recorded anywhere.
 * A job that arrives meanwhile stops the warm-up (`signal`): its requests in flight finish
 * within a millisecond on loopback.
 */
export interface WarmUpRound {
  model: LoadModelName
  /** Requests (or transactions) per second (arrival rate) or users (rush), at the start and at the end. */
  from: number
  to: number
  seconds: number
  /** Runs the warm-up's transaction (`WARM_UP_TRANSACTION`) instead of one request. */
  transaction?: boolean
}

/**
 * The first round ramps: both sides of a cold process answer slowly at first, and at full
 * rate at once the model opened ~900 connections in 0.3 s, some of which waited a second for
 * their accept (SYN retried) and timed out. The in-flight cap bounds the same in any round.
 * It starts low so that the open model also waits by timer (gaps over 1.5 ms), as a run at a
 * low rate does: code that only ever polled deoptimized at its first timer.
 */
export const WARM_UP_ROUNDS: readonly WarmUpRound[] = [
  { model: 'arrival-rate', from: 200, to: 20_000, seconds: 0.4 },
  { model: 'arrival-rate', from: 20_000, to: 20_000, seconds: 0.3 },
  { model: 'rush', from: 32, to: 32, seconds: 0.2 },
  { model: 'arrival-rate', from: 20_000, to: 20_000, seconds: 0.3 },
]
/**
 * The same for a transaction's code (templates, extraction, cookies, its own models), which a
 * single request's rounds never run: at 5,000 transactions/s (20,000 requests/s) a process
 * warmed by the single rounds alone started the transaction's open model with a p99 send lag
 * of 20 ms (bench:transaction), the compile pauses of a cold process.
 */
export const TRANSACTION_WARM_UP_ROUNDS: readonly WarmUpRound[] = [
  { model: 'arrival-rate', from: 100, to: 5_000, seconds: 0.4, transaction: true },
  { model: 'arrival-rate', from: 5_000, to: 5_000, seconds: 0.3, transaction: true },
  { model: 'rush', from: 32, to: 32, seconds: 0.2, transaction: true },
  { model: 'arrival-rate', from: 5_000, to: 5_000, seconds: 0.3, transaction: true },
]

/**
 * The rounds that warm the path `job` runs: a pool's process does not know its next job
 * and warms both (`undefined`); a command-line run warms only its own.
 */
export function warmUpRoundsFor(job?: Pick<LoadJob, 'transaction'>): readonly WarmUpRound[] {
  if (job === undefined) return [...WARM_UP_ROUNDS, ...TRANSACTION_WARM_UP_ROUNDS]
  return job.transaction ? TRANSACTION_WARM_UP_ROUNDS : WARM_UP_ROUNDS
}

/**
 * Each round joins its run this far into its pattern (a lead at one request or user a second,
 * skipped), so that the run's first second ends 100 ms into the round. Why: a run's hot
 * functions (the recorder's sent, wrote, hit) optimized in rounds shorter than a second had
 * never seen a second end, and deoptimized at the first second's end of the next real run
 * (`--trace-deopt`) — a pause at t = 1 s of every run.
 */
const WARM_UP_LEAD_SECONDS = 0.9

/** Most warm-up requests in flight at once: past it the model counts requests dropped. */
const WARM_UP_MAX_IN_FLIGHT = 256

export interface WarmUpReport {
  /** Requests answered by the warm-up's own server. */
  requests: number
  /**
   * Requests that failed or timed out (none expected: the caller logs them; they cost only
   * time, since a timed-out round waits for its timeout).
   */
  errors: number
  /** Rounds run to their end. */
  rounds: number
  /** Stopped by the signal (a job arrived) before the last round ended. */
  aborted: boolean
  ms: number
}

/**
 * The warm-up's transaction against the sink at `url` (ending in '/'): what a session of a
 * web application does — a login that sets a cookie and returns a token in JSON, a list
 * whose JSON gives the next step's id, a request with both, a logout.
 */
export function warmUpTransaction(url: string): TransactionSpec {
  const step = (
    path: string,
    extra: { method?: string; headers?: Record<string, string>; bodyBase64?: string } = {},
  ) => ({
    method: 'GET',
    url: `${url}${path}`,
    headers: {},
    timeoutMs: 1000,
    ...extra,
  })
  return {
    steps: [
      {
        name: 'login',
        request: step('login', {
          method: 'POST',
          bodyBase64: Buffer.from('user=warm&password=up').toString('base64'),
        }),
        extract: [
          { from: 'cookie', name: 'session' },
          { from: 'json', path: '$.token', as: 'token' },
        ],
      },
      {
        name: 'list',
        request: step('items', { headers: { authorization: 'Bearer #{token}' } }),
        extract: [{ from: 'json', path: '$.items[0].id', as: 'item' }],
      },
      { name: 'item', request: step('items/#{item}') },
      { name: 'logout', request: step('logout') },
    ],
  }
}

/** The job of one warm-up round against `url`: plain data, as a supervisor would send it. */
export function warmUpJob(round: WarmUpRound, url: string): LoadJob {
  const transaction = round.transaction ? warmUpTransaction(url) : undefined
  return {
    model: round.model,
    request: transaction
      ? transaction.steps[0]!.request
      : { method: 'GET', url, headers: {}, timeoutMs: 1000 },
    ...(transaction && { transaction }),
    pattern: [
      { start: 1, end: 1, duration: WARM_UP_LEAD_SECONDS },
      { start: round.from, end: round.to, duration: round.seconds },
    ],
    share: { index: 0, of: 1 },
    policy: { allowLoopback: true, allowPrivate: false },
    maxInFlight: WARM_UP_MAX_IN_FLIGHT,
  }
}

/**
 * `observer`: benchmarks only — the send-lag observer the measured run will have. The rounds
 * must run with it: optimized code that never saw it (an engine's never has one) deoptimized
 * at its first call in the measured run and compiled again on the pinned core
 * (`--trace-deopt`: `pump`, twice, and `answered`, "insufficient type feedback"), so the
 * benchmark measured ~15-ms stalls of its own making that no shard has.
 */
export async function warmUp(
  signal?: AbortSignal,
  rounds: readonly WarmUpRound[] = warmUpRoundsFor(),
  observer?: ModelObserver,
): Promise<WarmUpReport> {
  const began = performance.now()
  const report: WarmUpReport = { requests: 0, errors: 0, rounds: 0, aborted: false, ms: 0 }
  if (signal?.aborted) return { ...report, aborted: true }
  const sink = await startSink()
  try {
    for (const round of rounds) {
      const start = await prepareJob(
        warmUpJob(round, sink.url),
        (point) => {
          report.requests += point.hits
          for (const n of Object.values(point.errors)) report.errors += n
        },
        observer,
      )
      if (signal?.aborted) break
      // Joined in progress, past the lead: the round's own load starts at once.
      const running = start(performance.now() - WARM_UP_LEAD_SECONDS * 1000, true)
      const stop = () => running.stop()
      signal?.addEventListener('abort', stop, { once: true })
      await running.done
      signal?.removeEventListener('abort', stop)
      if (signal?.aborted) break
      report.rounds++
    }
  } finally {
    await sink.close()
  }
  report.aborted = signal?.aborted ?? false
  report.ms = performance.now() - began
  return report
}

/** A warm-up's report, or why it failed. */
export type WarmUpOutcome = WarmUpReport & { failed?: string }

/**
 * `warmUp` that never rejects: the warm-up is an optimization, and a failure leaves the
 * process as it was, cold (the caller logs `failed`).
 */
export async function warmUpOrStayCold(
  signal?: AbortSignal,
  rounds?: readonly WarmUpRound[],
): Promise<WarmUpOutcome> {
  try {
    return await warmUp(signal, rounds)
  } catch (err) {
    return {
      requests: 0,
      errors: 0,
      rounds: 0,
      aborted: false,
      ms: 0,
      failed: (err as Error).message ?? String(err),
    }
  }
}

/**
 * The warm-up's server: answers every request head it reads (a blank line ends one; the
 * warm-up's only body, the login's, holds no blank line) with a small response shaped like a
 * web application's: a cookie, and JSON that has the transaction's token and id. It answers
 * with a Content-Length and chunked by turns, as targets do (nginx's static files, Node's
 * and most application servers' answers): a run whose parser met only one of the two
 * deoptimized at its target's first answer of the other kind (`--trace-deopt`).
 */
// 42 bytes: its chunk size, 2a, has a letter, as most chunk sizes do.
const BODY = '{"token":"w4rm","items":[{"id":7}],"ok":1}'
const HEAD =
  'HTTP/1.1 200 OK\r\nServer: stampede-warm-up\r\nDate: Thu, 01 Jan 1970 00:00:00 GMT\r\n' +
  'Set-Cookie: session=w4rm; Path=/; HttpOnly\r\nContent-Type: application/json\r\n' +
  'Connection: keep-alive\r\n'
const ANSWERS = [
  Buffer.from(`${HEAD}Content-Length: ${BODY.length}\r\n\r\n${BODY}`),
  Buffer.from(`${HEAD}Transfer-Encoding: chunked\r\n\r\n${BODY.length.toString(16)}\r\n${BODY}\r\n0\r\n\r\n`),
]
const CR = 13
const LF = 10
async function startSink(): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>()
  let answered = 0
  const server = createServer({ noDelay: true }, (socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => socket.destroy())
    // How much of "\r\n\r\n" the bytes so far end with (heads may split across reads).
    let matched = 0
    socket.on('data', (chunk: Buffer) => {
      let heads = 0
      for (let i = 0; i < chunk.length; i++) {
        const byte = chunk[i]
        if (byte === (matched % 2 === 0 ? CR : LF)) {
          if (++matched === 4) {
            heads++
            matched = 0
          }
        } else matched = byte === CR ? 1 : 0
      }
      for (let i = 0; i < heads; i++) socket.write(ANSWERS[answered++ % ANSWERS.length]!)
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () => resolve())
  })
  const { port } = server.address() as { port: number }
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resolve())
      }),
  }
}
