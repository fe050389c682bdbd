import type { Dispatcher } from 'undici'
import { parseTargetUrl, type RequestSpec } from '../lib/request-spec.js'

export interface PreparedRequest {
  options: Dispatcher.DispatchOptions
  /** The request's size on the wire, as undici writes it. */
  bytes: number
  /**
   * The request as bytes on the wire, the same undici writes, for the lean HTTP/1.1 path
   * (load/net-exchange.ts); null where that path does not apply: TLS, a `connection`
   * header of the user's (undici reads it and may open a connection per request), a line
   * break in a header.
   */
  wire: Buffer | null
}

/** Methods undici always sends a content-length for, 0 when there is no body. */
const EXPECTS_PAYLOAD = new Set(['PUT', 'POST', 'PATCH', 'QUERY', 'PROPFIND', 'PROPPATCH'])

/** Turns a spec into the one options object every request of the run reuses. */
export function prepareRequest(spec: RequestSpec): PreparedRequest {
  const url = parseTargetUrl(spec.url)
  const path = `${url.pathname}${url.search}`
  const body = spec.bodyBase64 !== undefined ? Buffer.from(spec.bodyBase64, 'base64') : undefined
  const headers: string[] = []
  let hostLine = `host: ${url.host}\r\n`
  let connectionLine = 'connection: keep-alive\r\n'
  let headerBytes = 0
  let headerLines = ''
  let plain = url.protocol === 'http:' && spec.method !== 'CONNECT'
  for (const [name, value] of Object.entries(spec.headers)) {
    headers.push(name, value)
    if (/[\r\n]/.test(name) || /[\r\n]/.test(value)) plain = false
    // Mirrors undici: a host header replaces its own; a connection header is read
    // (close: a new connection for every request), then undici writes its own.
    if (name === 'host') hostLine = `host: ${value}\r\n`
    else if (name === 'connection') {
      plain = false
      if (/(^|,)\s*close\s*(,|$)/i.test(value)) connectionLine = 'connection: close\r\n'
    } else {
      headerBytes += name.length + value.length + 4
      headerLines += `${name}: ${value}\r\n`
    }
  }
  const contentLength =
    body && body.length > 0 ? body.length : EXPECTS_PAYLOAD.has(spec.method) ? 0 : undefined
  const bytes =
    `${spec.method} ${path} HTTP/1.1\r\n`.length +
    hostLine.length +
    connectionLine.length +
    headerBytes +
    (contentLength === undefined ? 0 : `content-length: ${contentLength}\r\n`.length + contentLength) +
    2
  // The order undici writes: request line, host, connection, the headers, content-length.
  const head = `${spec.method} ${path} HTTP/1.1\r\n${hostLine}${connectionLine}${headerLines}${
    contentLength === undefined ? '' : `content-length: ${contentLength}\r\n`
  }\r\n`
  const wire = plain
    ? body && body.length > 0
      ? Buffer.concat([Buffer.from(head, 'latin1'), body])
      : Buffer.from(head, 'latin1')
    : null
  return {
    wire,
    options: {
      path,
      method: spec.method as Dispatcher.HttpMethod,
      headers,
      body: body ?? null,
      blocking: false,
    },
    bytes,
  }
}
