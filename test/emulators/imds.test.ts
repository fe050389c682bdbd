import { MetadataService } from '@aws-sdk/ec2-metadata-service'
import t from 'tap'
import type { ImdsEmulator } from '../../emulators/imds.js'
import { ManualClock } from '../../lib/clock.js'
import { testImds } from '../harness/aws.js'

const instance = {
  instanceId: 'i-0123456789abcdef0',
  region: 'eu-west-1',
  az: 'eu-west-1b',
  instanceType: 'c7g.large',
  userData: '#cloud-config\n',
}

const imds = (t: { teardown: (fn: () => unknown) => void }, clock = new ManualClock()) =>
  testImds(t, instance, clock)

function sdk(
  server: ImdsEmulator,
  options: ConstructorParameters<typeof MetadataService>[0] = {},
): MetadataService {
  return new MetadataService({
    endpoint: server.url,
    ec2MetadataV1Disabled: true,
    retries: 0,
    httpOptions: { timeout: 500 },
    ...options,
  })
}

/** The HTTP status an SDK call failed with. */
async function failedWith(call: Promise<unknown>): Promise<number | undefined> {
  return call.then(
    () => undefined,
    (error: { $metadata?: { httpStatusCode?: number } }) => error.$metadata?.httpStatusCode,
  )
}

async function token(server: ImdsEmulator, ttl = '60'): Promise<string> {
  const res = await fetch(`${server.url}/latest/api/token`, {
    method: 'PUT',
    headers: { 'x-aws-ec2-metadata-token-ttl-seconds': ttl },
  })
  return res.text()
}

t.test('the real SDK client reads the identity paths through a token', async (t) => {
  const server = await imds(t)
  const client = sdk(server)
  t.equal(await client.request('/latest/meta-data/instance-id', {}), instance.instanceId)
  t.equal(await client.request('/latest/meta-data/placement/region', {}), 'eu-west-1')
  t.equal(await client.request('/latest/meta-data/placement/availability-zone', {}), 'eu-west-1b')
  t.equal(await client.request('/latest/meta-data/instance-type', {}), 'c7g.large')
  t.equal(await client.request('/latest/user-data', {}), '#cloud-config\n')
  const document = JSON.parse(await client.request('/latest/dynamic/instance-identity/document', {}))
  t.match(document, { instanceId: instance.instanceId, region: 'eu-west-1', availabilityZone: 'eu-west-1b' })
  const puts = server.requests.filter((r) => r.method === 'PUT')
  t.equal(puts.length, 6, 'the SDK fetches a new token for every request')
  t.ok(
    server.requests.filter((r) => r.method === 'GET').every((r) => r.status === 200),
    'every read carried a token',
  )
})

t.test('without a valid token every read is refused: IMDSv2 only', async (t) => {
  const server = await imds(t)
  t.equal((await fetch(`${server.url}/latest/meta-data/instance-id`)).status, 401, 'no token')
  const bad = await fetch(`${server.url}/latest/meta-data/instance-id`, {
    headers: { 'x-aws-ec2-metadata-token': 'forged' },
  })
  t.equal(bad.status, 401, 'a forged token')
  const good = await fetch(`${server.url}/latest/meta-data/instance-id`, {
    headers: { 'x-aws-ec2-metadata-token': await token(server) },
  })
  t.equal(await good.text(), instance.instanceId)
})

