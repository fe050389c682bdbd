import { Client, type Dispatcher } from 'undici'
import { StampedeError } from '../../lib/errors.js'
import type { ErrorKind } from '../../lib/timeline.js'
import type { CompiledStep, CompiledTransaction } from '../../lib/transaction/compile.js'
import { CookieJar } from '../../lib/transaction/cookies.js'
import type { ResponseView } from '../../lib/transaction/extract.js'
import { seededRandom } from '../../lib/transaction/random.js'
import type { RowPicker } from '../../lib/transaction/rows.js'
import { renderTemplate, type Template } from '../../lib/transaction/template.js'
import { classifyError } from '../classify.js'
import type { ExchangeContext, ExchangeRecorder } from '../exchange.js'
import { NetExchange } from '../net-exchange.js'
import { headerColon, headerValueEnd, headerValueStart, nameIs } from '../response-parser.js'
import type { Target } from '../target.js'
import type { Deadlines, Fifo } from './deadlines.js'
import type { TransactionRecorder } from './recorder.js'

/** What every user of one process shares. */
export interface UserContext {
  transaction: CompiledTransaction
  recorder: TransactionRecorder
  deadlines: Deadlines
  rows: RowPicker | undefined
  /** A checked target for an origin: the steps' own are ready; a redirect's is resolved on demand. */
  target(origin: string): Target | Promise<Target>
  /** Wall-clock milliseconds (cookie expiry). */
  wallNow(): number
  /** An iteration ended (every step ran, or one failed); `ok` tells which. */
  onIterationEnd(user: TransactionUser, ok: boolean): void
  /** Seen by `stampede sprint`: each exchange in full (always through undici). */
  observer?: ExchangeObserver
  /**
   * Plain http: requests through the lean HTTP/1.1 path (load/net-exchange.ts); false
   * forces undici (STAMPEDE_HTTP_CLIENT=undici, and `stampede sprint`, which shows
   * requests and responses in full).
   */
  lean: boolean
}

export interface ExchangeRecord {
  step: string
  request: { method: string; url: string; headers: string[]; body: Buffer | null }
  response?: { status: number; headers: string[]; body: Buffer }
  error?: string
  latencyMs?: number
  extracted: Record<string, string>
  /** The variables this request used, by name. */
  used: Record<string, string>
}

export interface ExchangeObserver {
  exchange(record: ExchangeRecord): void
}

const TIMED_OUT = new StampedeError('STAMPEDE_TIMEOUT', 'request timed out')
const REDIRECTS = new Set([301, 302, 303, 307, 308])
const NO_COOKIES: ReadonlyMap<string, string> = new Map()
const NO_HEADERS: Record<string, string | string[]> = Object.freeze({})
const EXPECTS_PAYLOAD = new Set(['PUT', 'POST', 'PATCH', 'QUERY', 'PROPFIND', 'PROPPATCH'])

/** The content-length a request sends: its body's, 0 for an empty body where one is expected, -1 for none. */
function contentLength(body: Buffer | null, method: string): number {
  return body && body.length > 0 ? body.length : EXPECTS_PAYLOAD.has(method) ? 0 : -1
}
const LINE_BREAK = /[\r\n]/
/** The lean path reads only the method of a request (HEAD: a response without a body). */
const HEAD_REQUEST: Dispatcher.DispatchOptions = { path: '/', method: 'HEAD' }
const OTHER_REQUEST: Dispatcher.DispatchOptions = { path: '/', method: 'GET' }
/** The user keeps its own deadlines (one per step's timeout): the lean exchange's queue is unused. */
const NO_TIMEOUTS = { push() {}, remove() {} }
const NOT_YET = 0
const HIT = 1
const FAILED = 2

/** A step's last response body whose extractions all succeeded, and what they found. */
interface BodyMemo {
  body: string | null
  /** By extraction: the value found (a header or cookie extraction's is not read from here). */
  values: string[]
}

