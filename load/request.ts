import type { Dispatcher } from 'undici'
import { parseTargetUrl, type RequestSpec } from './spec.js'

export interface PreparedRequest {
  options: Dispatcher.DispatchOptions
  /** The request's size on the wire as undici writes it. */
  bytes: number
}

/** Turns a spec into the one options object every request of the run reuses. */
export function prepareRequest(spec: RequestSpec): PreparedRequest {
  const url = parseTargetUrl(spec.url)
  const path = `${url.pathname}${url.search}`
  const body = spec.bodyBase64 !== undefined ? Buffer.from(spec.bodyBase64, 'base64') : undefined
  const headers: string[] = []
  for (const [name, value] of Object.entries(spec.headers)) headers.push(name, value)
  let bytes = `${spec.method} ${path} HTTP/1.1\r\nhost: ${url.host}\r\nconnection: keep-alive\r\n`.length + 2
  for (let i = 0; i < headers.length; i += 2) bytes += headers[i]!.length + headers[i + 1]!.length + 4
  if (body) bytes += `content-length: ${body.length}\r\n`.length + body.length
  return {
    options: { path, method: spec.method as Dispatcher.HttpMethod, headers, body: body ?? null, blocking: false },
    bytes,
  }
}
