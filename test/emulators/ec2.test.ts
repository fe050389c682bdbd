import {
  CreateTagsCommand,
  DescribeInstancesCommand,
  type DescribeInstancesCommandOutput,
  type EC2Client,
  paginateDescribeInstances,
  RunInstancesCommand,
  type RunInstancesCommandInput,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2'
import { MetadataService } from '@aws-sdk/ec2-metadata-service'
import t from 'tap'
import { type Ec2EmulatorOptions, startEc2, startInstanceImds } from '../../emulators/ec2.js'
import { ManualClock } from '../../lib/clock.js'
import { ec2Client } from '../harness/aws.js'

async function emulator(t: { teardown: (fn: () => unknown) => void }, options: Ec2EmulatorOptions = {}) {
  const clock = new ManualClock()
  const ec2 = await startEc2({ clock, pendingMs: 1000, shuttingDownMs: 1000, ...options })
  const client = ec2Client(ec2.url, 'us-east-1')
  t.teardown(async () => {
    client.destroy()
    await ec2.close()
  })
  return { ec2, clock, client }
}

const run = (overrides: Partial<RunInstancesCommandInput> = {}) =>
  new RunInstancesCommand({
    ImageId: 'ami-0123456789abcdef0',
    InstanceType: 'c7g.large',
    MinCount: 1,
    MaxCount: 1,
    TagSpecifications: [
      {
        ResourceType: 'instance',
        Tags: [
          { Key: 'stampede:fleet', Value: 'blue' },
          { Key: 'stampede:role', Value: 'engine' },
        ],
      },
    ],
    ...overrides,
  })

const ids = (out: DescribeInstancesCommandOutput) =>
  (out.Reservations ?? []).flatMap((r) => (r.Instances ?? []).map((i) => i.InstanceId!))

t.test('RunInstances with the same ClientToken twice launches once', async (t) => {
  const { ec2, client } = await emulator(t)
  const first = await client.send(run({ ClientToken: 'fleet-blue-slot-1' }))
  const second = await client.send(run({ ClientToken: 'fleet-blue-slot-1' }))
  t.equal(second.ReservationId, first.ReservationId)
  t.same(
    second.Instances?.map((i) => i.InstanceId),
    first.Instances?.map((i) => i.InstanceId),
  )
  t.equal(ec2.instances().length, 1)
  await t.rejects(client.send(run({ ClientToken: 'fleet-blue-slot-1', InstanceType: 'c7g.xlarge' })), {
    name: 'IdempotentParameterMismatch',
    $metadata: { httpStatusCode: 400 },
  })
  const elsewhere = ec2Client(ec2.url, 'eu-west-1')
  t.teardown(() => elsewhere.destroy())
  await elsewhere.send(run({ ClientToken: 'fleet-blue-slot-1' }))
  t.equal(ec2.instances().length, 2, 'client tokens are per region')
})

t.test('RunInstances keeps what it was given and the SDK reads it back', async (t) => {
  const { ec2, client, clock } = await emulator(t)
  const out = await client.send(
    run({
      ImageId: 'resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64',
      MinCount: 2,
      MaxCount: 2,
      UserData: Buffer.from('#!/bin/sh\necho hi\n').toString('base64'),
      MetadataOptions: { HttpTokens: 'required', HttpPutResponseHopLimit: 1 },
      IamInstanceProfile: { Name: 'stampede-engine' },
      Placement: { AvailabilityZone: 'us-east-1c' },
      SubnetId: 'subnet-0abc',
    }),
  )
  t.equal(out.Instances?.length, 2)
  const [a] = out.Instances!
  t.match(a, {
    ImageId: /^ami-[0-9a-f]{17}$/,
    InstanceType: 'c7g.large',
    State: { Name: 'pending', Code: 0 },
    Placement: { AvailabilityZone: 'us-east-1c' },
    MetadataOptions: { HttpTokens: 'required', HttpPutResponseHopLimit: 1, HttpEndpoint: 'enabled' },
    IamInstanceProfile: { Arn: 'arn:aws:iam::000000000000:instance-profile/stampede-engine' },
    SubnetId: 'subnet-0abc',
    Tags: [
      { Key: 'stampede:fleet', Value: 'blue' },
      { Key: 'stampede:role', Value: 'engine' },
    ],
  })
  t.equal(a?.LaunchTime?.getTime(), clock.now())
  t.equal(ec2.instance(a!.InstanceId!)?.userData, '#!/bin/sh\necho hi\n', 'user-data decoded')
  await t.rejects(client.send(run({ ImageId: 'resolve:ssm:/my/own/param' })), {
    name: 'InvalidParameterValue',
  })
  await t.rejects(client.send(run({ ImageId: 'ami-nope' })), { name: 'InvalidAMIID.Malformed' })
  await t.rejects(client.send(run({ MinCount: 3, MaxCount: 2 })), { name: 'InvalidParameterValue' })
  await t.rejects(
    client.send(
      run({ TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'aws:x', Value: 'y' }] }] }),
    ),
    {
      name: 'InvalidParameterValue',
    },
  )
})