/** One memo per step for the whole process (its users share it); bodies above this are not kept. */
const bodyMemos = new WeakMap<CompiledStep, BodyMemo>()
const MEMO_MAX_BODY = 64 * 1024

function bodyMemo(step: CompiledStep): BodyMemo {
  let memo = bodyMemos.get(step)
  if (memo === undefined) {
    memo = { body: null, values: [] }
    bodyMemos.set(step, memo)
  }
  return memo
}

/** A step's request as last rendered, and what it was rendered from. */
interface RenderedRequest {
  wire: string
  cookie: string | undefined
  /** The values of the step's `requestSlots`, in order. */
  values: string[]
}

/** Whether the values in `slots` are still the ones a request was rendered from. */
function sameValues(
  rendered: readonly string[],
  slots: readonly number[],
  values: readonly string[],
): boolean {
  for (let i = 0; i < slots.length; i++) if (rendered[i] !== values[slots[i]!]) return false
  return true
}

/** One connection of the lean path: its exchange, and the context it reads per request. */
interface LeanConnection {
  exchange: NetExchange
  context: ExchangeContext
}

/**
 * One user of a transaction: its own connection(s), cookie jar and variables, kept across
 * steps and iterations. A plain http: request goes through the lean path (a NetExchange
 * per origin, whose header and body hooks feed the cookie jar, a redirect's Location and
 * the extractions; body bytes are kept only when an extraction reads them); https:, a
 * `connection` header of the step's or a line break in a rendered value go through
 * undici, where the user is its own handler, reused for every request. What it allocates
 * per request is what a transaction needs (the rendered request, only when a variable or
 * cookie it reads changed since the step's last one, and the body only when an extraction
 * reads it).
 */
export class TransactionUser implements Dispatcher.DispatchHandler {
  readonly #context: UserContext
  readonly number: number
  readonly random: () => number
  readonly values: string[]
  readonly jar = new CookieJar()
  readonly #clients = new Map<string, Client>()
  readonly #leanConnections = new Map<string, LeanConnection>()
  /** The lean exchange of the request in flight; null when undici sends it. */
  #net: NetExchange | null = null
  /** The lean request's outcome, as its exchange recorded it. */
  #netOutcome = NOT_YET
  #netLatency = 0
  #netKind: ErrorKind = 'other'
  /** From the lean response's head: Set-Cookie values, Location, the headers (when extracted). */
  readonly #setCookieValues: string[] = []
  #location: string | undefined = undefined
  #headers: Record<string, string | string[]> | null = null
  #leanHooks: Omit<ExchangeContext, 'target'> | null = null
  /** Each step's last rendered request (lean path), by step index. */
  readonly #rendered: (RenderedRequest | undefined)[] = []
  /** When the lean request's exchange recorded its outcome: the step's end. */
  #netNow = 0
  #step: CompiledStep | null = null
  #stepIndex = 0
  #hops = 0
  #origin = ''
  #path = ''
  #method = ''
  #iterationLatency = 0
  #sentAt = 0
  #fromWrite = true
  #status = 0
  #rx = 0
  /** The request's size, counted as sent once it reaches a connected socket. */
  #txBytes = 0
  #connected = false
  #abort: ((err?: Error) => void) | null = null
  #rawHeaders: Buffer[] | null = null
  #chunks: Buffer[] = []
  #think: NodeJS.Timeout | null = null
  #record: ExchangeRecord | null = null
  timedOut = false
  inFlight = false
  /** Wanted by its model (closed model: still one of the running users). */
  active = false
  /** No unique data row was left for it: it sends nothing more. */
  exhausted = false
  // Deadline queue links.
  deadline = 0
  prev: TransactionUser | null = null
  next: TransactionUser | null = null
  queue: Fifo | null = null

