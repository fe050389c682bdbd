import t from 'tap'
import { AwsCloudProvider, notFoundIds } from '../../../controller/cloud/aws.js'
import {
  FLEET_TAG,
  type LaunchRequest,
  launchClientToken,
  ROLE_TAG,
} from '../../../controller/cloud/provider.js'
import { type Ec2EmulatorOptions, startEc2 } from '../../../emulators/ec2.js'
import { ManualClock } from '../../../lib/clock.js'
import { dummyCredentials } from '../../harness/aws.js'

async function setup(
  t: { teardown: (fn: () => unknown) => void },
  options: Ec2EmulatorOptions = {},
  cloud: { pageSize?: number; maxAttempts?: number } = {},
) {
  const clock = new ManualClock()
  const ec2 = await startEc2({ clock, pendingMs: 1000, shuttingDownMs: 1000, ...options })
  const provider = new AwsCloudProvider({
    endpoint: ec2.url,
    credentials: dummyCredentials,
    backoffMs: () => 1,
    ...cloud,
  })
  t.teardown(async () => {
    provider.close()
    await ec2.close()
  })
  return { ec2, clock, provider }
}

const launch = (overrides: Partial<LaunchRequest> = {}): LaunchRequest => ({
  fleet: 'blue',
  region: 'us-east-1',
  clientToken: launchClientToken({ fleet: 'blue', region: 'us-east-1', generation: 1, slot: 0 }),
  imageId: 'resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64',
  instanceType: 'c7g.large',
  count: 1,
  userData: '#cloud-config\nruncmd: [stampede-engine]\n',
  instanceProfile: 'stampede-engine',
  ...overrides,
})

t.test(
  'launch tags the instances, requires IMDSv2 with hop limit 1, and encodes the user-data',
  async (t) => {
    const { ec2, provider } = await setup(t)
    const [instance] = await provider.launch(
      launch({ tags: { 'stampede:generation': '1', [FLEET_TAG]: 'not-mine' } }),
    )
    t.match(instance, {
      region: 'us-east-1',
      az: 'us-east-1a',
      type: 'c7g.large',
      state: 'pending',
      tags: { [FLEET_TAG]: 'blue', [ROLE_TAG]: 'engine', 'stampede:generation': '1' },
    })
    const held = ec2.instance(instance!.id)!
    t.same(held.metadataOptions, {
      httpTokens: 'required',
      httpPutResponseHopLimit: 1,
      httpEndpoint: 'enabled',
    })
    t.equal(held.userData, '#cloud-config\nruncmd: [stampede-engine]\n')
    t.equal(held.iamInstanceProfile?.name, 'stampede-engine')
  },
)

t.test('a retried launch with the same client token launches nothing more', async (t) => {
  const { ec2, provider } = await setup(t)
  const first = await provider.launch(launch({ count: 3 }))
  const again = await provider.launch(launch({ count: 3 }))
  t.same(
    again.map((i) => i.id),
    first.map((i) => i.id),
  )
  t.equal(ec2.instances().length, 3)
  await t.rejects(provider.launch(launch({ count: 4 })), {
    code: 'STAMPEDE_CLOUD_IDEMPOTENCY',
    cloudCode: 'IdempotentParameterMismatch',
  })
})

t.test('the client token is a pure function of fleet, region, generation and slot', async (t) => {
  const key = { fleet: 'blue', region: 'us-east-1', generation: 3, slot: 2 }
  t.equal(launchClientToken(key), launchClientToken({ ...key }))
  const others = [
    { ...key, fleet: 'green' },
    { ...key, region: 'eu-west-1' },
    { ...key, generation: 4 },
    { ...key, slot: 3 },
  ].map(launchClientToken)
  t.equal(new Set([launchClientToken(key), ...others]).size, 5)
  t.ok(launchClientToken(key).length <= 64)
  t.match(launchClientToken(key), /^[\x20-\x7e]+$/)
})

t.test('list pages through every region and returns the fleet only', async (t) => {
  const { ec2, provider, clock } = await setup(t, {}, { pageSize: 100 })
  for (const [slot, count] of [100, 100, 50].entries()) {
    await provider.launch(
      launch({
        count,
        clientToken: launchClientToken({ fleet: 'blue', region: 'us-east-1', generation: 1, slot }),
      }),
    )
  }
  await provider.launch(launch({ region: 'eu-west-1', count: 2 }))
  await provider.launch(launch({ fleet: 'green', count: 5, clientToken: 'green-1' }))
  ec2.resetCalls()
  clock.advance(1000)
  const instances = await provider.list({ name: 'blue', regions: ['us-east-1', 'eu-west-1'] })
  t.equal(instances.length, 252)
  t.ok(instances.every((i) => i.tags[FLEET_TAG] === 'blue' && i.state === 'running'))
  t.equal(instances.filter((i) => i.region === 'eu-west-1').length, 2)
  t.same(
    ec2.calls.map((c) => [c.action, c.region]).sort(),
    [
      ['DescribeInstances', 'eu-west-1'],
      ['DescribeInstances', 'us-east-1'],
      ['DescribeInstances', 'us-east-1'],
      ['DescribeInstances', 'us-east-1'],
    ],
    'three pages in one region, one in the other: nothing per instance',
  )
  t.equal(instances[0]?.launchTime, clock.now() - 1000)
})

