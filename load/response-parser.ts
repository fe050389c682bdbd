/**
 * The lean path's one HTTP/1.1 response reader, for a connection with one request at a
 * time (NetExchange) and one that carries several responses in a row (PipelineExchange):
 * it says where in the bytes read each response ends, so the bytes after it go to the next
 * one (or are refused on a one-request connection). Status, content-length, chunked bodies
 * with trailers, bodies to the close, 1xx, HEAD/204/304 without a body, `connection:
 * close`, HTTP/1.0; a response it cannot read is an error of kind `parse`. It allocates
 * nothing per response but the few bytes of a head split over two reads.
 */

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

/** `feed` needs more bytes: everything given was consumed. */
export const MORE = -1
/** `feed` found a response it cannot read: `error` says why. */
export const INVALID = -2

/** A response the parser cannot read: classified as `parse`, like llhttp's errors. */
export function parseError(why: string): Error {
  const err = new Error(`invalid HTTP response: ${why}`) as Error & { code: string }
  err.code = 'HPE_INVALID'
  return err
}

/** Where the colon of the header line data[line, eol) is; eol when it has none. */
export function headerColon(data: Buffer, line: number, eol: number): number {
  let colon = line
  while (colon < eol && data[colon] !== 58) colon++
  return colon
}

/** Where a header's value starts: past the colon and the spaces and tabs after it. */
export function headerValueStart(data: Buffer, colon: number): number {
  let value = colon + 1
  while (data[value] === 32 || data[value] === 9) value++
  return value
}

/** Where a header's value ends: before the spaces and tabs ahead of the line end `eol`. */
export function headerValueEnd(data: Buffer, value: number, eol: number): number {
  let end = eol
  while (end > value && (data[end - 1] === 32 || data[end - 1] === 9)) end--
  return end
}