t.test('DescribeInstances pages 250 instances by 100 with NextToken', async (t) => {
  const { client } = await emulator(t)
  for (const count of [100, 120, 30]) await client.send(run({ MinCount: count, MaxCount: count }))
  const pages: DescribeInstancesCommandOutput[] = []
  let NextToken: string | undefined
  do {
    const page = await client.send(new DescribeInstancesCommand({ MaxResults: 100, NextToken }))
    pages.push(page)
    NextToken = page.NextToken
  } while (NextToken)
  t.same(
    pages.map((p) => ids(p).length),
    [100, 100, 50],
  )
  t.equal(new Set(pages.flatMap(ids)).size, 250, 'every instance once')
  t.same(
    pages.map((p) => p.Reservations?.length),
    [1, 1, 2],
    'a reservation split over pages; two in the last',
  )
  t.notOk(pages[2]?.NextToken, 'the last page has no token')
  let viaPaginator = 0
  for await (const page of paginateDescribeInstances({ client, pageSize: 100 }, {}))
    viaPaginator += ids(page).length
  t.equal(viaPaginator, 250, "the SDK's own paginator walks it too")
  await t.rejects(client.send(new DescribeInstancesCommand({ MaxResults: 4 })), {
    name: 'InvalidParameterValue',
  })
  await t.rejects(
    client.send(new DescribeInstancesCommand({ MaxResults: 5, InstanceIds: ['i-00000000000000001'] })),
    {
      name: 'InvalidParameterCombination',
    },
  )
})

t.test('DescribeInstances filters by tag, tag key, state and id', async (t) => {
  const { ec2, client, clock } = await emulator(t)
  await client.send(run({ MinCount: 2, MaxCount: 2 }))
  const green = await client.send(
    run({
      TagSpecifications: [
        {
          ResourceType: 'instance',
          Tags: [
            { Key: 'stampede:fleet', Value: 'green' },
            { Key: 'team', Value: 'perf' },
          ],
        },
      ],
    }),
  )
  const greenId = green.Instances![0]!.InstanceId!
  const find = async (Filters: Array<{ Name: string; Values: string[] }>) =>
    ids(await client.send(new DescribeInstancesCommand({ Filters }))).length
  t.equal(await find([{ Name: 'tag:stampede:fleet', Values: ['blue'] }]), 2)
  t.equal(await find([{ Name: 'tag:stampede:fleet', Values: ['blue', 'green'] }]), 3, 'values are OR-ed')
  t.equal(await find([{ Name: 'tag:stampede:fleet', Values: ['gr*'] }]), 1, 'wildcards')
  t.equal(await find([{ Name: 'tag-key', Values: ['team'] }]), 1)
  t.equal(
    await find([
      { Name: 'tag:stampede:fleet', Values: ['blue'] },
      { Name: 'instance-state-name', Values: ['running'] },
    ]),
    0,
    'filters are AND-ed; still pending',
  )
  clock.advance(1000)
  t.equal(await find([{ Name: 'instance-state-name', Values: ['running'] }]), 3)
  t.equal(await find([{ Name: 'instance-id', Values: [greenId] }]), 1)
  await t.rejects(find([{ Name: 'colour', Values: ['x'] }]), {
    name: 'InvalidParameterValue',
    message: "The filter 'colour' is invalid",
  })
  t.same(ec2.callsOf('DescribeInstances').at(-1)?.params, {
    Action: 'DescribeInstances',
    Version: '2016-11-15',
    'Filter.1.Name': 'colour',
    'Filter.1.Value.1': 'x',
  })
})

