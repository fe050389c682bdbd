// biome-ignore-all lint/suspicious/noExplicitAny: JSON answers of the API, read field by field
/** A minimal server-sent-events reader for tests: events as they arrive, with their ids. */
export interface SseEvent {
  id?: string
  event: string
  data: any
}

export async function readEvents(
  url: string,
  headers: Record<string, string>,
  options: { until?: (event: SseEvent, all: SseEvent[]) => boolean; signal?: AbortSignal } = {},
): Promise<{ status: number; events: SseEvent[] }> {
  const controller = new AbortController()
  options.signal?.addEventListener('abort', () => controller.abort())
  const response = await fetch(url, { headers, signal: controller.signal })
  const events: SseEvent[] = []
  if (response.status !== 200 || !response.body) return { status: response.status, events }
  const decoder = new TextDecoder()
  let buffer = ''
  try {
    for await (const chunk of response.body) {
      buffer += decoder.decode(chunk as Uint8Array, { stream: true })
      for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
        const block = buffer.slice(0, end)
        buffer = buffer.slice(end + 2)
        const event: Partial<SseEvent> & { lines: string[] } = { lines: [] }
        for (const line of block.split('\n')) {
          if (line.startsWith('id: ')) event.id = line.slice(4)
          else if (line.startsWith('event: ')) event.event = line.slice(7)
          else if (line.startsWith('data: ')) event.lines.push(line.slice(6))
        }
        if (!event.event) continue
        const parsed: SseEvent = { event: event.event, data: JSON.parse(event.lines.join('\n')) }
        if (event.id !== undefined) parsed.id = event.id
        events.push(parsed)
        if (options.until?.(parsed, events)) {
          controller.abort()
          return { status: 200, events }
        }
      }
    }
  } catch (err) {
    if ((err as Error).name !== 'AbortError') throw err
  }
  return { status: 200, events }
}
