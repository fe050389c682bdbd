import t from 'tap'
import { FakeCloudProvider } from '../../../controller/cloud/fake.js'
import { CloudError, FLEET_TAG, type LaunchRequest } from '../../../controller/cloud/provider.js'
import { ManualClock } from '../../../lib/clock.js'

const request: LaunchRequest = {
  fleet: 'blue',
  region: 'us-east-1',
  clientToken: 'token-1',
  imageId: 'ami-0123456789abcdef0',
  instanceType: 'c7g.large',
  count: 2,
  userData: '',
}

t.test('the fake keeps the provider contract and records every call', async (t) => {
  const clock = new ManualClock()
  const cloud = new FakeCloudProvider({ clock, pendingMs: 1000, visibilityDelayMs: 500 })
  const launched = await cloud.launch(request)
  t.same(
    (await cloud.launch(request)).map((i) => i.id),
    launched.map((i) => i.id),
    'idempotent by client token',
  )
  t.same(await cloud.list({ name: 'blue', regions: ['us-east-1'] }), [], 'not visible yet')
  clock.advance(1000)
  const listed = await cloud.list({ name: 'blue', regions: ['us-east-1'] })
  t.same(
    listed.map((i) => [i.state, i.tags[FLEET_TAG]]),
    [
      ['running', 'blue'],
      ['running', 'blue'],
    ],
  )
  const results = await cloud.terminate([launched[0]!, { id: 'i-gone', region: 'us-east-1' }])
  t.same(
    results.map((r) => r.state),
    ['terminated', 'gone'],
  )
  t.equal(cloud.launchCalls.length, 2)
  t.equal(cloud.listCalls.length, 2)
  t.equal(cloud.terminateCalls.length, 1)
})

t.test('the fake injects errors and forces states', async (t) => {
  const cloud = new FakeCloudProvider()
  const throttled = new CloudError({
    cloudCode: 'RequestLimitExceeded',
    region: 'us-east-1',
    operation: 'RunInstances',
    message: 'slow down',
    retryable: true,
  })
  cloud.failNext('launch', throttled)
  await t.rejects(cloud.launch(request), { code: 'STAMPEDE_CLOUD_THROTTLED' })
  t.equal((await cloud.launch(request)).length, 2, 'only the next call fails')
  const seeded = cloud.add({ region: 'us-east-1', fleet: 'blue' })
  cloud.setState(seeded.id, 'terminated')
  t.equal(cloud.get(seeded.id)?.state, 'terminated')
  await cloud.tag([seeded], { 'stampede:state': 'gone' })
  t.equal(cloud.tagCalls.length, 1)
  cloud.reset()
  t.same(cloud.all(), [])
})