t.test('list follows NextToken through short and empty pages, as real EC2 may return them', async (t) => {
  const { ec2, provider, clock } = await setup(t, { filterAfterPaging: true }, { pageSize: 5 })
  // Launched in this order: 3 blue, 12 green, 4 blue, 6 green, 1 blue. Pages of 5 over all of
  // them, filtered after: 3, 0, 0, 4, 0, 1 blue instances, each page but the last with a NextToken.
  let slot = 0
  for (const [fleet, count] of [
    ['blue', 3],
    ['green', 12],
    ['blue', 4],
    ['green', 6],
    ['blue', 1],
  ] as const) {
    const key = { fleet, region: 'us-east-1', generation: 1, slot: slot++ }
    await provider.launch(launch({ fleet, count, clientToken: launchClientToken(key) }))
  }
  ec2.resetCalls()
  clock.advance(1000)
  const instances = await provider.list({ name: 'blue', regions: ['us-east-1'] })
  const all = ec2.instances('us-east-1').filter((i) => i.tags[FLEET_TAG] === 'blue')
  t.same(
    instances.map((i) => i.id),
    all.map((i) => i.id),
    'every blue instance, once each, in order',
  )
  t.equal(instances.length, 8)
  t.same(
    ec2.calls.map((c) => c.page),
    [
      { instances: 3, nextToken: true },
      { instances: 0, nextToken: true },
      { instances: 0, nextToken: true },
      { instances: 4, nextToken: true },
      { instances: 0, nextToken: true },
      { instances: 1, nextToken: false },
    ],
    'the emulator served short and empty pages with a NextToken',
  )
})

t.test('throttling is survived by the SDK retry strategy', async (t) => {
  const { ec2, provider } = await setup(t, {}, { maxAttempts: 5 })
  ec2.throttleNext(3)
  const launched = await provider.launch(launch())
  t.equal(launched.length, 1)
  t.same(
    ec2.callsOf('RunInstances').map((c) => c.error ?? c.status),
    ['RequestLimitExceeded', 'RequestLimitExceeded', 'RequestLimitExceeded', 200],
  )
  ec2.failNext(2, { code: 'InternalError', status: 500 })
  t.equal(
    (await provider.list({ name: 'blue', regions: ['us-east-1'] })).length,
    1,
    'and so are transient errors',
  )
})

t.test('throttling past the attempts surfaces as a CloudError', async (t) => {
  const { ec2, provider } = await setup(t, {}, { maxAttempts: 3 })
  ec2.throttleNext(10)
  const error = await provider.list({ name: 'blue', regions: ['us-east-1'] }).catch((e) => e)
  t.match(error, {
    code: 'STAMPEDE_CLOUD_THROTTLED',
    cloudCode: 'RequestLimitExceeded',
    region: 'us-east-1',
    operation: 'DescribeInstances',
    retryable: true,
  })
  t.match(
    error.message,
    /^DescribeInstances in us-east-1 failed: RequestLimitExceeded: .*\(after 3 attempts\)$/,
  )
  t.equal(ec2.calls.length, 3)
})

t.test('terminate treats instances that are already gone as done', async (t) => {
  const { ec2, provider, clock } = await setup(t)
  const [a, b] = await provider.launch(launch({ count: 2 }))
  const eu = (await provider.launch(launch({ region: 'eu-west-1' })))[0]!
  clock.advance(1000)
  const ghost = { id: 'i-0deadbeefdeadbeef', region: 'us-east-1' }
  const results = await provider.terminate([a!, ghost, b!, eu])
  t.same(
    results.map((r) => [r.id, r.state]).sort(),
    [
      [a!.id, 'shutting-down'],
      [b!.id, 'shutting-down'],
      [eu.id, 'shutting-down'],
      [ghost.id, 'gone'],
    ].sort(),
  )
  t.same(
    ec2.callsOf('TerminateInstances').map((c) => [c.region, c.error ?? 'ok']),
    [
      ['us-east-1', 'InvalidInstanceID.NotFound'],
      ['us-east-1', 'ok'],
      ['eu-west-1', 'ok'],
    ],
  )
  clock.advance(1000)
  const again = await provider.terminate([a!])
  t.same(
    again,
    [{ id: a!.id, region: 'us-east-1', state: 'terminated' }],
    'terminating a terminated instance is done too',
  )
  clock.advance(3600_000)
  t.same(await provider.terminate([a!]), [{ id: a!.id, region: 'us-east-1', state: 'gone' }])
})

t.test('tag skips instances that are gone', async (t) => {
  const { ec2, provider } = await setup(t)
  const [a] = await provider.launch(launch())
  await provider.tag([a!, { id: 'i-0deadbeefdeadbeef', region: 'us-east-1' }], {
    'stampede:state': 'draining',
  })
  t.equal(ec2.instance(a!.id)?.tags['stampede:state'], 'draining')
})

t.test('NotFound messages name their ids', async (t) => {
  t.same(notFoundIds("The instance ID 'i-0123456789abcdef0' does not exist"), ['i-0123456789abcdef0'])
  t.same(notFoundIds("The instance IDs 'i-0a, i-0b' do not exist"), ['i-0a', 'i-0b'])
})
