/**
 * Server-sent events over `fetch`, not `EventSource`: an EventSource cannot send the
 * `Authorization` header, and the key must not travel in a URL (it would land in logs and
 * history). The parser is pure (text in, events out) so it is tested without a browser.
 */
export interface StreamEvent {
  id?: string
  event: string
  data: string
}

/** Splits complete events off `buffer`; returns them and what is left (a partial event). */
export function parseEvents(buffer: string): { events: StreamEvent[]; rest: string } {
  const events: StreamEvent[] = []
  const text = buffer.replace(/\r\n?/g, '\n')
  let start = 0
  for (let end = text.indexOf('\n\n', start); end >= 0; end = text.indexOf('\n\n', start)) {
    const block = text.slice(start, end)
    start = end + 2
    let id: string | undefined
    let event = 'message'
    const data: string[] = []
    for (const line of block.split('\n')) {
      if (line === '' || line.startsWith(':')) continue
      const colon = line.indexOf(':')
      const field = colon < 0 ? line : line.slice(0, colon)
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '')
      if (field === 'id') id = value
      else if (field === 'event') event = value
      else if (field === 'data') data.push(value)
    }
    if (data.length === 0) continue
    events.push({ ...(id !== undefined && { id }), event, data: data.join('\n') })
  }
  return { events, rest: text.slice(start) }
}

export interface FollowOptions {
  headers: Record<string, string>
  onEvent(event: StreamEvent): void
  /** Told when the connection drops and a retry is scheduled (the page says "reconnecting"). */
  onRetry?(error: unknown): void
  signal: AbortSignal
  /** A terminal event: after it the stream is not reopened. */
  isLast(event: StreamEvent): boolean
  retryMs?: number
}

/**
 * Follows `url` until a last event or the signal; on a dropped connection reconnects with
 * `Last-Event-ID`, so the server resumes after the last second seen (no gap, no repeat).
 * An HTTP error (401, 404) is thrown, not retried.
 */
export async function follow(url: string, options: FollowOptions): Promise<void> {
  let lastId: string | undefined
  for (;;) {
    let response: Response
    try {
      response = await fetch(url, {
        headers: { ...options.headers, ...(lastId !== undefined && { 'last-event-id': lastId }) },
        signal: options.signal,
      })
    } catch (err) {
      if (options.signal.aborted) return
      options.onRetry?.(err)
      await pause(options.retryMs ?? 1000, options.signal)
      continue
    }
    if (!response.ok || !response.body) throw new HttpError(response.status, await problemDetail(response))
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader()
    let buffer = ''
    try {
      for (;;) {
        const { value, done } = await reader.read()
        if (done) break
        const parsed = parseEvents(buffer + value)
        buffer = parsed.rest
        for (const event of parsed.events) {
          if (event.id !== undefined) lastId = event.id
          options.onEvent(event)
          if (options.isLast(event)) {
            await reader.cancel().catch(() => {})
            return
          }
        }
      }
    } catch (err) {
      if (options.signal.aborted) return
      options.onRetry?.(err)
    }
    if (options.signal.aborted) return
    await pause(options.retryMs ?? 1000, options.signal)
  }
}

export class HttpError extends Error {
  readonly status: number
  constructor(status: number, message: string) {
    super(message)
    this.status = status
  }
}

/** The one-line message of an RFC 9457 problem document (or the status text). */
export async function problemDetail(response: Response): Promise<string> {
  const text = await response.text().catch(() => '')
  try {
    const body = JSON.parse(text) as { detail?: unknown; reason?: unknown }
    if (typeof body.detail === 'string') return body.detail
    if (typeof body.reason === 'string') return body.reason
  } catch {}
  return `${response.status} ${response.statusText}`.trim()
}

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms)
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer)
        resolve()
      },
      { once: true },
    )
  })
}
