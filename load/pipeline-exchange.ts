import type { Socket } from 'node:net'
import { classifyError } from './classify.js'
import type { ExchangeContext, LoadExchange, Timed } from './exchange.js'
import { PlainConnection } from './plain-connection.js'
import { INVALID, MORE, ResponseParser } from './response-parser.js'

const CLOSED = Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' })

/** One request on a pipelined connection: its own latency origin, bytes read and timeout. */
class Pipelined implements Timed {
  readonly #owner: PipelineExchange
  origin = 0
  fromWrite = false
  written = false
  rx = 0
  timedOut = false
  deadline = 0
  prev: Timed | null = null
  next: Timed | null = null

  constructor(owner: PipelineExchange) {
    this.#owner = owner
  }

  expire(): void {
    this.timedOut = true
    this.#owner.expired()
  }
}

/**
 * HTTP/1.1 pipelining (`--pipelining N`) on the lean path: one user's connection with up
 * to N requests in flight, each written as soon as it is sent (the model keeps N sent),
 * the responses read in order. Every request has its own latency (from its own write to
 * its own response's end) and its own timeout. A connection that fails takes every request
 * outstanding on it along, each counted once: as an error of the failure's kind, or as a
 * timeout when a request's timeout ended the connection (the ones behind it waited behind
 * it; a pipelined connection cannot skip a response). The next send opens a new one.
 * Bytes, the address policy and errors by kind are recorded as on the one-request path.
 */
export class PipelineExchange extends PlainConnection implements LoadExchange {
  readonly #parser: ResponseParser
  /** Requests sent on this connection whose responses have not ended, oldest first. */
  #line: Pipelined[] = []
  /** Requests that failed with their connection, whose ends the model has not been told yet. */
  #owed = 0
  readonly #spare: Pipelined[] = []
  timedOut = false
  inFlight = false
  active = false
  deadline = 0
  prev: Timed | null = null
  next: Timed | null = null

  constructor(context: ExchangeContext) {
    super(context)
    this.#parser = new ResponseParser(context.request.method)
  }

  get outstanding(): number {
    return this.#line.length + this.#owed
  }

  send(now: number, origin?: number): void {
    const context = this.context
    const request = this.#spare.pop() ?? new Pipelined(this)
    request.fromWrite = origin === undefined
    request.origin = origin ?? now
    request.written = false
    request.rx = 0
    request.timedOut = false
    this.#line.push(request)
    this.inFlight = true
    context.timeouts.push(request, now)
    context.recorder.sent(now)
    if (this.open) this.#write(request, now)
    else if (this.socket === null) this.connect()
  }

  protected override connect(): void {
    this.#parser.reset()
    super.connect()
  }

  protected read(buf: Buffer, n: number, socket: Socket): void {
    // The requests sent while reading (one per response ended) go out in one write.
    socket.cork()
    this.#read(buf, n)
    socket.uncork()
  }

  protected accepted(): void {
    const now = performance.now()
    const socket = this.socket!
    socket.cork()
    for (const request of this.#line) if (!request.written) this.#write(request, now)
    socket.uncork()
  }

  protected failed(err: Error, connected: boolean): void {
    this.#failAll(err, connected)
  }

  #write(request: Pipelined, now: number): void {
    const context = this.context
    if (request.fromWrite) request.origin = now
    request.written = true
    context.recorder.wrote(now, context.requestBytes)
    this.writeWire(context.wire!)
  }

  /** The connection ended: a body read to the close is complete, everything else failed. */
  protected ended(): void {
    if (this.#line.length > 0 && this.#parser.untilClose) {
      // Complete: the requests behind it fail with it (closeAfter), then the model goes on.
      this.drop()
      this.#complete()
    } else if (this.#line.length > 0) this.#failAll(CLOSED, this.open)
    else this.drop()
  }

  /** The connection failed: every request outstanding on it ends, each counted once. */
  #failAll(err: Error, connected: boolean): void {
    this.drop()
    const failed = this.#line
    if (failed.length === 0) return
    this.#line = []
    this.inFlight = false
    const context = this.context
    const now = performance.now()
    // A timeout ended the connection: the requests behind the late one waited on it.
    const timedOut = failed.some((request) => request.timedOut)
    const kind = classifyError(err, connected)
    for (const request of failed) {
      context.timeouts.remove(request)
      if (timedOut) context.recorder.timeout(now, request.rx)
      else context.recorder.error(now, kind, request.rx)
    }
    this.#owed += failed.length
    // Out of the socket's event (or the timeout sweep) before the model sends again.
    queueMicrotask(() => {
      for (const request of failed) {
        this.#owed--
        this.#spare.push(request)
        context.onDone(this)
      }
    })
  }

  /** The oldest request's response ended. */
  #complete(): void {
    const context = this.context
    const parser = this.#parser
    const request = this.#line.shift()!
    const now = performance.now()
    context.timeouts.remove(request)
    this.inFlight = this.#line.length > 0
    const status = parser.status
    const closeAfter = parser.closeAfter
    parser.reset()
    context.recorder.hit(now, (now - request.origin) * 1000, status, request.rx, context.statusPassed(status))
    this.#spare.push(request)
    // The server closes after this response: the requests behind it will not be answered.
    if (closeAfter) this.#failAll(CLOSED, true)
    context.onDone(this)
  }

  /** A request's timeout passed: the connection and everything on it end. */
  expired(): void {
    this.#failAll(CLOSED, this.open)
  }

  /** Never in the timeout queue itself: its requests are (`Pipelined.expire`). */
  expire(): void {}

  close(): void {
    if (this.outstanding === 0) this.drop()
  }

  destroy(): void {
    this.drop()
  }

  /** Parses `n` bytes read into `buf`: responses end within them in the order sent. */
  #read(buf: Buffer, n: number): void {
    const socket = this.socket
    let i = 0
    while (i < n) {
      const request = this.#line[0]
      if (request === undefined) {
        // Bytes nobody asked for: the connection cannot be trusted any more.
        this.drop()
        return
      }
      const end = this.#parser.feed(buf, i, n)
      if (end === MORE) {
        request.rx += n - i
        return
      }
      if (end === INVALID) {
        request.rx += n - i
        this.#failAll(this.#parser.error!, true)
        return
      }
      request.rx += end - i
      i = end
      this.#complete()
      // Closed after the response, or by the model (a user that left).
      if (socket !== this.socket) return
    }
  }
}
