import t from 'tap'
import {
  ImdsClient,
  ImdsIdentity,
  type SpotNotice,
  watchSpotInterruption,
} from '../../daemon/imds-identity.js'
import { ManualClock } from '../../lib/clock.js'
import { testImds } from '../harness/aws.js'

const instance = {
  instanceId: 'i-0a1b2c3d4e5f60718',
  region: 'ap-southeast-2',
  az: 'ap-southeast-2c',
  instanceType: 'm7i.xlarge',
}

const imds = (t: { teardown: (fn: () => unknown) => void }, clock = new ManualClock()) =>
  testImds(t, instance, clock)

t.test('an engine on EC2 knows itself from IMDSv2', async (t) => {
  const server = await imds(t)
  const identity = await new ImdsIdentity({ endpoint: server.url }).identify()
  t.same(identity, {
    instanceId: 'i-0a1b2c3d4e5f60718',
    region: 'ap-southeast-2',
    az: 'ap-southeast-2c',
    instanceType: 'm7i.xlarge',
  })
  t.equal(server.requests.filter((r) => r.method === 'PUT').length, 1, 'one token serves every read')
  t.ok(server.requests.every((r) => r.status === 200))
  t.ok(
    server.requests.every((r) => !r.path.startsWith('//')),
    'paths go out with one slash',
  )
})

t.test('a metadata service that never answers ends in one clear line', async (t) => {
  const server = await imds(t)
  server.hang()
  const started = Date.now()
  const error = await new ImdsIdentity({
    endpoint: server.url,
    timeoutMs: 100,
    attempts: 2,
    backoffMs: () => 10,
  })
    .identify()
    .catch((e) => e)
  t.equal(error.code, 'STAMPEDE_IMDS_UNAVAILABLE')
  t.match(
    error.message,
    /^no identity from the EC2 metadata service at http:\/\/127\.0\.0\.1:\d+\/ after 2 tries \(100 ms timeout each\)/,
  )
  t.notMatch(error.message, /\n/, 'one line')
  t.ok(Date.now() - started < 3000, 'bounded by tries × timeout')
  t.equal(server.requests.length, 2, 'one token request per try, each hung')
})

t.test('a refused connection fails the same way, quickly', async (t) => {
  const server = await imds(t)
  const url = server.url
  await server.close()
  const error = await new ImdsIdentity({ endpoint: url, attempts: 2, backoffMs: () => 1 })
    .identify()
    .catch((e) => e)
  t.equal(error.code, 'STAMPEDE_IMDS_UNAVAILABLE')
})

t.test('transient failures are retried within the bound', async (t) => {
  const server = await imds(t)
  server.failNext(2, 500)
  const identity = await new ImdsIdentity({
    endpoint: server.url,
    attempts: 3,
    backoffMs: () => 1,
  }).identify()
  t.equal(identity.instanceId, instance.instanceId)
})

t.test('the token is reused until it nears its TTL, and renewed after a 401', async (t) => {
  const clock = new ManualClock()
  const server = await imds(t, clock)
  const client = new ImdsClient({ endpoint: server.url, tokenTtlSeconds: 120, clock })
  await client.get('latest/meta-data/instance-id')
  await client.get('latest/meta-data/instance-type')
  t.equal(server.requests.filter((r) => r.method === 'PUT').length, 1)
  clock.advance(61_000)
  await client.get('latest/meta-data/instance-id')
  t.equal(server.requests.filter((r) => r.method === 'PUT').length, 2, 'renewed a minute before expiry')
  const stale = new ImdsClient({ endpoint: server.url, tokenTtlSeconds: 120, clock: { now: () => 0 } })
  await stale.get('latest/meta-data/instance-id')
  clock.advance(200_000)
  t.equal(
    await stale.get('latest/meta-data/instance-id'),
    instance.instanceId,
    'a token the service expired is replaced',
  )
  t.same(
    server.requests.slice(-3).map((r) => [r.method, r.status]),
    [
      ['GET', 401],
      ['PUT', 200],
      ['GET', 200],
    ],
  )
  t.equal(await client.get('latest/meta-data/nothing-here'), undefined, '404 reads as undefined')
})

t.test('the spot watcher reports an interruption once it is announced', async (t) => {
  const server = await imds(t)
  const client = new ImdsClient({ endpoint: server.url })
  const notices: SpotNotice[] = []
  const watching = watchSpotInterruption(client, { intervalMs: 5, onNotice: (n) => void notices.push(n) })
  while (server.requests.filter((r) => r.path.endsWith('spot/instance-action')).length < 3)
    await new Promise((r) => setTimeout(r, 5))
  const announced = server.announceSpotInterruption({ at: Date.UTC(2026, 0, 1, 0, 2) })
  const notice = await watching
  t.same(notice, { action: 'terminate', time: announced.time, at: Date.UTC(2026, 0, 1, 0, 2) })
  t.equal(notices.length, 1)
})

t.test('the spot watcher stops on abort and survives failed polls', async (t) => {
  const server = await imds(t)
  server.failNext(3, 500)
  const errors: unknown[] = []
  const controller = new AbortController()
  const watching = watchSpotInterruption(new ImdsClient({ endpoint: server.url }), {
    intervalMs: 5,
    onNotice: () => {
      t.fail('no notice was announced')
    },
    onError: (e) => errors.push(e),
    signal: controller.signal,
  })
  while (server.requests.filter((r) => r.status === 404).length < 2)
    await new Promise((r) => setTimeout(r, 5))
  controller.abort()
  t.equal(await watching, undefined)
  t.ok(errors.length >= 1, 'failed polls were reported and polling went on')
})