t.test('instances go pending → running → shutting-down → terminated, and vanish after an hour', async (t) => {
  const { ec2, client, clock } = await emulator(t)
  const id = (await client.send(run())).Instances![0]!.InstanceId!
  const state = async () =>
    (await client.send(new DescribeInstancesCommand({ InstanceIds: [id] }))).Reservations?.[0]?.Instances?.[0]
      ?.State?.Name
  t.equal(await state(), 'pending')
  clock.advance(999)
  t.equal(await state(), 'pending')
  clock.advance(1)
  t.equal(await state(), 'running')
  const out = await client.send(new TerminateInstancesCommand({ InstanceIds: [id] }))
  t.same(out.TerminatingInstances?.[0], {
    InstanceId: id,
    CurrentState: { Code: 32, Name: 'shutting-down' },
    PreviousState: { Code: 16, Name: 'running' },
  })
  t.equal(await state(), 'shutting-down')
  clock.advance(1000)
  t.equal(await state(), 'terminated')
  const again = await client.send(new TerminateInstancesCommand({ InstanceIds: [id] }))
  t.equal(again.TerminatingInstances?.[0]?.CurrentState?.Name, 'terminated', 'terminating twice is fine')
  clock.advance(3600_000)
  await t.rejects(state(), { name: 'InvalidInstanceID.NotFound' })
  t.equal(ec2.stateOf(id), 'terminated')
})

t.test('TerminateInstances names the ids that do not exist, and refuses malformed ones', async (t) => {
  const { client } = await emulator(t)
  const id = (await client.send(run())).Instances![0]!.InstanceId!
  const error = await client
    .send(new TerminateInstancesCommand({ InstanceIds: [id, 'i-0aaaaaaaaaaaaaaaa', 'i-0bbbbbbbbbbbbbbbb'] }))
    .catch((e) => e)
  t.equal(error.name, 'InvalidInstanceID.NotFound')
  t.equal(error.message, "The instance IDs 'i-0aaaaaaaaaaaaaaaa, i-0bbbbbbbbbbbbbbbb' do not exist")
  t.equal(error.$fault, 'client')
  t.match(error.$metadata, { httpStatusCode: 400, requestId: /^[0-9a-f-]{36}$/ })
  await t.rejects(client.send(new TerminateInstancesCommand({ InstanceIds: ['vol-1'] })), {
    name: 'InvalidInstanceID.Malformed',
  })
})

t.test('CreateTags adds tags that DescribeInstances then filters on', async (t) => {
  const { client } = await emulator(t)
  const id = (await client.send(run())).Instances![0]!.InstanceId!
  await client.send(
    new CreateTagsCommand({ Resources: [id], Tags: [{ Key: 'stampede:state', Value: 'draining' }] }),
  )
  const out = await client.send(
    new DescribeInstancesCommand({ Filters: [{ Name: 'tag:stampede:state', Values: ['draining'] }] }),
  )
  t.same(ids(out), [id])
  await t.rejects(
    client.send(
      new CreateTagsCommand({ Resources: ['i-0ffffffffffffffff'], Tags: [{ Key: 'a', Value: 'b' }] }),
    ),
    {
      name: 'InvalidInstanceID.NotFound',
    },
  )
})

