import { readFileSync } from 'node:fs'
import t from 'tap'
import { AwsCloudProvider } from '../../../controller/cloud/aws.js'
import {
  checkCall,
  type Ec2CallForIam,
  evaluate,
  isAllowed,
  renderPolicy,
} from '../../../controller/cloud/iam-check.js'
import { launchClientToken } from '../../../controller/cloud/provider.js'
import { startEc2 } from '../../../emulators/ec2.js'
import { ManualClock } from '../../../lib/clock.js'
import { dummyCredentials } from '../../harness/aws.js'

const account = '123456789012'
const values = {
  account,
  fleet: 'blue',
  engineRole: 'stampede-engine',
  artifactBucket: 'stampede-artifacts',
  artifactKey: 'engine/0.1.0/stampede-engine',
  credentialsParameter: 'stampede/blue/couch',
}
const controller = renderPolicy(
  readFileSync(new URL('../../../packaging/iam/controller-policy.json', import.meta.url), 'utf8'),
  values,
)
const engine = renderPolicy(
  readFileSync(new URL('../../../packaging/iam/engine-policy.json', import.meta.url), 'utf8'),
  values,
)
const iam = { account }

const fleetTags = { 'stampede:fleet': 'blue', 'stampede:role': 'engine' }
const runInstances = (tags: Record<string, string>, extra: Partial<Ec2CallForIam> = {}): Ec2CallForIam => ({
  action: 'RunInstances',
  region: 'us-east-1',
  imageId: 'resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64',
  instanceProfile: 'stampede-engine',
  tagSpecifications: [{ resourceType: 'instance', tags }],
  params: { 'MetadataOptions.HttpTokens': 'required' },
  ...extra,
})

t.test('a launch of a fleet-tagged engine with IMDSv2 and the engine role is allowed', async (t) => {
  const check = checkCall(controller, runInstances(fleetTags), iam)
  t.same(check.denied, [])
  t.ok(check.allowed)
})

t.test(
  'a launch without the fleet tag, of another fleet, without IMDSv2 or with another role is denied',
  async (t) => {
    const untagged = checkCall(controller, runInstances({ 'stampede:role': 'engine' }), iam)
    t.notOk(untagged.allowed)
    t.same(
      untagged.denied.map((d) => [d.action, d.resource, d.reason]),
      [
        ['ec2:RunInstances', `arn:aws:ec2:us-east-1:${account}:instance/*`, 'implicit-deny'],
        ['ec2:CreateTags', `arn:aws:ec2:us-east-1:${account}:instance/*`, 'implicit-deny'],
      ],
    )
    t.notOk(checkCall(controller, runInstances({ ...fleetTags, 'stampede:fleet': 'green' }), iam).allowed)
    t.notOk(
      checkCall(
        controller,
        runInstances(fleetTags, { params: { 'MetadataOptions.HttpTokens': 'optional' } }),
        iam,
      ).allowed,
    )
    const admin = checkCall(controller, runInstances(fleetTags, { instanceProfile: 'admin' }), iam)
    t.same(
      admin.denied.map((d) => d.action),
      ['iam:PassRole'],
    )
  },
)

t.test('terminate and retag only the fleet’s own instances, and never move one between fleets', async (t) => {
  const terminate = (tags: Record<string, string>): Ec2CallForIam => ({
    action: 'TerminateInstances',
    region: 'eu-west-1',
    resources: [{ id: 'i-0abc', tags }],
  })
  t.ok(checkCall(controller, terminate(fleetTags), iam).allowed)
  t.notOk(checkCall(controller, terminate({ Name: 'production-db' }), iam).allowed, 'someone else’s instance')
  const retag = (requestTags: Record<string, string>, tags = fleetTags): Ec2CallForIam => ({
    action: 'CreateTags',
    region: 'eu-west-1',
    requestTags,
    resources: [{ id: 'i-0abc', tags }],
  })
  t.ok(checkCall(controller, retag({ 'stampede:state': 'draining' }), iam).allowed)
  t.notOk(checkCall(controller, retag({ Name: 'x' }), iam).allowed, 'only stampede:* keys')
  t.notOk(
    checkCall(controller, retag({ 'stampede:state': 'x' }, { Name: 'db' } as never), iam).allowed,
    'not on foreign instances',
  )
  const moved = checkCall(controller, retag({ 'stampede:fleet': 'blue' }), iam)
  t.equal(moved.denied[0]?.reason, 'explicit-deny')
  t.ok(checkCall(controller, { action: 'DescribeInstances', region: 'us-east-1' }, iam).allowed)
  t.notOk(checkCall(controller, { action: 'StopInstances', region: 'us-east-1' }, iam).allowed)
})

