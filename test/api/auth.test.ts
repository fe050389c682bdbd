import t from 'tap'
import { hashKey } from '../../api/keys.js'
import { apiPlane, call } from './harness.js'

t.test('no route without a key but health and the OpenAPI document', async (t) => {
  const plane = await apiPlane(t)
  t.equal((await call(plane.url, 'GET', '/health')).status, 200)
  t.equal((await call(plane.url, 'GET', '/api/v2/openapi.json')).status, 200)
  for (const [method, path] of [
    ['GET', '/api/v2/rushes'],
    ['POST', '/api/v2/rushes'],
    ['GET', '/api/v2/rushes/abc'],
    ['GET', '/api/v2/rushes/abc/events'],
    ['POST', '/api/v2/rushes/abc/abort'],
    ['GET', '/api/v2/hosts'],
    ['GET', '/api/1/account/about'],
    ['POST', '/api/1/curl/execute'],
    ['GET', '/api/1/jobs/abc/status'],
    ['PUT', '/api/1/jobs/abc/abort'],
    ['GET', '/login/api'],
  ] as const) {
    const answer = await call(plane.url, method, path)
    t.equal(answer.status, 401, `${method} ${path} without a key: 401`)
    t.type(answer.body, 'object', `${method} ${path}: a JSON body`)
  }
  const v2 = await call(plane.url, 'GET', '/api/v2/rushes')
  t.match(v2.headers.get('content-type'), /application\/problem\+json/)
  t.match(v2.body, { status: 401, title: 'Unauthorized' })
  const v1 = await call(plane.url, 'GET', '/api/1/account/about')
  t.match(v1.body, { error: 'login', reason: String })
})

t.test('both header styles, any case; a wrong key or user is 401', async (t) => {
  const plane = await apiPlane(t)
  const { user, key } = await plane.tenant('alice@example.test')
  const other = await plane.tenant('bob')
  t.equal((await call(plane.url, 'GET', '/api/v2/rushes', { key })).status, 200, 'Bearer')
  t.equal(
    (await call(plane.url, 'GET', '/api/v2/rushes', { key, user })).status,
    200,
    'X-API-User + X-API-Key',
  )
  const mixedCase = await call(plane.url, 'GET', '/api/1/account/about', {
    headers: { 'X-Api-User': 'Alice@Example.test', 'x-API-key': key },
  })
  t.equal(mixedCase.status, 200, 'header names and the user in any case')
  t.equal(mixedCase.body._id, 'alice@example.test')
  t.equal((await call(plane.url, 'GET', '/api/v2/rushes', { key: `${key}x` })).status, 401, 'wrong key')
  t.equal(
    (await call(plane.url, 'GET', '/api/v2/rushes', { key: other.key, user })).status,
    401,
    "another tenant's key",
  )
  const login = await call(plane.url, 'GET', '/login/api', { key, user })
  t.same(login.body, { ok: true, api_key: key })
})

t.test('keys: stored only as hashes; rotation ends the old key; a disabled tenant is refused', async (t) => {
  const plane = await apiPlane(t, { api: { authCacheMs: 0 } })
  const { user, key } = await plane.tenant('carol')
  const all = await plane.server.couch.db(plane.api.store.dbName).list({ include_docs: true })
  const text = JSON.stringify(all)
  t.notOk(text.includes(key), 'the key is nowhere in the database')
  t.ok(text.includes(hashKey(key)), 'its hash is')
  const fresh = await plane.api.store.rotateKey(user, Date.now())
  t.equal((await call(plane.url, 'GET', '/api/v2/rushes', { key })).status, 401, 'the old key stops working')
  t.equal((await call(plane.url, 'GET', '/api/v2/rushes', { key: fresh })).status, 200, 'the new one works')
  await plane.api.store.setDisabled(user, true)
  t.equal((await call(plane.url, 'GET', '/api/v2/rushes', { key: fresh })).status, 403, 'disabled')
})

t.test('a key over its rate limit gets 429 with Retry-After', async (t) => {
  const plane = await apiPlane(t, { api: { rateLimit: 5 } })
  const { key } = await plane.tenant('dave')
  const statuses: number[] = []
  let last: Awaited<ReturnType<typeof call>> | undefined
  for (let i = 0; i < 7; i++) {
    last = await call(plane.url, 'GET', '/api/v2/rushes', { key })
    statuses.push(last.status)
  }
  t.same(statuses, [200, 200, 200, 200, 200, 429, 429])
  t.ok(Number(last!.headers.get('retry-after')) > 0, 'Retry-After says when')
  t.match(last!.body, { status: 429, quota: 'rate-limit' })
  const other = await plane.tenant('erin')
  t.equal(
    (await call(plane.url, 'GET', '/api/v2/rushes', { key: other.key })).status,
    200,
    'per key, not per server',
  )
})