t.test('eventual consistency: a new instance is invisible for a while, except to RunInstances', async (t) => {
  const { ec2, client, clock } = await emulator(t, { visibilityDelayMs: 5000 })
  const out = await client.send(run({ ClientToken: 'slot-7' }))
  const id = out.Instances![0]!.InstanceId!
  t.equal(
    ids(
      await client.send(
        new DescribeInstancesCommand({ Filters: [{ Name: 'tag:stampede:fleet', Values: ['blue'] }] }),
      ),
    ).length,
    0,
  )
  await t.rejects(client.send(new DescribeInstancesCommand({ InstanceIds: [id] })), {
    name: 'InvalidInstanceID.NotFound',
  })
  await t.rejects(client.send(new TerminateInstancesCommand({ InstanceIds: [id] })), {
    name: 'InvalidInstanceID.NotFound',
  })
  t.equal(
    (await client.send(run({ ClientToken: 'slot-7' }))).Instances?.[0]?.InstanceId,
    id,
    'the token still finds it',
  )
  clock.advance(5000)
  t.same(ids(await client.send(new DescribeInstancesCommand({ InstanceIds: [id] }))), [id])
  ec2.setVisibilityDelay(0)
  const next = (await client.send(run())).Instances![0]!.InstanceId!
  t.same(
    ids(await client.send(new DescribeInstancesCommand({ InstanceIds: [next] }))),
    [next],
    'switched off again',
  )
})

t.test('throttling answers RequestLimitExceeded 503 for the next N calls or past a rate', async (t) => {
  const { ec2, client, clock } = await emulator(t)
  ec2.throttleNext(2)
  for (let i = 0; i < 2; i++) {
    await t.rejects(client.send(new DescribeInstancesCommand({})), {
      name: 'RequestLimitExceeded',
      $metadata: { httpStatusCode: 503 },
    })
  }
  await client.send(new DescribeInstancesCommand({}))
  t.same(
    ec2.calls.map((c) => c.error ?? c.status),
    ['RequestLimitExceeded', 'RequestLimitExceeded', 200],
  )
  ec2.throttleRate({ perSecond: 2, burst: 2, actions: ['RunInstances'] })
  await client.send(run())
  await client.send(run())
  await t.rejects(client.send(run()), { name: 'RequestLimitExceeded' })
  await client.send(new DescribeInstancesCommand({}))
  clock.advance(500)
  await client.send(run())
  ec2.throttleRate(undefined)
  ec2.failNext(1, { actions: ['TerminateInstances'] })
  await client.send(new DescribeInstancesCommand({}))
  await t.rejects(client.send(new TerminateInstancesCommand({ InstanceIds: ['i-00000000000000001'] })), {
    name: 'InternalError',
  })
})

t.test('one emulator serves every region: by the signature or by the path', async (t) => {
  const { ec2, client } = await emulator(t)
  const tokyo = ec2Client(ec2.url, 'ap-northeast-1')
  const pinned = ec2Client(ec2.endpointFor('eu-central-1'), 'us-east-1')
  t.teardown(() => {
    tokyo.destroy()
    pinned.destroy()
  })
  await client.send(run())
  const inTokyo = (await tokyo.send(run())).Instances![0]!
  t.equal(inTokyo.Placement?.AvailabilityZone, 'ap-northeast-1a')
  await pinned.send(run())
  t.same(
    ec2.calls.map((c) => c.region),
    ['us-east-1', 'ap-northeast-1', 'eu-central-1'],
  )
  t.equal(ids(await client.send(new DescribeInstancesCommand({}))).length, 1, 'each region sees its own')
  await t.rejects(client.send(new DescribeInstancesCommand({ InstanceIds: [inTokyo.InstanceId!] })), {
    name: 'InvalidInstanceID.NotFound',
  })
})

