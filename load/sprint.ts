import { createServer, connect as netConnect, type Socket } from 'node:net'
import { type TLSSocket, connect as tlsConnect } from 'node:tls'
import { Client, type Dispatcher } from 'undici'
import { hasCode, StampedeError } from '../lib/errors.js'
import { compileStatusMatcher, parseTargetUrl, type RequestSpec } from '../lib/request-spec.js'
import type { ErrorKind } from '../lib/timeline.js'
import { classifyError } from './classify.js'
import { prepareRequest } from './request.js'
import { type AddressPolicy, assertAllowed } from './safety.js'
import { resolveAddresses, urlHostname } from './target.js'

/** Milliseconds from the start of the sprint at which each phase ended. */
export interface SprintTimings {
  dns: number
  connect: number
  tls: number | null
  firstByte: number
  total: number
}

export interface SprintResult {
  method: string
  url: string
  /** The address actually connected to, `ip:port`. */
  remote?: string
  status?: number
  statusText?: string
  headers: [string, string][]
  bodyBytes: number
  /** The start of the body as text (non-printable bytes replaced). */
  bodySnippet: string
  timings: Partial<SprintTimings>
  tls?: {
    protocol: string | null
    cipher: string
    subject?: string
    issuer?: string
    validTo?: string
    authorized: boolean
  }
  /** The response met the expected status (always true when none was asked). */
  passed: boolean
  error?: { kind: ErrorKind | 'timeout'; code: string; message: string }
}

const SNIPPET_BYTES = 512

function toSnippet(chunks: Buffer[]): string {
  const head = Buffer.concat(chunks).subarray(0, SNIPPET_BYTES)
  // biome-ignore lint/suspicious/noControlCharactersInRegex: replacing control characters is the point
  return head.toString('utf8').replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g, '.')
}

/**
 * One request with every detail: each phase is timed on its own (name resolution,
 * TCP connect, TLS handshake, first byte, last byte), on a connection of its own.
 */
export async function sprint(spec: RequestSpec, policy: AddressPolicy): Promise<SprintResult> {
  await warmUp()
  const url = parseTargetUrl(spec.url)
  const result: SprintResult = {
    method: spec.method,
    url: url.href,
    headers: [],
    bodyBytes: 0,
    bodySnippet: '',
    timings: {},
    passed: false,
  }
  const started = performance.now()
  const since = () => Math.round((performance.now() - started) * 1000) / 1000
  const deadline = started + spec.timeoutMs
  let socket: Socket | undefined
  let connected = false
  let timer: NodeJS.Timeout | undefined

  const work = (async () => {
    const hostname = urlHostname(url)
    const [first] = await resolveAddresses(hostname, spec, policy)
    result.timings.dns = since()
    const port = Number(url.port) || (url.protocol === 'https:' ? 443 : 80)
    socket = await openSocket(
      () => netConnect({ host: first!.address, port, family: first!.family }),
      'connect',
    )
    result.remote = `${socket.remoteAddress}:${socket.remotePort}`
    assertAllowed(socket.remoteAddress ?? '', policy)
    result.timings.connect = since()
    if (url.protocol === 'https:') {
      const plain = socket
      const secure = await openSocket(
        () =>
          tlsConnect({
            socket: plain,
            servername: hostname === first!.address ? undefined : hostname,
            rejectUnauthorized: !spec.insecure,
            ALPNProtocols: ['http/1.1'],
          }),
        'secureConnect',
      )
      socket = secure
      result.timings.tls = since()
      result.tls = describeTls(secure as TLSSocket)
    } else {
      result.timings.tls = null
    }
    connected = true
    await exchange(spec, socket, result, since)
  })()

  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new StampedeError('STAMPEDE_TIMEOUT', `no complete response within ${spec.timeoutMs} ms`)),
      Math.max(0, deadline - performance.now()),
    )
  })

  try {
    await Promise.race([work, timeout])
    result.passed = compileStatusMatcher(spec.expectStatus)(result.status!)
  } catch (err) {
    const code = String((err as { code?: string }).code ?? 'ERROR')
    const kind = hasCode(err, 'STAMPEDE_TIMEOUT') ? 'timeout' : classifyError(err, connected)
    result.error = { kind, code, message: (err as Error).message }
    result.passed = false
  } finally {
    clearTimeout(timer)
    socket?.destroy()
    work.catch(() => {})
  }
  return result
}

