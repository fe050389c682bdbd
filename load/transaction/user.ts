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
  /** Seen by `stampede sprint`: each exchange in full. */
  observer?: ExchangeObserver
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
const EXPECTS_PAYLOAD = new Set(['PUT', 'POST', 'PATCH', 'QUERY', 'PROPFIND', 'PROPPATCH'])

/**
 * One user of a transaction: its own connection(s), cookie jar and variables, kept across
 * steps and iterations. Like the single-request path's Exchange it is its own undici
 * handler, reused for every request; what it allocates per request is what a transaction
 * needs (the rendered path and headers, and the body only when an extraction reads it).
 */
export class TransactionUser implements Dispatcher.DispatchHandler {
  readonly #context: UserContext
  readonly number: number
  readonly random: () => number
  readonly values: string[]
  readonly jar = new CookieJar()
  readonly #clients = new Map<string, Client>()
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
    let body: Buffer | null = null
    if (withBody && step.body !== undefined)
      body = Buffer.isBuffer(step.body)
        ? step.body
        : Buffer.from(renderTemplate(step.body as Template, this.values))
    const length = body && body.length > 0 ? body.length : EXPECTS_PAYLOAD.has(method) ? 0 : -1
    if (length >= 0) bytes += `content-length: ${length}\r\n`.length + length
    this.#origin = origin
    this.#path = path
    this.#method = method
    this.#status = 0
    this.#rx = 0
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

  expire(): void {
    this.timedOut = true
    if (this.#abort) this.#abort(TIMED_OUT)
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
    const status = this.#status
    const latencyMicros = (now - this.#sentAt) * 1000
    this.#iterationLatency += latencyMicros
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
      const view: ResponseView = {
        headers: step.extracts.some((extract) => extract.describe.startsWith('header'))
          ? headerMap(rawHeaders)
          : {},
        cookies: setCookies ?? NO_COOKIES,
        body: step.needsBody ? Buffer.concat(this.#chunks).toString('utf8') : '',
      }
      const parsed = {}
      for (let i = 0; i < step.extracts.length; i++) {
        const extract = step.extracts[i]!
        const value = extract.take(view, parsed)
        if (value === undefined) {
          recorder.error(now, 'extract', 0)
          this.#observe(now, `extraction failed: ${extract.describe}`)
          this.#endIteration(now, false, 'extract')
          return
        }
        this.values[step.extractSlots[i]!] = value
        if (this.#record) this.#record.extracted[extract.as] = value
      }
    }
    this.#observe(now)
    this.#chunks.length = 0
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
  }

  destroy(): void {
    this.cancelThink()
    for (const client of this.#clients.values()) client.destroy().catch(() => {})
    this.#clients.clear()
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
