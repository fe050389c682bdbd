// biome-ignore-all lint/suspicious/noExplicitAny: JSON answers of the API, read field by field
import SwaggerParser from '@apidevtools/swagger-parser'
import t from 'tap'
import { rushResult } from '../../lib/couch/rushes.js'
import { expectedSeconds } from '../harness/plane.js'
import { apiPlane, call } from './harness.js'
import { readEvents } from './sse.js'

t.test('the OpenAPI document is valid OpenAPI 3 and describes the v2 routes', async (t) => {
  const plane = await apiPlane(t)
  const { body } = await call(plane.url, 'GET', '/api/v2/openapi.json')
  const api = (await SwaggerParser.validate(structuredClone(body))) as any
  t.match(api.openapi, /^3\./)
  for (const path of [
    '/rushes',
    '/rushes/{id}',
    '/rushes/{id}/abort',
    '/rushes/{id}/events',
    '/hosts',
    '/hosts/{host}/verify',
  ]) {
    t.ok(api.paths[path], `documents ${path}`)
  }
  t.notOk(
    Object.keys(api.paths).some((path: string) => path.includes('/api/1')),
    'v1 is not in the v2 document',
  )
})

t.test(
  'a two-region rush through v2: submit, follow, resume, read; numbers as the job plane merges them',
  async (t) => {
    const plane = await apiPlane(t, { regions: ['us-east-1', 'eu-west-1'], engines: 1 })
    const { key } = await plane.tenant('alice', {}, ['127.0.0.1'])
    const submitted = await call(plane.url, 'POST', '/api/v2/rushes', {
      key,
      body: {
        request: { url: `${plane.target.url}/` },
        pattern: '2-4:3',
        regions: ['us-east-1', 'ireland'],
        thresholds: ['errors<1%', 'p95<5s'],
      },
    })
    t.equal(submitted.status, 201, JSON.stringify(submitted.body))
    const id = submitted.body.id as string
    t.equal(submitted.headers.get('location'), `/api/v2/rushes/${id}`)
    const auth = { authorization: `Bearer ${key}` }

    // Follow, stop after second 1, resume with Last-Event-ID: no gap, no repeat.
    const first = await readEvents(`${plane.url}/api/v2/rushes/${id}/events`, auth, {
      until: (event) => event.event === 'second' && event.data.t === 1,
    })
    t.same(
      first.events.map((event) => event.id),
      ['0', '1'],
    )
    const rest = await readEvents(
      `${plane.url}/api/v2/rushes/${id}/events`,
      { ...auth, 'last-event-id': '1' },
      {
        until: (event) => event.event === 'end',
      },
    )
    const seconds = [...first.events, ...rest.events].filter((event) => event.event === 'second')
    const planned = await expectedSeconds(plane.server.couch, id, 3)
    t.same(
      seconds.map((event) => event.data.t),
      Array.from({ length: planned }, (_, i) => i),
      'every second once, in order',
    )
    const end = rest.events.at(-1)!
    t.equal(end.event, 'end')
    t.equal(end.data.state, 'done')
    t.equal(end.data.verdict, 'passed')

    const read = await call(plane.url, 'GET', `/api/v2/rushes/${id}`, { key })
    t.equal(read.status, 200)
    t.equal(read.body.state, 'done')
    t.same(read.body.regions, ['us-east-1', 'eu-west-1'])
    t.equal(read.body.shards.length, 2)
    t.equal(read.body.verdict, 'passed')
    t.equal(read.body.timeline.length, planned)
    const couch = await rushResult(plane.server.couch, id)
    t.equal(read.body.summary.hits, couch.summary.hits, 'the same hits as a --couch read')
    t.equal(read.body.summary.latency.p95, couch.summary.latency.p95, 'the same p95')
    t.equal(read.body.summary.hits, plane.target.count, 'every request the target saw')
    const sum = seconds.reduce((total, event) => total + event.data.hits, 0)
    t.equal(sum, couch.summary.hits, 'the streamed seconds add up')

    const list = await call(plane.url, 'GET', '/api/v2/rushes', { key })
    t.same(
      list.body.rushes.map((rush: { id: string }) => rush.id),
      [id],
    )
  },
)

