import type { Socket } from 'node:net'
import { classifyError } from './classify.js'
import type { ExchangeContext, LoadExchange, Timed } from './exchange.js'

/**
 * Every socket of the process reads into this one buffer (`onread`): a response is parsed
 * in the read callback, before the next read can land, so nothing is kept from it but the
 * few bytes of a response head split over two reads. No Buffer, stream chunk or 'data'
 * event per read.
 */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024)

const HEAD = 0
const BODY = 1
const CHUNK_SIZE = 2
const CHUNK_EXT = 3
const CHUNK_DATA = 4
const CHUNK_DATA_END = 5
const TRAILER_LINE = 6
const TRAILER_REST = 7
const UNTIL_CLOSE = 8

/** A response head larger than this is refused (undici's default limit is 16 KiB as well). */
const MAX_HEAD = 16 * 1024
const CRLFCRLF = Buffer.from('\r\n\r\n')

/** A response the parser cannot read: classified as `parse`, like llhttp's errors. */
function parseError(why: string): Error {
  const err = new Error(`invalid HTTP response: ${why}`) as Error & { code: string }
  err.code = 'HPE_INVALID'
  return err
}

const CLOSED = Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' })

/** Compares buf[start, start + name.length) with a lower-case ASCII name, ignoring case. */
function nameIs(buf: Buffer, start: number, end: number, name: string): boolean {
  if (end - start !== name.length) return false
  for (let i = 0; i < name.length; i++) if ((buf[start + i]! | 0x20) !== name.charCodeAt(i)) return false
  return true
}

/** Whether buf[start, end) holds `token` (lower-case) as a comma-separated element. */
function hasToken(buf: Buffer, start: number, end: number, token: string): boolean {
  if (nameIs(buf, start, end, token)) return true
  return buf
    .toString('latin1', start, end)
    .toLowerCase()
    .split(',')
    .some((part) => part.trim() === token)
}

/**
 * The lean HTTP/1.1 path for plain http: requests: one connection, one request at a time,
 * the request's bytes prepared once (`context.wire`, what undici would write) and written
 * with one `socket.write`; the response read by a small state machine over the shared read
 * buffer — status, content-length, chunked bodies with trailers, bodies to the close, 1xx,
 * HEAD/204/304 without a body, `connection: close`. Everything else (TLS, a user's
 * `connection` header) goes through undici (`Exchange`). Both are one interface
 * (`LoadExchange`) and record the same way: bytes when written to a connected socket, the
 * address policy on every connection (`target.acceptPlain`), errors by kind
 * (`classifyError`), timeouts from the shared queue.
 */
export class NetExchange implements LoadExchange {
  readonly #context: ExchangeContext
  #noBodyMethod = false
  #socket: Socket | null = null
  /** The socket's connection is up and accepted by the policy. */
  #open = false
  #connectStarted = 0
  #origin = 0
  #fromWrite = false
  #status = 0
  #rx = 0
  #state = HEAD
  #remaining = 0
  #chunkSeen = false
  /** The response said `connection: close` (or is HTTP/1.0 without keep-alive). */
  #closeAfter = false
  /** Bytes of a response head split over reads. */
  #pending: Buffer | null = null
  timedOut = false
  inFlight = false
  active = false
  deadline = 0
  prev: Timed | null = null
  next: Timed | null = null

  constructor(context: ExchangeContext) {
    this.#context = context
  }