function openSocket<S extends Socket>(open: () => S, readyEvent: 'connect' | 'secureConnect'): Promise<S> {
  return new Promise((resolve, reject) => {
    const socket = open()
    socket.once(readyEvent, () => {
      socket.off('error', reject)
      resolve(socket)
    })
    socket.once('error', reject)
  })
}

function describeTls(socket: TLSSocket): SprintResult['tls'] {
  const certificate = socket.getPeerCertificate()
  const name = (entity: unknown) =>
    entity && typeof entity === 'object' ? ((entity as Record<string, string>).CN ?? undefined) : undefined
  return {
    protocol: socket.getProtocol(),
    cipher: socket.getCipher().name,
    subject: name(certificate?.subject),
    issuer: name(certificate?.issuer),
    validTo: certificate?.valid_to,
    authorized: socket.authorized,
  }
}

/** Sends the request on the already open socket through undici and records the response. */
function exchange(
  spec: RequestSpec,
  socket: Socket,
  result: SprintResult,
  since: () => number,
): Promise<void> {
  const { options } = prepareRequest(spec)
  const url = parseTargetUrl(spec.url)
  const client = new Client(url.origin, {
    // The socket is already open (each phase was timed on its own): hand it over.
    connect: (_options, callback) => {
      process.nextTick(callback, null, socket)
      return socket
    },
    pipelining: 1,
  })
  const chunks: Buffer[] = []
  let kept = 0
  return new Promise<void>((resolve, reject) => {
    const handler: Dispatcher.DispatchHandler = {
      onConnect() {},
      onHeaders(statusCode, rawHeaders, _resume, statusText) {
        result.timings.firstByte = since()
        result.status = statusCode
        result.statusText = statusText
        for (let i = 0; i < rawHeaders.length; i += 2) {
          result.headers.push([rawHeaders[i]!.toString('latin1'), rawHeaders[i + 1]!.toString('latin1')])
        }
        return true
      },
      onData(chunk) {
        result.bodyBytes += chunk.length
        if (kept < SNIPPET_BYTES) {
          chunks.push(chunk)
          kept += chunk.length
        }
        return true
      },
      onComplete() {
        result.timings.total = since()
        result.bodySnippet = toSnippet(chunks)
        resolve()
      },
      onError(err) {
        reject(err)
      },
    }
    client.dispatch(options, handler)
  }).finally(() => {
    client.destroy().catch(() => {})
  })
}

let warmed = false

/**
 * Runs the connect-and-exchange path once against a throwaway server inside this
 * process, so that the timed request does not also pay for loading and compiling that
 * code (tens of milliseconds on a cold start, which would be misread as the target's).
 */
async function warmUp(): Promise<void> {
  if (warmed) return
  warmed = true
  const server = createServer((socket) => {
    socket.once('data', () => socket.end('HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n'))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  try {
    const socket = await openSocket(() => netConnect({ host: '127.0.0.1', port }), 'connect')
    const spec: RequestSpec = {
      method: 'GET',
      url: `http://127.0.0.1:${port}/`,
      headers: {},
      timeoutMs: 1000,
    }
    const scratch: SprintResult = {
      method: 'GET',
      url: spec.url,
      headers: [],
      bodyBytes: 0,
      bodySnippet: '',
      timings: {},
      passed: false,
    }
    await exchange(spec, socket, scratch, () => 0)
  } catch {
    // Warming is best effort; the timed request reports its own errors.
  } finally {
    server.close()
  }
}
