import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { emptyPoint } from '../../lib/timeline.js'
import { distributionOf, liveRow } from '../../web/dashboard/rows.js'
import { follow, parseEvents } from '../../web/dashboard/sse.js'

t.test('parseEvents: complete events out, a partial one kept for the next chunk', async (t) => {
  const first = parseEvents('retry: 1000\n\nid: 0\nevent: second\ndata: {"t":0}\n\nid: 1\nevent: sec')
  t.same(first.events, [{ id: '0', event: 'second', data: '{"t":0}' }], 'a retry-only block is no event')
  t.equal(first.rest, 'id: 1\nevent: sec')
  const second = parseEvents(`${first.rest}ond\ndata: {"t":1}\n\n: keep-alive\n\n`)
  t.same(second.events, [{ id: '1', event: 'second', data: '{"t":1}' }], 'comments skipped')
  t.equal(second.rest, '')
})

t.test('parseEvents: CRLF, multi-line data, no space after the colon, default event name', async (t) => {
  const { events } = parseEvents('data:a\r\ndata: b\r\n\r\nid: end\r\nevent: end\r\ndata: {}\r\n\r\n')
  t.same(events, [
    { event: 'message', data: 'a\nb' },
    { id: 'end', event: 'end', data: '{}' },
  ])
})

t.test('liveRow: a merged Point as the report’s row, latency in ms, mean and max exact', async (t) => {
  const point = {
    ...emptyPoint(7),
    concurrency: 40,
    sent: 101,
    hits: 100,
    errors: { ...emptyPoint(0).errors, connect: 2, status: 1 },
    timeouts: 3,
    statuses: { '200': 99, '500': 1 },
    latencyCount: 100,
    latencySum: 2_500_000,
    latencyMin: 1000,
    latencyMax: 90_500,
  }
  const row = liveRow(point)
  t.match(row, {
    t: 7,
    users: 40,
    hits: 100,
    errors: 3,
    timeouts: 3,
    errorsByKind: { connect: 2, status: 1 },
    statuses: { '200': 99, '500': 1 },
    latency: null,
    meanMs: 25,
    maxMs: 90.5,
  })
  t.same(Object.keys(row.errorsByKind).sort(), ['connect', 'status'], 'only the kinds that happened')
  t.equal(liveRow(emptyPoint(0)).meanMs, null, 'no response, no mean')
  const latency = { count: 1, min: 1, mean: 2, p50: 2, p90: 3, p95: 4, p99: 5, max: 9 }
  t.same(liveRow({ ...point, latency }).latency, latency, 'percentiles used when the stream has them')
})

t.test('distributionOf: the summary’s percentiles as a curve ending at the max', async (t) => {
  const curve = distributionOf({ min: 1, p50: 2, p90: 3, p95: 4, p99: 5, p999: 6, max: 7 })
  t.same(
    curve.map((point) => point.percentile),
    [0, 50, 90, 95, 99, 99.9, 100],
  )
  t.equal(curve.at(-1)!.ms, 7)
})

t.test('follow: a dropped stream is reopened with Last-Event-ID; an HTTP error is thrown', async (t) => {
  const asked: (string | undefined)[] = []
  const server = createServer((request, response) => {
    if (request.headers.authorization !== 'Bearer k')
      return response.writeHead(401).end('{"detail":"no key"}')
    const last = request.headers['last-event-id'] as string | undefined
    asked.push(last)
    response.writeHead(200, { 'content-type': 'text/event-stream' })
    if (last === undefined) {
      // Two seconds, then the connection breaks mid-event.
      response.write(
        'id: 0\nevent: second\ndata: {"t":0}\n\nid: 1\nevent: second\ndata: {"t":1}\n\nid: 2\nevent: sec',
      )
      setImmediate(() => response.destroy())
    } else {
      response.end(
        `id: ${Number(last) + 1}\nevent: second\ndata: {"t":${Number(last) + 1}}\n\nid: end\nevent: end\ndata: {}\n\n`,
      )
    }
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => server.close())
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/events`
  const seen: string[] = []
  let retries = 0
  await follow(url, {
    headers: { authorization: 'Bearer k' },
    signal: new AbortController().signal,
    isLast: (event) => event.event === 'end',
    onEvent: (event) => seen.push(`${event.event}:${event.id}`),
    onRetry: () => retries++,
    retryMs: 10,
  })
  t.same(seen, ['second:0', 'second:1', 'second:2', 'end:end'], 'every second once, then the end')
  t.same(asked, [undefined, '1'], 'resumed after the last whole event')
  t.equal(retries, 1)
  await t.rejects(
    follow(url, {
      headers: {},
      signal: new AbortController().signal,
      isLast: () => true,
      onEvent: () => {},
    }),
    { status: 401, message: 'no key' },
  )
})