  send(now: number, origin?: number): void {
    const context = this.#context
    // Read per request: the transaction runtime changes the request between sends.
    this.#noBodyMethod = context.request.method === 'HEAD'
    this.#fromWrite = origin === undefined
    this.#origin = origin ?? now
    this.#status = 0
    this.#rx = 0
    this.#state = HEAD
    this.#pending = null
    this.#closeAfter = false
    this.timedOut = false
    this.inFlight = true
    context.timeouts.push(this, now)
    context.recorder.sent(now)
    if (this.#open) this.#write(now)
    else if (this.#socket === null) this.#connect()
  }

  preconnect(): void {
    if (this.#socket === null) this.#connect()
  }

  #connect(): void {
    this.#connectStarted = performance.now()
    const socket = this.#context.target.openPlain({
      buffer: READ_BUFFER,
      callback: (nread: number, buf: Uint8Array) => {
        if (socket === this.#socket) this.#read(buf as Buffer, nread)
        return true
      },
    })
    this.#socket = socket
    socket.on('connect', () => {
      if (socket !== this.#socket) return
      const refusal = this.#context.target.acceptPlain(socket, this.#connectStarted)
      if (refusal) {
        this.#fail(refusal, false)
        return
      }
      this.#open = true
      if (this.inFlight) this.#write(performance.now())
    })
    socket.on('error', (err) => {
      if (socket === this.#socket) this.#fail(err, this.#open)
    })
    socket.on('end', () => {
      if (socket === this.#socket) this.#ended()
    })
    socket.on('close', () => {
      if (socket === this.#socket) this.#ended()
    })
  }

  #write(now: number): void {
    const context = this.#context
    if (this.#fromWrite) this.#origin = now
    context.recorder.wrote(now, context.requestBytes)
    this.#socket!.write(context.wire!)
  }

  /** The connection ended: a body read to the close is complete, anything else failed. */
  #ended(): void {
    if (this.inFlight && this.#state === UNTIL_CLOSE) {
      this.#drop()
      this.#complete()
    } else if (this.inFlight) this.#fail(CLOSED, this.#open)
    else this.#drop()
  }

  /** Forgets the socket (its late events are ignored) and destroys it. */
  #drop(): void {
    const socket = this.#socket
    this.#socket = null
    this.#open = false
    socket?.destroy()
  }

  #fail(err: Error, connected: boolean): void {
    this.#drop()
    if (!this.inFlight) return
    const context = this.#context
    const now = performance.now()
    context.timeouts.remove(this)
    this.inFlight = false
    if (this.timedOut) context.recorder.timeout(now, this.#rx)
    else context.recorder.error(now, classifyError(err, connected), this.#rx)
    // Out of the socket's event (or the timeout sweep) before the model sends again.
    queueMicrotask(() => context.onDone(this))
  }

  #complete(): void {
    const context = this.#context
    const now = performance.now()
    context.timeouts.remove(this)
    this.inFlight = false
    if (this.#closeAfter) this.#drop()
    const status = this.#status
    context.recorder.hit(now, (now - this.#origin) * 1000, status, this.#rx, context.statusPassed(status))
    context.onDone(this)
  }

  expire(): void {
    this.timedOut = true
    if (this.inFlight) this.#fail(CLOSED, this.#open)
  }

  close(): void {
    if (!this.inFlight) this.#drop()
  }

  destroy(): void {
    this.#drop()
  }

  /** Parses `n` bytes read into `buf`; a response may end within them. */
  #read(buf: Buffer, n: number): void {
    if (!this.inFlight) {
      // Bytes nobody asked for on an idle connection: it cannot be trusted any more.
      this.#drop()
      return
    }
    this.#rx += n
    let i = 0
    while (i < n) {
      const state = this.#state
      if (state === HEAD) {
        i = this.#head(buf, i, n)
        if (i < 0) return
        // A final response without a body is complete at its head.
        if (this.#status !== 0 && this.#state === HEAD) break
      } else if (state === BODY) {
        const take = Math.min(this.#remaining, n - i)
        this.#context.onBody?.(buf, i, i + take)
        i += take
        this.#remaining -= take
        if (this.#remaining === 0) break
      } else if (state === UNTIL_CLOSE) {
        this.#context.onBody?.(buf, i, n)
        return
      } else {
        i = this.#chunked(buf, i, n)
        if (i < 0) return
        if (this.#state === HEAD) break
      }
    }
    const state = this.#state
    if ((state === BODY && this.#remaining === 0) || (state === HEAD && this.#status !== 0)) {
      if (i < n) this.#fail(parseError('bytes after the response'), true)
      else this.#complete()
    }
  }

  /**
   * Reads a response head from buf[i, n). Returns where the body starts, or -1 when the
   * head is not complete yet (kept in #pending) or the exchange failed. A final response
   * without a body leaves #state at HEAD with #status set.
   */
  #head(buf: Buffer, i: number, n: number): number {
    let data = buf
    let start = i
    let end = n
    const pending = this.#pending
    if (pending !== null) {
      data = Buffer.concat([pending, buf.subarray(i, n)])
      start = 0
      end = data.length
      this.#pending = null
    }
    // The shared buffer holds older bytes past n: a match must end within [start, end).
    const at = data.indexOf(CRLFCRLF, start)
    if (at < 0 || at + 4 > end) {
      if (end - start > MAX_HEAD) this.#fail(parseError('response head too large'), true)
      else this.#pending = Buffer.from(data.subarray(start, end))
      return -1
    }
    // "HTTP/1.x NNN"
    if (
      at - start < 12 ||
      data[start] !== 72 ||
      data[start + 4] !== 47 ||
      data[start + 5] !== 49 ||
      data[start + 6] !== 46 ||
      data[start + 8] !== 32
    ) {
      this.#fail(parseError('no status line'), true)
      return -1
    }
    const d0 = data[start + 9]! - 48
    const d1 = data[start + 10]! - 48
    const d2 = data[start + 11]! - 48
    if (d0 < 1 || d0 > 5 || d1 < 0 || d1 > 9 || d2 < 0 || d2 > 9) {
      this.#fail(parseError('bad status code'), true)
      return -1
    }
    const status = d0 * 100 + d1 * 10 + d2
    let closeAfter = data[start + 7] === 48 // HTTP/1.0 closes unless it says keep-alive
    let length = -1
    let chunked = false
    // Header lines: name ":" value CRLF, up to the blank line at `at`.
    let line = data.indexOf(10, start) + 1
    while (line > 0 && line < at) {
      let eol = line
      while (data[eol] !== 13 && data[eol] !== 10) eol++
      const first = data[line]! | 0x20
      if (first === 99 /* c */ || first === 116 /* t */) {
        let colon = line
        while (colon < eol && data[colon] !== 58) colon++
        let value = colon + 1
        while (data[value] === 32 || data[value] === 9) value++
        let valueEnd = eol
        while (valueEnd > value && (data[valueEnd - 1] === 32 || data[valueEnd - 1] === 9)) valueEnd--
        if (nameIs(data, line, colon, 'content-length')) {
          let v = 0
          for (let k = value; k < valueEnd; k++) {
            const digit = data[k]! - 48
            if (digit < 0 || digit > 9) {
              this.#fail(parseError('bad content-length'), true)
              return -1
            }
            v = v * 10 + digit
          }
          if (valueEnd === value || (length >= 0 && length !== v)) {
            this.#fail(parseError('bad content-length'), true)
            return -1
          }
          length = v
        } else if (nameIs(data, line, colon, 'transfer-encoding')) {
          chunked = hasToken(data, value, valueEnd, 'chunked')
        } else if (nameIs(data, line, colon, 'connection')) {
          if (nameIs(data, value, valueEnd, 'keep-alive')) closeAfter = false
          else if (hasToken(data, value, valueEnd, 'close')) closeAfter = true
          else if (hasToken(data, value, valueEnd, 'keep-alive')) closeAfter = false
        }
      }
      line = data.indexOf(10, eol) + 1
    }
    const bodyAt = at + 4
    // In buf's terms: where the body starts among the bytes of this read.
    const next = pending === null ? bodyAt : i + (bodyAt - pending.length)
    // An interim response (100 Continue, 103 Early Hints): the final one follows.
    if (status < 200 && status !== 101) return next
    this.#status = status
    this.#closeAfter = closeAfter
    this.#context.onHead?.(data, start, at)
    if (status === 101) {
      this.#closeAfter = true
      this.#state = HEAD
    } else if (this.#noBodyMethod || status === 204 || status === 304) this.#state = HEAD
    else if (chunked) {
      this.#state = CHUNK_SIZE
      this.#remaining = 0
      this.#chunkSeen = false
    } else if (length >= 0) {
      this.#state = BODY
      this.#remaining = length
    } else {
      this.#state = UNTIL_CLOSE
      this.#closeAfter = true
    }
    return next
  }

  /**
   * Reads chunked framing from buf[i, n): sizes (hex, extensions skipped), data, the CRLF
   * after it, trailers up to the blank line. Returns where it stopped; the state is HEAD
   * (with #status set) once the body is complete. -1 when the exchange failed.
   */
  #chunked(buf: Buffer, i: number, n: number): number {
    while (i < n) {
      const state = this.#state
      if (state === CHUNK_DATA) {
        const take = Math.min(this.#remaining, n - i)
        this.#context.onBody?.(buf, i, i + take)
        i += take
        this.#remaining -= take
        if (this.#remaining === 0) this.#state = CHUNK_DATA_END
        continue
      }
      const c = buf[i++]!
      if (state === CHUNK_SIZE) {
        if (c === 10) {
          if (!this.#chunkSeen) {
            this.#fail(parseError('empty chunk size'), true)
            return -1
          }
          this.#state = this.#remaining === 0 ? TRAILER_LINE : CHUNK_DATA
        } else if (c === 13) {
          // CR before LF
        } else if (c === 59 /* ; */ || c === 32 || c === 9) {
          this.#state = CHUNK_EXT
        } else {
          const digit =
            c >= 48 && c <= 57 ? c - 48 : (c | 0x20) >= 97 && (c | 0x20) <= 102 ? (c | 0x20) - 87 : -1
          if (digit < 0 || this.#remaining > 0x7ffffff) {
            this.#fail(parseError('bad chunk size'), true)
            return -1
          }
          this.#remaining = this.#remaining * 16 + digit
          this.#chunkSeen = true
        }
      } else if (state === CHUNK_EXT) {
        if (c === 10) this.#state = this.#remaining === 0 ? TRAILER_LINE : CHUNK_DATA
      } else if (state === CHUNK_DATA_END) {
        if (c === 10) {
          this.#state = CHUNK_SIZE
          this.#chunkSeen = false
        } else if (c !== 13) {
          this.#fail(parseError('no CRLF after chunk data'), true)
          return -1
        }
      } else if (state === TRAILER_LINE) {
        if (c === 10) {
          this.#state = HEAD
          return i
        }
        if (c !== 13) this.#state = TRAILER_REST
      } else if (c === 10) {
        this.#state = TRAILER_LINE
      }
    }
    return i
  }
}