t.test("isolation: another tenant's rush answers 404 everywhere, exactly as an unknown id", async (t) => {
  const plane = await apiPlane(t)
  const alice = await plane.tenant('alice')
  const mallory = await plane.tenant('mallory')
  const submitted = await call(plane.url, 'POST', '/api/v2/rushes', {
    key: alice.key,
    body: { request: { url: `${plane.target.url}/` }, pattern: '1:30' },
  })
  t.equal(submitted.status, 201)
  const id = submitted.body.id
  for (const [method, path] of [
    ['GET', `/api/v2/rushes/${id}`],
    ['GET', `/api/v2/rushes/${id}/events`],
    ['POST', `/api/v2/rushes/${id}/abort`],
    ['GET', `/api/1/jobs/${id}/status`],
    ['PUT', `/api/1/jobs/${id}/abort`],
  ] as const) {
    const theirs = await call(plane.url, method, path, { key: mallory.key })
    const unknown = await call(plane.url, method, path.replace(id, 'zzzz-00000000'), { key: mallory.key })
    t.equal(theirs.status, 404, `${method} ${path}: 404`)
    t.equal(unknown.status, 404)
    t.same(
      { ...theirs.body, detail: undefined, reason: undefined },
      { ...unknown.body, detail: undefined, reason: undefined },
      'the same answer as an unknown id',
    )
  }
  t.same((await call(plane.url, 'GET', '/api/v2/rushes', { key: mallory.key })).body.rushes, [], 'not listed')
  const still = await call(plane.url, 'GET', `/api/v2/rushes/${id}`, { key: alice.key })
  t.equal(still.body.state !== 'aborted', true, "mallory's abort did nothing")
  const aborted = await call(plane.url, 'POST', `/api/v2/rushes/${id}/abort`, { key: alice.key })
  t.same(aborted.body, { id, state: 'aborted' })
})

t.test('bad rushes are problems naming the field; quotas name the quota', async (t) => {
  const plane = await apiPlane(t)
  const { key } = await plane.tenant('alice', { maxUsers: 10, maxDuration: 60, regions: ['us-east-1'] })
  const url = `${plane.target.url}/`
  const cases: [string, unknown, number, Record<string, unknown>][] = [
    ['no request', { pattern: '1:1' }, 400, { field: '/request' }],
    ['a number for the url', { request: { url: 5 }, pattern: '1:1' }, 400, { field: '/request/url' }],
    ['an unknown field', { request: { url }, pattern: '1:1', users: 5 }, 400, { field: '/users' }],
    ['pattern and rate', { request: { url }, pattern: '1:1', rate: '1:1' }, 400, { field: '/pattern' }],
    ['a bad pattern', { request: { url }, pattern: 'lots' }, 400, { field: '/pattern' }],
    ['an unknown region', { request: { url }, pattern: '1:1', regions: ['mars'] }, 400, { field: 'regions' }],
    ['a bad threshold', { request: { url }, pattern: '1:1', thresholds: ['fast'] }, 400, {}],
    ['an ftp url', { request: { url: 'ftp://127.0.0.1/' }, pattern: '1:1' }, 400, {}],
    ['pipelining 65', { request: { url }, pattern: '1:1', pipelining: 65 }, 400, { field: '/pipelining' }],
    ['pipelining 1.5', { request: { url }, pattern: '1:1', pipelining: 1.5 }, 400, { field: '/pipelining' }],
    [
      'pipelining with a rate',
      { request: { url }, rate: '1:1', pipelining: 2 },
      400,
      { field: '/pipelining', detail: /goes with users/ },
    ],
    ['too many users', { request: { url }, pattern: '1-11:5' }, 403, { quota: 'max-users' }],
    [
      'pipelining past the users quota',
      { request: { url }, pattern: '4:1', pipelining: 3 },
      403,
      { quota: 'max-users', detail: /12 requests in flight \(4 users × pipelining 3\)/ },
    ],
    ['too long', { request: { url }, pattern: '1:61' }, 403, { quota: 'max-duration' }],
  ]
  for (const [what, body, status, fields] of cases) {
    const answer = await call(plane.url, 'POST', '/api/v2/rushes', { key, body })
    t.equal(answer.status, status, `${what}: ${status} (${answer.body.detail})`)
    t.match(answer.headers.get('content-type'), /application\/problem\+json/)
    t.match(answer.body, { status, detail: String, ...fields }, what)
  }
})

t.test('pipelining through v2: kept on the rush, run by the engine, shown on the read', async (t) => {
  const plane = await apiPlane(t, { engines: 1 })
  const { key } = await plane.tenant('alice', {}, ['127.0.0.1'])
  const submitted = await call(plane.url, 'POST', '/api/v2/rushes', {
    key,
    body: { request: { url: `${plane.target.url}/delay/20` }, pattern: '2:2', pipelining: 3 },
  })
  t.equal(submitted.status, 201, JSON.stringify(submitted.body))
  const id = submitted.body.id as string
  const events = await readEvents(
    `${plane.url}/api/v2/rushes/${id}/events`,
    { authorization: `Bearer ${key}` },
    { until: (event) => event.event === 'end' },
  )
  t.equal(events.events.at(-1)!.data.state, 'done')
  const read = await call(plane.url, 'GET', `/api/v2/rushes/${id}`, { key })
  t.equal(read.body.pipelining, 3)
  t.equal(read.body.summary.errors, 0)
  t.equal(read.body.summary.hits, plane.target.count, 'every request the target saw')
  // Node's target queues pipelined answers: 2 users with 3 each in flight.
  t.ok(plane.target.peakInFlight > 2, `more in flight (${plane.target.peakInFlight}) than users`)
  t.ok(plane.target.peakInFlight <= 6)
})