  constructor(context: UserContext, number: number) {
    this.#context = context
    this.number = number
    this.random = seededRandom(number * 2654435761 + 1)
    this.values = new Array(context.transaction.slotNames.length).fill('')
  }

  /** True while between steps (thinking) or with a request out. */
  get busy(): boolean {
    return this.inFlight || this.#think !== null
  }

  /**
   * Starts an iteration: draws the variables, takes a data row, sends the first step.
   * `dueAt` (open model) is when the iteration was due: its latency counts from there.
   * Returns false, sending nothing, when no unique row is left.
   */
  startIteration(now: number, dueAt?: number): boolean {
    const context = this.#context
    const transaction = context.transaction
    if (context.rows) {
      const row = context.rows.next(this.random)
      if (row < 0) {
        this.exhausted = true
        context.recorder.exhausted(now)
        return false
      }
      const fields = transaction.data!.table.rows[row]!
      const slots = transaction.columnSlots
      for (let i = 0; i < slots.length; i++) this.values[slots[i]!] = fields[i]!
    }
    for (const { slot, draw } of transaction.draws) this.values[slot] = draw(this.random)
    // Open model: the wait between the due time and the send counts, as on the single path.
    this.#iterationLatency = dueAt === undefined ? 0 : Math.max(0, now - dueAt) * 1000
    this.#stepIndex = 0
    this.#sendStep(now)
    return true
  }

  /** A fresh user for the open model: an arrival is a new visitor, with an empty jar. */
  resetSession(): void {
    this.jar.clear()
  }

