import { Client, type Dispatcher } from 'undici'
import { StampedeError } from '../lib/errors.js'
import { classifyError } from './classify.js'
import { NetExchange } from './net-exchange.js'
import type { Recorder } from './recorder.js'
import type { Target } from './target.js'

/** An entry of the timeout queue: a request in flight, linked in send order. */
export interface Timed {
  /** The timeout queue's deadline passed: the request ends as a timeout. */
  expire(): void
  deadline: number
  prev: Timed | null
  next: Timed | null
}

/**
 * One connection and the one request on it at a time, as the load models drive it. Two
 * paths implement it: `Exchange` (undici, every case) and `NetExchange` (a lean
 * HTTP/1.1 client on `net`, plain http: only); `newExchange` picks.
 */
export interface LoadExchange extends Timed {
  /** Sends the request now; latency from `origin` when given (open model), else from the write. */
  send(now: number, origin?: number): void
  /** Opens the connection ahead of the first request, where the path can (the lean one). */
  preconnect?(): void
  /** Closes the connection (gracefully once the request in flight is done). */
  close(): void
  destroy(): void
  timedOut: boolean
  inFlight: boolean
  /** Wanted by its model: a user that is still part of the rush. */
  active: boolean
  /** Requests sent and not ended yet, where the path keeps several in flight (pipelining). */
  readonly outstanding?: number
}

/** What both load models share: where to send, what, and how to judge it. */
export interface ExchangeContext {
  target: Target
  recorder: ExchangeRecorder
  timeouts: Pick<TimeoutQueue, 'push' | 'remove'>
  request: Dispatcher.DispatchOptions
  /** Bytes one request puts on the wire. */
  requestBytes: number
  /**
   * The request's bytes for the lean path, null where undici must send it: a Buffer, or a
   * latin1 string (one character per byte: the transaction runtime's rendered requests).
   */
  wire: Buffer | string | null
  statusPassed: (status: number) => boolean
  /** Called when an exchange's request ended, whatever the outcome. */
  onDone(exchange: LoadExchange): void
  /**
   * Lean path only, for a caller that reads responses (the transaction runtime): the final
   * response's head, bytes [start, end) of `data` from the status line up to its last
   * header line, before the body is read. `data` may be the shared read buffer: copy what
   * you keep.
   */
  onHead?: ((data: Buffer, start: number, end: number) => void) | null
  /**
   * Lean path only: each header line of the final response, bytes [start, end) of `data`
   * without the line ending, in order, as the response reader walks them; copy what you keep.
   */
  onHeader?: ((data: Buffer, start: number, end: number) => void) | null
  /** Lean path only: body bytes [start, end) of `data`, chunk framing removed; copy what you keep. */
  onBody?: ((data: Buffer, start: number, end: number) => void) | null
}

/** What an exchange records: the Recorder's per-request calls. */
export type ExchangeRecorder = Pick<Recorder, 'sent' | 'wrote' | 'hit' | 'error' | 'timeout'>

/** The lean path where the request allows it (plain http:), undici otherwise. */
export function newExchange(context: ExchangeContext): LoadExchange {
  return context.wire ? new NetExchange(context) : new Exchange(context)
}

const TIMED_OUT = new StampedeError('STAMPEDE_TIMEOUT', 'request timed out')

/**
 * One connection and the one request on it at a time. It is its own undici handler
 * (the lower-level dispatch hooks): no promise, closure or object is allocated per
 * request on this path, which is what keeps CPU per request at autocannon's level.
 */
export class Exchange implements Dispatcher.DispatchHandler, LoadExchange {
  readonly #context: ExchangeContext
  #client: Client | null = null
  #abort: ((err?: Error) => void) | null = null
  /** Latency origin: when the request was sent, or (open model) when it was due. */
  #origin = 0
  #status = 0
  #rx = 0
  /** The request reached a connected socket: failures after this are not connect failures. */
  #connected = false
  #fromWrite = false
  timedOut = false
  inFlight = false
  /** Wanted by its model: a user that is still part of the rush. */
  active = false
  // Timeout queue links and deadline.
  deadline = 0
  prev: Timed | null = null
  next: Timed | null = null

  constructor(context: ExchangeContext) {
    this.#context = context
  }

