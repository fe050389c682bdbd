import { classifyError } from './classify.js'
import type { ExchangeContext, LoadExchange, Timed } from './exchange.js'
import { PlainConnection } from './plain-connection.js'
import { INVALID, MORE, parseError, ResponseParser } from './response-parser.js'

const CLOSED = Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' })

/**
 * The lean HTTP/1.1 path for plain http: requests: one connection, one request at a time,
 * the request's bytes prepared once (`context.wire`, what undici would write) and written
 * with one `socket.write` on the lean connection (`PlainConnection`); the response read
 * over the shared read buffer by the lean path's one response reader (`ResponseParser`:
 * status, content-length, chunked bodies with trailers, bodies to the close, 1xx,
 * HEAD/204/304 without a body, `connection: close`), which hands the head and body to the
 * context's hooks (the transaction runtime). Everything else (TLS, a user's `connection`
 * header) goes through undici (`Exchange`). Both are one interface (`LoadExchange`) and
 * record the same way: bytes when written to a connected socket, the address policy on
 * every connection (`target.acceptPlain`), errors by kind (`classifyError`), timeouts from
 * the shared queue.
 */
export class NetExchange extends PlainConnection implements LoadExchange {
  readonly #parser: ResponseParser
  #origin = 0
  #fromWrite = false
  #rx = 0
  timedOut = false
  inFlight = false
  active = false
  deadline = 0
  prev: Timed | null = null
  next: Timed | null = null

  constructor(context: ExchangeContext) {
    super(context)
    // The context is the hooks: the transaction runtime sets onHeader/onBody on it.
    this.#parser = new ResponseParser(context.request.method, context)
  }

  send(now: number, origin?: number): void {
    const context = this.context
    // Read per request: the transaction runtime changes the request between sends.
    const parser = this.#parser
    parser.reset()
    parser.headRequest = context.request.method === 'HEAD'
    this.#fromWrite = origin === undefined
    this.#origin = origin ?? now
    this.#rx = 0
    this.timedOut = false
    this.inFlight = true
    context.timeouts.push(this, now)
    context.recorder.sent(now)
    if (this.open) this.#write(now)
    else if (this.socket === null) this.connect()
  }

  preconnect(): void {
    if (this.socket === null) this.connect()
  }

  protected accepted(): void {
    if (this.inFlight) this.#write(performance.now())
  }

  protected failed(err: Error, connected: boolean): void {
    this.#fail(err, connected)
  }

  #write(now: number): void {
    const context = this.context
    if (this.#fromWrite) this.#origin = now
    context.recorder.wrote(now, context.requestBytes)
    this.writeWire(context.wire!)
  }

  /** The connection ended: a body read to the close is complete, anything else failed. */
  protected ended(): void {
    if (this.inFlight && this.#parser.untilClose) {
      this.drop()
      this.#complete()
    } else if (this.inFlight) this.#fail(CLOSED, this.open)
    else this.drop()
  }

  #fail(err: Error, connected: boolean): void {
    this.drop()
    if (!this.inFlight) return
    const context = this.context
    const now = performance.now()
    context.timeouts.remove(this)
    this.inFlight = false
    if (this.timedOut) context.recorder.timeout(now, this.#rx)
    else context.recorder.error(now, classifyError(err, connected), this.#rx)
    // Out of the socket's event (or the timeout sweep) before the model sends again.
    queueMicrotask(() => context.onDone(this))
  }

  #complete(): void {
    const context = this.context
    const now = performance.now()
    context.timeouts.remove(this)
    this.inFlight = false
    const status = this.#parser.status
    if (this.#parser.closeAfter) this.drop()
    context.recorder.hit(now, (now - this.#origin) * 1000, status, this.#rx, context.statusPassed(status))
    context.onDone(this)
  }

  expire(): void {
    this.timedOut = true
    if (this.inFlight) this.#fail(CLOSED, this.open)
  }

  close(): void {
    if (!this.inFlight) this.drop()
  }

  destroy(): void {
    this.drop()
  }

  /** Parses `n` bytes read into `buf`; the response may end within them, and must end at their end. */
  protected read(buf: Buffer, n: number): void {
    if (!this.inFlight) {
      // Bytes nobody asked for on an idle connection: it cannot be trusted any more.
      this.drop()
      return
    }
    this.#rx += n
    const end = this.#parser.feed(buf, 0, n)
    if (end === MORE) return
    if (end === INVALID) this.#fail(this.#parser.error!, true)
    else if (end < n) this.#fail(parseError('bytes after the response'), true)
    else this.#complete()
  }
}