  #sendStep(now: number): void {
    const step = this.#context.transaction.steps[this.#stepIndex]!
    this.#step = step
    this.#hops = 0
    this.#send(now, step.origin, renderTemplate(step.path, this.values), step.method, true)
  }

  #send(now: number, origin: string, path: string, method: string, withBody: boolean): void {
    const context = this.#context
    const step = this.#step!
    const target = context.target(origin)
    if (target instanceof Promise) {
      // A redirect to another origin: resolved and checked against the address policy
      // before anything is sent there.
      this.inFlight = true
      target.then(
        () => {
          this.inFlight = false
          this.#send(performance.now(), origin, path, method, withBody)
        },
        (err) => {
          this.inFlight = false
          this.#fail(performance.now(), classifyError(err, false), err)
        },
      )
      return
    }
    if (
      context.lean &&
      target.url.protocol === 'http:' &&
      this.#sendLean(now, target, origin, path, method, withBody)
    )
      return
    let client = this.#clients.get(origin)
    if (!client) {
      client = new Client(target.origin, {
        connect: target.connect,
        pipelining: 2,
        headersTimeout: 0,
        bodyTimeout: 0,
      })
      this.#clients.set(origin, client)
    }
    const headers: string[] = []
    let bytes = `${method} ${path} HTTP/1.1\r\n`.length + 2 + 24 + target.url.host.length + 8
    for (const [name, value] of step.headers) {
      const text = renderTemplate(value, this.values)
      headers.push(name, text)
      bytes += name.length + text.length + 4
    }
    const cookie = this.jar.header()
    if (cookie !== undefined) {
      headers.push('cookie', cookie)
      bytes += cookie.length + 10
    }
    const body = withBody ? this.#body() : null
    const length = contentLength(body, method)
    if (length >= 0) bytes += `content-length: ${length}\r\n`.length + length
    this.#origin = origin
    this.#path = path
    this.#method = method
    this.#status = 0
    this.#rx = 0
    this.#net = null
    this.#abort = null
    this.#connected = false
    this.#rawHeaders = null
    this.#chunks.length = 0
    this.#fromWrite = true
    this.#sentAt = now
    this.timedOut = false
    this.inFlight = true
    if (context.observer) {
      this.#record = {
        step: step.name,
        request: { method, url: origin + path, headers, body },
        extracted: {},
        used: {},
      }
    }
    context.deadlines.push(this, now, step.timeoutMs)
    this.#txBytes = bytes
    context.recorder.steps[step.index]!.sent(now)
    client.dispatch({ path, method: method as Dispatcher.HttpMethod, headers, body, blocking: false }, this)
  }

  /**
   * Opens the connection its first step will use before the run needs it (the open model's
   * start, as ArrivalRateRun's preopen: load/arrival-rate.ts). Only on the lean path to an
   * origin whose address is checked already; anything else connects at its first send.
   */
  preconnect(): void {
    const context = this.#context
    const origin = context.transaction.steps[0]!.origin
    const target = context.target(origin)
    if (!context.lean || target instanceof Promise || target.url.protocol !== 'http:') return
    this.#leanConnection(origin, target).exchange.preconnect()
  }

  /** This user's lean connection to `origin`, made on first use. */
  #leanConnection(origin: string, target: Target): LeanConnection {
    let connection = this.#leanConnections.get(origin)
    if (!connection) {
      this.#leanHooks ??= this.#hooks()
      const context: ExchangeContext = { ...this.#leanHooks, target }
      connection = { exchange: new NetExchange(context), context }
      this.#leanConnections.set(origin, connection)
    }
    return connection
  }

  /**
   * The lean path: renders the request's bytes as undici would write them (request line,
   * host, connection, the step's headers, cookie, content-length, body) as one latin1
   * string and sends them on this origin's NetExchange. A step's own request (not a
   * redirect's) is kept, and sent again as it is while the cookies and the variables it
   * reads (`requestSlots`) are the same as when it was rendered. Returns false, sending
   * nothing, where undici must send it: a `connection` header (undici reads it) or a line
   * break in a rendered value (undici refuses the request).
   */
  #sendLean(
    now: number,
    target: Target,
    origin: string,
    path: string,
    method: string,
    withBody: boolean,
  ): boolean {
    const context = this.#context
    const step = this.#step!
    const cookie = this.jar.header()
    let wire: string | null = null
    const own = this.#hops === 0
    if (own) {
      const last = this.#rendered[step.index]
      if (
        last !== undefined &&
        last.cookie === cookie &&
        sameValues(last.values, step.requestSlots, this.values)
      )
        wire = last.wire
    }
    if (wire === null) {
      wire = this.#render(target, path, method, withBody, cookie)
      if (wire === null) return false
      if (own) this.#remember(step, wire, cookie)
    }
    const connection = this.#leanConnection(origin, target)
    const net = connection.context
    net.wire = wire
    // Counted as written: the bytes on the wire, exactly (one byte per latin1 character).
    net.requestBytes = wire.length
    net.request = method === 'HEAD' ? HEAD_REQUEST : OTHER_REQUEST
    net.onBody = step.needsBody ? this.#leanHooks!.onBody! : null
    this.#origin = origin
    this.#path = path
    this.#method = method
    this.#status = 0
    this.#rx = 0
    this.#net = connection.exchange
    this.#netOutcome = NOT_YET
    // (An array's length set only when it is not 0 already: setting it is not free.)
    if (this.#setCookieValues.length !== 0) this.#setCookieValues.length = 0
    this.#location = undefined
    this.#headers = step.needsHeaders ? {} : null
    if (this.#chunks.length !== 0) this.#chunks.length = 0
    this.timedOut = false
    this.inFlight = true
    context.deadlines.push(this, now, step.timeoutMs)
    connection.exchange.send(now)
    return true
  }

  /**
   * The request's bytes as one latin1 string (a body's bytes one character each), or null
   * where undici must send it.
   */
  /** The current step's body, its template rendered with this user's values; null: none. */
  #body(): Buffer | null {
    const body = this.#step!.body
    if (body === undefined) return null
    return Buffer.isBuffer(body) ? body : Buffer.from(renderTemplate(body as Template, this.values))
  }

  #render(
    target: Target,
    path: string,
    method: string,
    withBody: boolean,
    cookie: string | undefined,
  ): string | null {
    const step = this.#step!
    if (method === 'CONNECT' || LINE_BREAK.test(path)) return null
    let host = target.url.host
    let lines = ''
    for (const [name, value] of step.headers) {
      const text = renderTemplate(value, this.values)
      if (LINE_BREAK.test(text)) return null
      const lower = name.length === 10 || name.length === 4 ? name.toLowerCase() : name
      if (lower === 'connection') return null
      if (lower === 'host') host = text
      else lines += `${name}: ${text}\r\n`
    }
    if (cookie !== undefined) lines += `cookie: ${cookie}\r\n`
    const body = withBody ? this.#body() : null
    const length = contentLength(body, method)
    if (length >= 0) lines += `content-length: ${length}\r\n`
    const head = `${method} ${path} HTTP/1.1\r\nhost: ${host}\r\nconnection: keep-alive\r\n${lines}\r\n`
    return length > 0 ? head + body!.toString('latin1') : head
  }

  /** Keeps a step's rendered request with what it was rendered from (its slot values, the cookies). */
  #remember(step: CompiledStep, wire: string, cookie: string | undefined): void {
    const slots = step.requestSlots
    let last = this.#rendered[step.index]
    if (last === undefined) {
      last = { wire, cookie, values: new Array<string>(slots.length) }
      this.#rendered[step.index] = last
    }
    last.wire = wire
    last.cookie = cookie
    for (let i = 0; i < slots.length; i++) last.values[i] = this.values[slots[i]!]!
  }

  /**
   * The lean exchanges' context, shared by this user's connections: the exchange's
   * recording goes to the step's recorder (the hit is held until the response is judged),
   * and its hooks read the response.
   */
  #hooks(): Omit<ExchangeContext, 'target'> {
    const stepRecorder = () => this.#context.recorder.steps[this.#step!.index]!
    const recorder: ExchangeRecorder = {
      sent: (now) => stepRecorder().sent(now),
      wrote: (now, bytes) => stepRecorder().wrote(now, bytes),
      hit: (now, latencyMicros, status, rx) => {
        this.#netNow = now
        this.#netOutcome = HIT
        this.#netLatency = latencyMicros
        this.#status = status
        this.#rx = rx
      },
      error: (now, kind, rx) => {
        this.#netNow = now
        this.#netOutcome = FAILED
        this.#netKind = kind
        this.#rx = rx
        stepRecorder().error(now, kind, rx)
      },
      timeout: (now, rx) => {
        this.#netNow = now
        this.#netOutcome = FAILED
        this.#rx = rx
        stepRecorder().timeout(now, rx)
      },
    }
    return {
      recorder,
      timeouts: NO_TIMEOUTS,
      request: OTHER_REQUEST,
      requestBytes: 0,
      wire: null,
      statusPassed: () => true,
      onDone: () => this.#leanDone(),
      onHeader: (data, start, end) => this.#leanHeader(data, start, end),
      onBody: (data, start, end) => {
        this.#chunks.push(Buffer.from(data.subarray(start, end)))
      },
    }
  }

  /**
   * Reads what the transaction needs from a header line of a lean response (the response
   * reader hands each over as it walks the head): cookies, Location, and every header when
   * an extraction reads them (`#headers`, made at the send). Other lines are skipped at
   * their first letter.
   */
  #leanHeader(data: Buffer, line: number, eol: number): void {
    const headers = this.#headers
    const first = data[line]! | 0x20
    if (headers === null && first !== 0x73 /* s */ && first !== 0x6c /* l */) return
    const colon = headerColon(data, line, eol)
    const value = headerValueStart(data, colon)
    const valueEnd = headerValueEnd(data, value, eol)
    if (headers !== null) {
      const name = data.toString('latin1', line, colon).toLowerCase()
      const text = data.toString('latin1', value, valueEnd)
      const existing = headers[name]
      if (existing === undefined) headers[name] = text
      else if (Array.isArray(existing)) existing.push(text)
      else headers[name] = [existing, text]
    }
    if (first === 0x73 && nameIs(data, line, colon, 'set-cookie'))
      this.#setCookieValues.push(data.toString('latin1', value, valueEnd))
    else if (first === 0x6c && nameIs(data, line, colon, 'location'))
      this.#location = data.toString('latin1', value, valueEnd)
  }

  /** The lean request ended (its exchange recorded an error or timeout, or held the hit). */
  #leanDone(): void {
    const now = this.#netNow
    this.#context.deadlines.remove(this)
    this.inFlight = false
    if (this.#netOutcome !== HIT) {
      this.#endIteration(now, false, this.timedOut ? 'timeout' : this.#netKind)
      return
    }
    const jar = this.jar
    let setCookies: Map<string, string> | null = null
    const values = this.#setCookieValues
    if (values.length > 0) {
      const wallNow = this.#context.wallNow()
      for (const value of values) {
        const cookieName = jar.receive(value, wallNow)
        if (cookieName !== undefined) {
          setCookies ??= new Map()
          setCookies.set(cookieName, jar.get(cookieName) ?? '')
        }
      }
    }
    this.#judge(now, this.#netLatency, this.#location, setCookies, this.#headers ?? NO_HEADERS)
  }

  expire(): void {
    this.timedOut = true
    if (this.#net !== null) this.#net.expire()
    else if (this.#abort) this.#abort(TIMED_OUT)
  }

  onConnect(abort: (err?: Error) => void): void {
    this.#abort = abort
    this.#connected = true
    const now = performance.now()
    if (this.#fromWrite) this.#sentAt = now
    // Aborted here, undici writes nothing; otherwise the request goes onto the socket now
    // (bytes count only what reached a socket).
    if (this.timedOut) abort(TIMED_OUT)
    else this.#context.recorder.steps[this.#step!.index]!.wrote(now, this.#txBytes)
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[]): boolean {
    this.#status = statusCode
    this.#rawHeaders = rawHeaders
    let bytes = 19
    for (let i = 0; i < rawHeaders.length; i += 2)
      bytes += rawHeaders[i]!.length + rawHeaders[i + 1]!.length + 4
    this.#rx += bytes
    return true
  }

  onData(chunk: Buffer): boolean {
    this.#rx += chunk.length
    if (this.#step!.needsBody || this.#context.observer) this.#chunks.push(chunk)
    return true
  }

  onComplete(): void {
    const context = this.#context
    const step = this.#step!
    const recorder = context.recorder.steps[step.index]!
    const now = performance.now()
    context.deadlines.remove(this)
    this.inFlight = false
    if (this.timedOut) {
      recorder.timeout(now, this.#rx)
      this.#observe(now, 'timeout')
      this.#endIteration(now, false, 'timeout')
      return
    }
    const latencyMicros = (now - this.#sentAt) * 1000
    const rawHeaders = this.#rawHeaders ?? []
    // Only a response that sets cookies allocates for them.
    let setCookies: Map<string, string> | null = null
    let location: string | undefined
    for (let i = 0; i < rawHeaders.length; i += 2) {
      const name = rawHeaders[i]!
      // First letter before any text: `Connection` and `Keep-Alive` are 10 bytes long too.
      const first = name[0]! | 0x20
      if (name.length === 10 && first === 0x73 && name.toString('latin1').toLowerCase() === 'set-cookie') {
        const cookieName = this.jar.receive(rawHeaders[i + 1]!.toString('latin1'), context.wallNow())
        if (cookieName !== undefined) {
          setCookies ??= new Map()
          setCookies.set(cookieName, this.jar.get(cookieName) ?? '')
        }
      } else if (
        name.length === 8 &&
        first === 0x6c &&
        name.toString('latin1').toLowerCase() === 'location'
      ) {
        location = rawHeaders[i + 1]!.toString('latin1')
      }
    }
    this.#judge(
      now,
      latencyMicros,
      location,
      setCookies,
      step.needsHeaders ? headerMap(rawHeaders) : NO_HEADERS,
    )
  }

  /**
   * A response arrived (either path): follows a redirect, or records the hit, checks the
   * status, runs the extractions and moves on.
   */
  #judge(
    now: number,
    latencyMicros: number,
    location: string | undefined,
    setCookies: Map<string, string> | null,
    headers: Record<string, string | string[]>,
  ): void {
    const step = this.#step!
    const recorder = this.#context.recorder.steps[step.index]!
    const status = this.#status
    this.#iterationLatency += latencyMicros
    if (location !== undefined && REDIRECTS.has(status) && this.#hops < step.followRedirects) {
      recorder.hit(now, latencyMicros, status, this.#rx, true)
      this.#observe(now)
      this.#redirect(now, status, location)
      return
    }
    const passed = step.statusPassed(status)
    recorder.hit(now, latencyMicros, status, this.#rx, passed)
    if (!passed) {
      this.#observe(now, `status ${status} is not an expected one`)
      this.#endIteration(now, false, 'status')
      return
    }
    if (step.extracts.length > 0) {
      const body = step.needsBody ? bodyText(this.#chunks) : ''
      const view: ResponseView = { headers, cookies: setCookies ?? NO_COOKIES, body }
      // What a body extraction finds depends on the body alone: the same body as the step's
      // last one (a catalogue every user gets) gives the same values, without a JSON.parse.
      const memo = step.needsBody ? bodyMemo(step) : null
      const same = memo !== null && memo.body === body
      const found = memo !== null && !same ? new Array<string>(step.extracts.length) : null
      const parsed = {}
      for (let i = 0; i < step.extracts.length; i++) {
        const extract = step.extracts[i]!
        const value = same && extract.needsBody ? memo.values[i] : extract.take(view, parsed)
        if (value === undefined) {
          recorder.error(now, 'extract', 0)
          this.#observe(now, `extraction failed: ${extract.describe}`)
          this.#endIteration(now, false, 'extract')
          return
        }
        if (found !== null) found[i] = value
        this.values[step.extractSlots[i]!] = value
        if (this.#record) this.#record.extracted[extract.as] = value
      }
      // Only a body whose every extraction succeeded is kept (one per step and process).
      if (found !== null && body.length <= MEMO_MAX_BODY) {
        memo!.body = body
        memo!.values = found
      }
    }
    this.#observe(now)
    if (this.#chunks.length !== 0) this.#chunks.length = 0
    this.#nextStep(now)
  }

  onError(err: Error): void {
    const context = this.#context
    const now = performance.now()
    context.deadlines.remove(this)
    this.inFlight = false
    if (this.timedOut || (err as { code?: string }).code === 'UND_ERR_CONNECT_TIMEOUT') {
      context.recorder.steps[this.#step!.index]!.timeout(now, this.#rx)
      this.#observe(now, 'timeout')
      // undici is still failing its queue: move on once it is done.
      queueMicrotask(() => this.#endIteration(performance.now(), false, 'timeout'))
      return
    }
    const kind = classifyError(err, this.#connected)
    queueMicrotask(() => this.#fail(performance.now(), kind, err))
  }

  onUpgrade(): void {}
  onBodySent(): void {}
  onResponseStarted(): void {}

  #fail(now: number, kind: ErrorKind, err: Error): void {
    this.#context.recorder.steps[this.#step!.index]!.error(now, kind, this.#rx)
    this.#observe(now, `${kind}: ${err.message}`)
    this.#endIteration(now, false, kind)
  }

  #redirect(now: number, status: number, location: string): void {
    let next: URL
    try {
      next = new URL(location, this.#origin + this.#path)
    } catch {
      this.#fail(now, 'parse', new Error(`bad Location "${location}"`))
      return
    }
    if (next.protocol !== 'http:' && next.protocol !== 'https:') {
      this.#fail(now, 'other', new Error(`redirect to unsupported scheme ${next.protocol}`))
      return
    }
    this.#hops++
    const keep = status === 307 || status === 308
    this.#send(now, next.origin, `${next.pathname}${next.search}`, keep ? this.#method : 'GET', keep)
  }

  #nextStep(now: number): void {
    const step = this.#step!
    const last = this.#stepIndex === this.#context.transaction.steps.length - 1
    if (last) {
      this.#endIteration(now, true, undefined)
      return
    }
    this.#stepIndex++
    const think =
      step.thinkMaxMs > 0 ? step.thinkMinMs + this.random() * (step.thinkMaxMs - step.thinkMinMs) : 0
    if (think <= 0) this.#sendStep(now)
    else
      this.#think = setTimeout(() => {
        this.#think = null
        if (this.active) this.#sendStep(performance.now())
        else this.#context.onIterationEnd(this, false)
        // (a user ramped down while thinking ends there; the iteration is not counted)
      }, think)
  }

  #endIteration(now: number, ok: boolean, kind: ErrorKind | 'timeout' | undefined): void {
    const iterations = this.#context.recorder.iterations
    if (ok) iterations.hit(now, this.#iterationLatency, 200, 0, true)
    else if (kind === 'timeout') iterations.timeout(now, 0)
    else iterations.error(now, kind ?? 'other', 0)
    this.#context.onIterationEnd(this, ok)
  }

  #observe(now: number, error?: string): void {
    const record = this.#record
    const observer = this.#context.observer
    if (!record || !observer) return
    this.#record = null
    record.latencyMs = now - this.#sentAt
    if (this.#status > 0 && !this.timedOut)
      record.response = {
        status: this.#status,
        headers: (this.#rawHeaders ?? []).map((b) => b.toString('latin1')),
        body: Buffer.concat(this.#chunks),
      }
    if (error) record.error = error
    for (const name of this.#context.transaction.slotNames) {
      const used = this.#step!.spec
      const texts = [used.request.url, ...Object.values(used.request.headers)]
      if (used.request.bodyBase64) texts.push(Buffer.from(used.request.bodyBase64, 'base64').toString('utf8'))
      if (texts.some((text) => text.includes(`#{${name}}`)))
        record.used[name] = this.values[this.#context.transaction.slotNames.indexOf(name)]!
    }
    observer.exchange(record)
  }

  /** Stops a pending think: the user ends here. Returns true when it was thinking. */
  cancelThink(): boolean {
    if (this.#think === null) return false
    clearTimeout(this.#think)
    this.#think = null
    return true
  }

  close(): void {
    for (const client of this.#clients.values()) client.close().catch(() => {})
    this.#clients.clear()
    // An idle lean connection closes now; one with a request out, once that ended.
    for (const connection of this.#leanConnections.values()) connection.exchange.close()
  }

  destroy(): void {
    this.cancelThink()
    for (const client of this.#clients.values()) client.destroy().catch(() => {})
    this.#clients.clear()
    for (const connection of this.#leanConnections.values()) connection.exchange.destroy()
    this.#leanConnections.clear()
  }
}

function headerMap(rawHeaders: Buffer[]): Record<string, string | string[]> {
  const map: Record<string, string | string[]> = {}
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!.toString('latin1').toLowerCase()
    const value = rawHeaders[i + 1]!.toString('latin1')
    const existing = map[name]
    if (existing === undefined) map[name] = value
    else if (Array.isArray(existing)) existing.push(value)
    else map[name] = [existing, value]
  }
  return map
}

/** The body as text; a body that came in one piece is not copied again. */
function bodyText(chunks: Buffer[]): string {
  return chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8')
}