/** Compares buf[start, start + name.length) with a lower-case ASCII name, ignoring case. */
export function nameIs(buf: Buffer, start: number, end: number, name: string): boolean {
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
 * Who wants the bytes of a final response as they are read (the transaction runtime: its
 * cookies, Location, headers and body). Read on every response, so a hook may change
 * between requests; the ranges are valid only during the call (a shared read buffer).
 */
export interface ResponseHooks {
  /** The final response's head, data[start, end) (status line and header lines). */
  onHead?: ((data: Buffer, start: number, end: number) => void) | null
  /**
   * Each header line of the final response in order, data[start, end) without its line
   * ending, as the parser walks them (no second scan of the head for a caller).
   */
  onHeader?: ((data: Buffer, start: number, end: number) => void) | null
  /** A piece of the body's data (chunk framing removed), data[start, end). */
  onBody?: ((data: Buffer, start: number, end: number) => void) | null
}

const NO_HOOKS: ResponseHooks = {}

export class ResponseParser {
  readonly #hooks: ResponseHooks
  /** The request was HEAD: the response has no body whatever its head says. */
  headRequest: boolean
  /** The final response's status, 0 until its head is read. */
  status = 0
  /** The response said `connection: close` (or is HTTP/1.0 without keep-alive, or reads to the close). */
  closeAfter = false
  error: Error | null = null
  #state = HEAD
  #remaining = 0
  #chunkSeen = false
  /** Bytes of a response head split over reads. */
  #pending: Buffer | null = null

  constructor(method: string, hooks: ResponseHooks = NO_HOOKS) {
    this.headRequest = method === 'HEAD'
    this.#hooks = hooks
  }

  /** Ready for the next response. */
  reset(): void {
    this.status = 0
    this.closeAfter = false
    this.error = null
    this.#state = HEAD
    this.#pending = null
  }

  /** The body is read to the close of the connection: its end is the response's end. */
  get untilClose(): boolean {
    return this.#state === UNTIL_CLOSE
  }

  /**
   * Reads buf[i, n). Returns where the response ended (the next response's bytes start
   * there), MORE when all of it was consumed without reaching the end, or INVALID.
   */
  feed(buf: Buffer, i: number, n: number): number {
    while (i < n) {
      const state = this.#state
      if (state === HEAD) {
        i = this.#head(buf, i, n)
        if (i < 0) return i
        // A final response without a body is complete at its head.
        if (this.status !== 0 && this.#state === HEAD) return i
      } else if (state === BODY) {
        const take = Math.min(this.#remaining, n - i)
        this.#hooks.onBody?.(buf, i, i + take)
        i += take
        this.#remaining -= take
        if (this.#remaining === 0) return i
      } else if (state === UNTIL_CLOSE) {
        this.#hooks.onBody?.(buf, i, n)
        return MORE
      } else {
        i = this.#chunked(buf, i, n)
        if (i < 0) return i
        if (this.#state === HEAD) return i
      }
    }
    // A head with `content-length: 0` ending exactly at the end of the read.
    if (this.#state === BODY && this.#remaining === 0) return i
    return MORE
  }

  #invalid(why: string): number {
    this.error = parseError(why)
    return INVALID
  }

  /**
   * Reads a response head from buf[i, n). Returns where the body starts, MORE when the
   * head is not complete yet (kept in #pending) or INVALID. A final response without a
   * body leaves #state at HEAD with `status` set.
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
    // A shared read buffer holds older bytes past n: a match must end within [start, end).
    const at = data.indexOf(CRLFCRLF, start)
    if (at < 0 || at + 4 > end) {
      if (end - start > MAX_HEAD) return this.#invalid('response head too large')
      this.#pending = Buffer.from(data.subarray(start, end))
      return MORE
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
      return this.#invalid('no status line')
    }
    const d0 = data[start + 9]! - 48
    const d1 = data[start + 10]! - 48
    const d2 = data[start + 11]! - 48
    if (d0 < 1 || d0 > 5 || d1 < 0 || d1 > 9 || d2 < 0 || d2 > 9) return this.#invalid('bad status code')
    const status = d0 * 100 + d1 * 10 + d2
    let closeAfter = data[start + 7] === 48 // HTTP/1.0 closes unless it says keep-alive
    let length = -1
    let chunked = false
    // An interim response's lines (100 Continue, 103 Early Hints) are nobody's business.
    const onHeader = status < 200 && status !== 101 ? null : this.#hooks.onHeader
    // Header lines: name ":" value CRLF, up to the blank line at `at`. Byte loops, not
    // indexOf (a native call per line): data[at] is CR and data[at + 1] LF, so they stop.
    let line = start
    while (data[line] !== 10) line++
    line++
    while (line < at) {
      let eol = line
      while (data[eol] !== 13 && data[eol] !== 10) eol++
      if (onHeader) onHeader(data, line, eol)
      const first = data[line]! | 0x20
      if (first === 99 /* c */ || first === 116 /* t */) {
        const colon = headerColon(data, line, eol)
        const value = headerValueStart(data, colon)
        const valueEnd = headerValueEnd(data, value, eol)
        if (nameIs(data, line, colon, 'content-length')) {
          let v = 0
          for (let k = value; k < valueEnd; k++) {
            const digit = data[k]! - 48
            if (digit < 0 || digit > 9) return this.#invalid('bad content-length')
            v = v * 10 + digit
          }
          if (valueEnd === value || (length >= 0 && length !== v)) return this.#invalid('bad content-length')
          length = v
        } else if (nameIs(data, line, colon, 'transfer-encoding')) {
          chunked = hasToken(data, value, valueEnd, 'chunked')
        } else if (nameIs(data, line, colon, 'connection')) {
          if (nameIs(data, value, valueEnd, 'keep-alive')) closeAfter = false
          else if (hasToken(data, value, valueEnd, 'close')) closeAfter = true
          else if (hasToken(data, value, valueEnd, 'keep-alive')) closeAfter = false
        }
      }
      let next = eol
      while (data[next] !== 10) next++
      line = next + 1
    }
    const bodyAt = at + 4
    // In buf's terms: where the body starts among the bytes of this read.
    const next = pending === null ? bodyAt : i + (bodyAt - pending.length)
    // An interim response (100 Continue, 103 Early Hints): the final one follows.
    if (status < 200 && status !== 101) return next
    this.status = status
    this.closeAfter = closeAfter
    this.#hooks.onHead?.(data, start, at)
    if (status === 101) {
      this.closeAfter = true
      this.#state = HEAD
    } else if (this.headRequest || status === 204 || status === 304) this.#state = HEAD
    else if (chunked) {
      this.#state = CHUNK_SIZE
      this.#remaining = 0
      this.#chunkSeen = false
    } else if (length >= 0) {
      this.#state = BODY
      this.#remaining = length
    } else {
      this.#state = UNTIL_CLOSE
      this.closeAfter = true
    }
    return next
  }

  /**
   * Reads chunked framing from buf[i, n): sizes (hex, extensions skipped), data, the CRLF
   * after it, trailers up to the blank line. Returns where it stopped; the state is HEAD
   * (with `status` set) once the body is complete. INVALID on bad framing.
   */
  #chunked(buf: Buffer, i: number, n: number): number {
    while (i < n) {
      const state = this.#state
      if (state === CHUNK_DATA) {
        const take = Math.min(this.#remaining, n - i)
        this.#hooks.onBody?.(buf, i, i + take)
        i += take
        this.#remaining -= take
        if (this.#remaining === 0) this.#state = CHUNK_DATA_END
        continue
      }
      const c = buf[i++]!
      if (state === CHUNK_SIZE) {
        if (c === 10) {
          if (!this.#chunkSeen) return this.#invalid('empty chunk size')
          this.#state = this.#remaining === 0 ? TRAILER_LINE : CHUNK_DATA
        } else if (c === 13) {
          // CR before LF
        } else if (c === 59 /* ; */ || c === 32 || c === 9) {
          this.#state = CHUNK_EXT
        } else {
          const digit =
            c >= 48 && c <= 57 ? c - 48 : (c | 0x20) >= 97 && (c | 0x20) <= 102 ? (c | 0x20) - 87 : -1
          if (digit < 0 || this.#remaining > 0x7ffffff) return this.#invalid('bad chunk size')
          this.#remaining = this.#remaining * 16 + digit
          this.#chunkSeen = true
        }
      } else if (state === CHUNK_EXT) {
        if (c === 10) this.#state = this.#remaining === 0 ? TRAILER_LINE : CHUNK_DATA
      } else if (state === CHUNK_DATA_END) {
        if (c === 10) {
          this.#state = CHUNK_SIZE
          this.#chunkSeen = false
        } else if (c !== 13) return this.#invalid('no CRLF after chunk data')
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