t.test('every call is recorded with its action, region and parameters', async (t) => {
  const { ec2, client } = await emulator(t)
  await client.send(run({ ClientToken: 'tok', IamInstanceProfile: { Name: 'stampede-engine' } }))
  const [call] = ec2.calls
  t.match(call, {
    action: 'RunInstances',
    region: 'us-east-1',
    status: 200,
    imageId: 'ami-0123456789abcdef0',
    instanceProfile: 'stampede-engine',
    tagSpecifications: [
      { resourceType: 'instance', tags: { 'stampede:fleet': 'blue', 'stampede:role': 'engine' } },
    ],
    params: { ClientToken: 'tok', MinCount: '1', 'TagSpecification.1.Tag.1.Key': 'stampede:fleet' },
  })
})

t.test('a launched instance can start a process with its own IMDS, stopped when it ends', async (t) => {
  const { ec2, client, clock } = await emulator(t)
  const events: string[] = []
  const endpoints = new Map<string, string>()
  ec2.onLaunch = async (instance) => {
    const imds = await startInstanceImds(instance, { clock })
    endpoints.set(instance.id, imds.url)
    events.push(`start ${instance.id}`)
    return { stop: () => void events.push(`stop ${instance.id}`) }
  }
  const out = await client.send(
    run({
      MinCount: 2,
      MaxCount: 2,
      UserData: Buffer.from('#cloud-config\n').toString('base64'),
      IamInstanceProfile: { Name: 'stampede-engine' },
    }),
  )
  const [a, b] = out.Instances!.map((i) => i.InstanceId!)
  while (endpoints.size < 2) await new Promise((r) => setTimeout(r, 1))
  const metadata = new MetadataService({
    endpoint: endpoints.get(a!)!,
    ec2MetadataV1Disabled: true,
    retries: 0,
  })
  t.equal(await metadata.request('/latest/meta-data/instance-id', {}), a)
  t.equal(await metadata.request('/latest/meta-data/placement/availability-zone', {}), 'us-east-1a')
  t.equal(await metadata.request('/latest/user-data', {}), '#cloud-config\n')
  t.equal(await metadata.request('/latest/meta-data/iam/security-credentials/', {}), 'stampede-engine')

  await client.send(new TerminateInstancesCommand({ InstanceIds: [a!] }))
  await new Promise((r) => setTimeout(r, 5))
  t.same(events, [`start ${a}`, `start ${b}`, `stop ${a}`])

  ec2.interruptSpot(b!, 120_000)
  const notice = JSON.parse(
    await new MetadataService({
      endpoint: endpoints.get(b!)!,
      ec2MetadataV1Disabled: true,
      retries: 0,
    }).request('/latest/meta-data/spot/instance-action', {}),
  )
  t.equal(notice.action, 'terminate')
  clock.advance(119_000)
  ec2.tick()
  t.equal(ec2.stateOf(b!), 'running', 'still running during the warning')
  clock.advance(1_000)
  ec2.tick()
  await new Promise((r) => setTimeout(r, 5))
  t.equal(ec2.stateOf(b!), 'shutting-down')
  t.same(events.at(-1), `stop ${b}`, 'stopped when the interruption came due')
  const described = await client.send(new DescribeInstancesCommand({ InstanceIds: [b!] }))
  t.equal(described.Reservations?.[0]?.Instances?.[0]?.StateReason?.Code, 'Server.SpotInstanceTermination')
})

t.test('kill ends an instance at once, as if its host died', async (t) => {
  const { ec2, client } = await emulator(t)
  let stopped = 0
  ec2.onLaunch = () => ({ stop: () => void stopped++ })
  const id = (await client.send(run())).Instances![0]!.InstanceId!
  await ec2.kill(id)
  t.equal(ec2.stateOf(id), 'terminated')
  t.equal(stopped, 1)
})

t.test('an unknown action or a request without a signature is refused', async (t) => {
  const { ec2, client } = await emulator(t)
  const res = await fetch(ec2.url, {
    method: 'POST',
    body: 'Action=DescribeInstances&Version=2016-11-15',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  })
  t.equal(res.status, 401)
  t.match(await res.text(), /<Code>AuthFailure<\/Code>.*<RequestID>/s)
  const raw = (client as EC2Client).config
  t.ok(raw, 'the SDK client is a real one')
})
