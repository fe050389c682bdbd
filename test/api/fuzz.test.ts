import fc from 'fast-check'
import t from 'tap'
import { apiPlane, call } from './harness.js'

/** Bodies a careless or hostile client might send: each must get a 4xx naming the problem. */
function deep(depth: number): string {
  return `${'{"a":['.repeat(depth)}1${']}'.repeat(depth)}`
}

const fields = fc.record(
  {
    request: fc.oneof(
      fc.anything(),
      fc.record({ url: fc.anything(), method: fc.anything(), timeoutMs: fc.anything() }),
    ),
    pattern: fc.oneof(fc.anything(), fc.string(), fc.constant('1e309:1'), fc.constant('99999999999-1:1')),
    rate: fc.anything(),
    regions: fc.anything(),
    thresholds: fc.anything(),
    steps: fc.anything(),
  },
  { requiredKeys: [] },
)

const body = fc.oneof(
  fc.jsonValue().map((value) => Buffer.from(JSON.stringify(value))),
  fields.map((value) => Buffer.from(JSON.stringify(value))),
  fc.uint8Array({ maxLength: 200 }).map((bytes) => Buffer.from(bytes)),
  fc.constantFrom(
    Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]), // {"a":"\xff\xfe"}
    Buffer.from(deep(5000)),
    Buffer.from('{"request":{"url":"http://127.0.0.1/"},"pattern":"1-1e308:1"}'),
    Buffer.from('{"request":{"url":"http://127.0.0.1/"},"pattern":"1:1","maxInFlight":1e300}'),
    Buffer.from(
      '{"steps":[{"url":"http://127.0.0.1/","timeout":1e400}],"pattern":{"intervals":[{"start":1,"end":1,"duration":1e9}]}}',
    ),
  ),
)

t.test('1,000 fuzzed bodies each get a 4xx naming the problem, and the server stays up', async (t) => {
  const plane = await apiPlane(t, { api: { rateLimit: 0 } })
  const { key, user } = await plane.tenant('fuzzer')
  const routes = ['/api/v2/rushes', '/api/1/curl/execute', '/api/v2/sprints', '/api/v2/hosts']
  const types = ['application/json', 'application/x-www-form-urlencoded', 'text/plain', undefined]
  let count = 0
  const failures: string[] = []
  await fc.assert(
    fc.asyncProperty(body, fc.nat(routes.length - 1), fc.nat(types.length - 1), async (payload, r, c) => {
      count++
      const url = routes[r]!
      const type = types[c]
      const response = await plane.api.app.inject({
        method: 'POST',
        url,
        payload,
        headers: { 'x-api-user': user, 'x-api-key': key, ...(type && { 'content-type': type }) },
      })
      const answer = JSON.parse(response.body)
      const named =
        typeof (answer.detail ?? answer.reason) === 'string' && (answer.detail ?? answer.reason).length > 0
      if (response.statusCode < 400 || response.statusCode >= 500 || !named) {
        failures.push(
          `${url} ${payload.subarray(0, 80).toString()} → ${response.statusCode} ${response.body.slice(0, 200)}`,
        )
      }
    }),
    { numRuns: 1000, seed: 9 },
  )
  t.equal(count, 1000)
  t.same(failures, [], 'every body refused with a reason')

  const huge = Buffer.alloc(10 * 1024 * 1024, 0x20)
  const big = await fetch(`${plane.url}/api/v2/rushes`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: huge,
  })
  t.equal(big.status, 413, 'a 10 MB body is refused by size')
  t.match(await big.json(), { detail: /too large/ })
  t.equal((await call(plane.url, 'GET', '/health')).status, 200, 'still up')
})