t.test('the token TTL must be 1–21600 seconds', async (t) => {
  const server = await imds(t)
  const put = (headers: Record<string, string>) =>
    fetch(`${server.url}/latest/api/token`, { method: 'PUT', headers })
  t.equal((await put({})).status, 400, 'missing')
  t.equal((await put({ 'x-aws-ec2-metadata-token-ttl-seconds': '0' })).status, 400, 'zero')
  t.equal((await put({ 'x-aws-ec2-metadata-token-ttl-seconds': '21601' })).status, 400, 'too long')
  t.equal((await put({ 'x-aws-ec2-metadata-token-ttl-seconds': 'soon' })).status, 400, 'not a number')
  const ok = await put({ 'x-aws-ec2-metadata-token-ttl-seconds': '21600' })
  t.equal(ok.status, 200)
  t.equal(ok.headers.get('x-aws-ec2-metadata-token-ttl-seconds'), '21600')
  t.equal(
    (await put({ 'x-aws-ec2-metadata-token-ttl-seconds': '60', 'x-forwarded-for': '10.0.0.1' })).status,
    403,
    'a forwarded PUT',
  )
  t.equal((await fetch(`${server.url}/latest/api/token`)).status, 405, 'GET on the token path')
})

t.test('a token expires with its TTL on the injected clock', async (t) => {
  const clock = new ManualClock()
  const server = await imds(t, clock)
  const value = await token(server, '60')
  const read = () =>
    fetch(`${server.url}/latest/meta-data/instance-id`, { headers: { 'x-aws-ec2-metadata-token': value } })
  clock.advance(59_999)
  t.equal((await read()).status, 200, 'valid until the last millisecond')
  clock.advance(1)
  t.equal((await read()).status, 401, 'expired')
  t.equal(server.liveTokens, 0)
})

t.test('a spot interruption is 404 until announced, then a JSON notice', async (t) => {
  const clock = new ManualClock(Date.UTC(2026, 0, 1, 12))
  const server = await imds(t, clock)
  const client = sdk(server)
  t.equal(await failedWith(client.request('/latest/meta-data/spot/instance-action', {})), 404)
  server.announceSpotInterruption()
  const notice = JSON.parse(await client.request('/latest/meta-data/spot/instance-action', {}))
  t.same(notice, { action: 'terminate', time: '2026-01-01T12:02:00Z' }, 'two minutes ahead, as EC2 gives')
  server.cancelSpotInterruption()
  t.equal(await failedWith(client.request('/latest/meta-data/spot/instance-action', {})), 404)
})

t.test('a hung service makes the SDK time out', async (t) => {
  const server = await imds(t)
  server.hang()
  const started = Date.now()
  await t.rejects(sdk(server, { httpOptions: { timeout: 100 } }).request('/latest/meta-data/instance-id', {}))
  t.ok(Date.now() - started < 2000, 'within the timeout, not forever')
  t.equal(server.requests[0]?.status, 'hung')
})

t.test('failures are retried by the SDK and then answered', async (t) => {
  const server = await imds(t)
  server.failNext(2, 500)
  const value = await sdk(server, { retries: 3, backoff: 0 }).request('/latest/meta-data/instance-id', {})
  t.equal(value, instance.instanceId)
  t.same(
    server.requests.map((r) => r.status),
    [500, 500, 200, 200],
    'the token PUT failed twice, then token and read went through',
  )
  server.fail(503)
  await t.rejects(sdk(server, { retries: 1, backoff: 0 }).request('/latest/meta-data/instance-id', {}))
  server.answer()
  t.equal(await sdk(server).request('/latest/meta-data/instance-id', {}), instance.instanceId)
})

t.test('the SDK falls back to IMDSv1 unless told not to, and the emulator refuses that', async (t) => {
  const server = await imds(t)
  server.failNext(1, 403)
  await t.rejects(
    sdk(server, { ec2MetadataV1Disabled: true }).request('/latest/meta-data/instance-id', {}),
    'v1 disabled: the failed token ends it',
  )
  t.same(
    server.requests.map((r) => [r.method, r.status]),
    [['PUT', 403]],
    'and no read went out without a token',
  )
  server.failNext(1, 403)
  t.equal(
    await failedWith(
      sdk(server, { ec2MetadataV1Disabled: false }).request('/latest/meta-data/instance-id', {}),
    ),
    401,
    'with the SDK default the read goes out without a token, and IMDSv2 refuses it',
  )
})