t.test('the engine reads its artifact and its one parameter, nothing else', async (t) => {
  const can = (action: string, resource: string) => isAllowed(engine, { action, resource, context: {} })
  t.ok(can('s3:GetObject', 'arn:aws:s3:::stampede-artifacts/engine/0.1.0/stampede-engine'))
  t.notOk(can('s3:GetObject', 'arn:aws:s3:::stampede-artifacts/other'))
  t.notOk(can('s3:PutObject', 'arn:aws:s3:::stampede-artifacts/engine/0.1.0/stampede-engine'))
  t.ok(can('ssm:GetParameter', `arn:aws:ssm:eu-west-1:${account}:parameter/stampede/blue/couch`))
  t.notOk(can('ssm:GetParameter', `arn:aws:ssm:eu-west-1:${account}:parameter/stampede/green/couch`))
  t.notOk(can('ec2:DescribeInstances', '*'))
})

t.test('the evaluator keeps IAM’s rules for sets, missing keys and unknown operators', async (t) => {
  const policy = (Condition: object) => ({
    Statement: [{ Effect: 'Allow' as const, Action: 'ec2:*', Resource: '*', Condition: Condition as never }],
  })
  const request = (context: Record<string, string | string[]>) => ({
    action: 'ec2:CreateTags',
    resource: 'arn:x',
    context,
  })
  t.ok(
    isAllowed(policy({ 'ForAllValues:StringLike': { 'aws:TagKeys': ['a*'] } }), request({})),
    'ForAllValues holds for no values',
  )
  t.notOk(isAllowed(policy({ 'ForAnyValue:StringEquals': { 'aws:TagKeys': ['a'] } }), request({})))
  t.ok(isAllowed(policy({ StringEqualsIfExists: { 'aws:RequestTag/x': 'y' } }), request({})))
  t.notOk(isAllowed(policy({ StringEquals: { 'aws:RequestTag/x': 'y' } }), request({})))
  t.ok(
    isAllowed(policy({ StringEquals: { 'AWS:REQUESTTAG/x': 'y' } }), request({ 'aws:RequestTag/x': 'y' })),
    'keys are case-insensitive',
  )
  t.notOk(
    isAllowed(policy({ StringEquals: { 'aws:RequestTag/x': 'Y' } }), request({ 'aws:RequestTag/x': 'y' })),
    'values are not',
  )
  t.ok(
    isAllowed({ Statement: { Effect: 'Allow', Action: 'EC2:createtags', Resource: 'arn:*' } }, request({})),
    'actions are case-insensitive',
  )
  t.throws(
    () => evaluate(policy({ DateGreaterThan: { 'aws:CurrentTime': '2020-01-01' } }), request({})),
    /not supported/,
  )
  t.throws(() => renderPolicy('{"a":"{{nope}}"}', {}), /\{\{nope\}\} has no value/)
})

t.test(
  'every EC2 call the adapter made against the emulator is allowed by the controller policy',
  async (t) => {
    const clock = new ManualClock()
    const ec2 = await startEc2({ clock, accountId: account })
    const cloud = new AwsCloudProvider({
      endpoint: ec2.url,
      credentials: dummyCredentials,
      backoffMs: () => 1,
      pageSize: 5,
    })
    t.teardown(async () => {
      cloud.close()
      await ec2.close()
    })
    for (const region of ['us-east-1', 'eu-west-1']) {
      await cloud.launch({
        fleet: 'blue',
        region,
        clientToken: launchClientToken({ fleet: 'blue', region, generation: 1, slot: 0 }),
        imageId: 'resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64',
        instanceType: 'c7g.large',
        count: 6,
        userData: '#cloud-config\n',
        instanceProfile: 'stampede-engine',
      })
    }
    ec2.throttleNext(1)
    clock.advance(5000)
    const instances = await cloud.list({ name: 'blue', regions: ['us-east-1', 'eu-west-1'] })
    await cloud.tag(instances.slice(0, 2), { 'stampede:state': 'draining' })
    await cloud.terminate([...instances.slice(0, 3), { id: 'i-0deadbeefdeadbeef', region: 'eu-west-1' }])

    const actions = new Set(ec2.calls.map((c) => c.action))
    t.same([...actions].sort(), ['CreateTags', 'DescribeInstances', 'RunInstances', 'TerminateInstances'])
    for (const call of ec2.calls.filter((c) => !c.error)) {
      const check = checkCall(controller, call, iam)
      t.ok(check.allowed, `${call.action} in ${call.region} is allowed`, { denied: check.denied })
    }
    const rogue = {
      ...ec2.callsOf('RunInstances')[0]!,
      tagSpecifications: [{ resourceType: 'instance', tags: { team: 'x' } }],
    }
    t.notOk(
      checkCall(controller, rogue, iam).allowed,
      'and the same launch without the fleet tags would not be',
    )
  },
)
