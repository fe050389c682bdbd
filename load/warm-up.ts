import { createServer, type Socket } from 'node:net'
import type { LoadModelName } from '../lib/workload.js'
import type { LoadJob } from './job.js'
import { prepareModel } from './model.js'
import { MODELS } from './models.js'

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
  /** Requests per second (arrival rate) or users (rush), at the start and at the end. */
  from: number
  to: number
  seconds: number
}

/**
 * The first round ramps: both sides of a cold process answer slowly at first, and at full
 * rate at once the model opened ~900 connections in 0.3 s, some of which waited a second for
 * their accept (SYN retried) and timed out. The in-flight cap bounds the same in any round.
 */
export const WARM_UP_ROUNDS: readonly WarmUpRound[] = [
  { model: 'arrival-rate', from: 2_000, to: 20_000, seconds: 0.4 },
  { model: 'arrival-rate', from: 20_000, to: 20_000, seconds: 0.3 },
  { model: 'rush', from: 32, to: 32, seconds: 0.2 },
  { model: 'arrival-rate', from: 20_000, to: 20_000, seconds: 0.3 },
]
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

/** The job of one warm-up round against `url`: plain data, as a supervisor would send it. */
export function warmUpJob(round: WarmUpRound, url: string): LoadJob {
  return {
    model: round.model,
    request: { method: 'GET', url, headers: {}, timeoutMs: 1000 },
    pattern: [{ start: round.from, end: round.to, duration: round.seconds }],
    share: { index: 0, of: 1 },
    policy: { allowLoopback: true, allowPrivate: false },
    maxInFlight: WARM_UP_MAX_IN_FLIGHT,
  }
}

export async function warmUp(
  signal?: AbortSignal,
  rounds: readonly WarmUpRound[] = WARM_UP_ROUNDS,
): Promise<WarmUpReport> {
  const began = performance.now()
  const report: WarmUpReport = { requests: 0, errors: 0, rounds: 0, aborted: false, ms: 0 }
  if (signal?.aborted) return { ...report, aborted: true }
  const sink = await startSink()
  try {
    for (const round of rounds) {
      const start = await prepareModel(warmUpJob(round, sink.url), MODELS[round.model], (point) => {
        report.requests += point.hits
        for (const n of Object.values(point.errors)) report.errors += n
      })
      if (signal?.aborted) break
      const running = start(performance.now() + 10)
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

/**
 * The warm-up's server: answers every request head it reads (a blank line ends one; the
 * warm-up sends no bodies) with a small fixed response shaped like a web server's.
 */
const ANSWER = Buffer.from(
  'HTTP/1.1 200 OK\r\nServer: stampede-warm-up\r\nDate: Thu, 01 Jan 1970 00:00:00 GMT\r\n' +
    'Content-Type: text/plain\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok',
)
const CR = 13
const LF = 10

async function startSink(): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>()
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
      for (let i = 0; i < heads; i++) socket.write(ANSWER)
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
