import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import { ApiClient, RETRY_DELAYS_MS, retryAfterMs } from '../../cli/api-client.js'

/** An API stand-in on 127.0.0.1 that answers each request with the next of `answers`. */
async function scripted(
  t: Test,
  answers: Array<{ status: number; body: unknown; headers?: Record<string, string> }>,
) {
  const seen: string[] = []
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    seen.push(`${req.method} ${req.url}`)
    const answer = answers[Math.min(seen.length, answers.length) - 1]!
    res.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers })
    res.end(JSON.stringify(answer.body))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  const waits: number[] = []
  const client = new ApiClient(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, 'k', {
    sleep: async (ms) => {
      waits.push(ms)
    },
  })
  return { client, seen, waits }
}

const unavailable = { status: 503, body: { detail: 'the job plane is unavailable; try again' } }

t.test('a read answered 503 is tried again, then succeeds', async (t) => {
  const { client, seen, waits } = await scripted(t, [
    unavailable,
    unavailable,
    { status: 200, body: { id: 'r1' } },
  ])
  t.same(await client.call('GET', '/rushes/r1'), { id: 'r1' })
  t.equal(seen.length, 3)
  t.same(waits, RETRY_DELAYS_MS.slice(0, 2), 'waited the first two delays')
})

t.test('a read still unavailable after every try is one clear error', async (t) => {
  const { client, seen, waits } = await scripted(t, [unavailable])
  await t.rejects(client.call('GET', '/rushes/r1'), {
    code: 'STAMPEDE_API',
    message: 'GET /rushes/r1: the job plane is unavailable; try again',
  })
  t.equal(seen.length, RETRY_DELAYS_MS.length + 1)
  t.same(waits, RETRY_DELAYS_MS)
})

t.test('a write is not tried again (it may have been done)', async (t) => {
  const { client, seen, waits } = await scripted(t, [unavailable, { status: 201, body: { id: 'r2' } }])
  await t.rejects(client.call('POST', '/rushes', { pattern: '1:1' }), { code: 'STAMPEDE_API' })
  t.same(seen, ['POST /api/v2/rushes'])
  t.same(waits, [])
})

t.test('a refusal is not tried again; a Retry-After in seconds is waited for', async (t) => {
  const refused = await scripted(t, [{ status: 404, body: { detail: 'no rush r9' } }])
  await t.rejects(refused.client.call('GET', '/rushes/r9'), { message: 'no rush r9' })
  t.equal(refused.seen.length, 1)
  const later = await scripted(t, [
    { ...unavailable, headers: { 'retry-after': '2' } },
    { status: 200, body: { ok: true } },
  ])
  t.same(await later.client.call('GET', '/hosts'), { ok: true })
  t.same(later.waits, [2000])
  t.equal(retryAfterMs('60'), undefined, 'too long to wait: the usual delay instead')
  t.equal(retryAfterMs('Wed, 21 Oct 2026 07:28:00 GMT'), undefined)
})