  /**
   * Sends the request now. Latency counts from `origin` when given (the open model: when
   * the request was due), otherwise from when the request is written to a connected
   * socket, so opening a connection never counts as request latency (it is recorded on its
   * own as connect time).
   */
  send(now: number, origin?: number): void {
    const context = this.#context
    if (this.#client === null) {
      this.#client = new Client(context.target.origin, {
        connect: context.target.connect,
        // One request at a time per connection all the same (a user sends its next request
        // only once the last one ended). Above 1, undici writes the next request as soon as
        // it is queued instead of waiting a whole event-loop turn after every response.
        pipelining: 2,
        // Timeouts are ours (one queue for all requests): keep undici's timers off the path.
        headersTimeout: 0,
        bodyTimeout: 0,
      })
    }
    this.#fromWrite = origin === undefined
    this.#origin = origin ?? now
    this.#status = 0
    this.#rx = 0
    this.#abort = null
    this.#connected = false
    this.timedOut = false
    this.inFlight = true
    context.timeouts.push(this, now)
    context.recorder.sent(now)
    this.#client.dispatch(context.request, this)
  }

  /** Called by the timeout queue when the deadline passed. */
  expire(): void {
    this.timedOut = true
    // Before onConnect there is nothing to abort yet: onConnect aborts at once.
    if (this.#abort) this.#abort(TIMED_OUT)
  }

  /** Closes the connection (gracefully once the request in flight is done). */
  close(): void {
    const client = this.#client
    this.#client = null
    if (client) client.close().catch(() => {})
  }

  destroy(): void {
    const client = this.#client
    this.#client = null
    if (client) client.destroy().catch(() => {})
  }

  /** undici calls this when the request is about to be written on a connected socket. */
  onConnect(abort: (err?: Error) => void): void {
    this.#abort = abort
    this.#connected = true
    const now = performance.now()
    if (this.#fromWrite) this.#origin = now
    // Aborted here, undici writes nothing; otherwise the request goes onto the socket now.
    if (this.timedOut) abort(TIMED_OUT)
    else this.#context.recorder.wrote(now, this.#context.requestBytes)
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[]): boolean {
    this.#status = statusCode
    // Status line and the blank line after the headers, then each "name: value\r\n".
    let bytes = 19
    for (let i = 0; i < rawHeaders.length; i += 2)
      bytes += rawHeaders[i]!.length + rawHeaders[i + 1]!.length + 4
    this.#rx += bytes
    return true
  }

  onData(chunk: Buffer): boolean {
    this.#rx += chunk.length
    return true
  }

  onComplete(): void {
    const context = this.#context
    const now = performance.now()
    context.timeouts.remove(this)
    this.inFlight = false
    if (this.timedOut) context.recorder.timeout(now, this.#rx)
    else {
      const status = this.#status
      context.recorder.hit(now, (now - this.#origin) * 1000, status, this.#rx, context.statusPassed(status))
    }
    context.onDone(this)
  }

  onError(err: Error): void {
    const context = this.#context
    const now = performance.now()
    context.timeouts.remove(this)
    this.inFlight = false
    if (this.timedOut || (err as { code?: string }).code === 'UND_ERR_CONNECT_TIMEOUT') {
      context.recorder.timeout(now, this.#rx)
    } else {
      context.recorder.error(now, classifyError(err, this.#connected), this.#rx)
    }
    // undici is still failing its queue when it calls onError: dispatching the next
    // request from here would land in that queue, so hand back once it is done.
    queueMicrotask(() => context.onDone(this))
  }

  onUpgrade(): void {}
  onBodySent(): void {}
  onResponseStarted(): void {}
}

/**
 * In-flight requests in the order they were sent. With one timeout for the whole run
 * that is also deadline order, so expiring is popping from the head: O(1) per request,
 * one timer for the process.
 */
export class TimeoutQueue {
  readonly #timeoutMs: number
  #head: Timed | null = null
  #tail: Timed | null = null
  #timer: NodeJS.Timeout

  constructor(timeoutMs: number) {
    this.#timeoutMs = timeoutMs
    const sweepEvery = Math.max(5, Math.min(50, Math.floor(timeoutMs / 20)))
    this.#timer = setInterval(() => this.sweep(performance.now()), sweepEvery)
  }

  push(exchange: Timed, now: number): void {
    exchange.deadline = now + this.#timeoutMs
    exchange.next = null
    exchange.prev = this.#tail
    if (this.#tail) this.#tail.next = exchange
    else this.#head = exchange
    this.#tail = exchange
  }

  remove(exchange: Timed): void {
    if (exchange.deadline === 0) return
    exchange.deadline = 0
    if (exchange.prev) exchange.prev.next = exchange.next
    else this.#head = exchange.next
    if (exchange.next) exchange.next.prev = exchange.prev
    else this.#tail = exchange.prev
    exchange.prev = exchange.next = null
  }

  sweep(now: number): void {
    let head = this.#head
    while (head !== null && head.deadline <= now) {
      this.remove(head)
      head.expire()
      head = this.#head
    }
  }

  close(): void {
    clearInterval(this.#timer)
  }
}
