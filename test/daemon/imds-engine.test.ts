import t from 'tap'
import { startImds } from '../../emulators/imds.js'
import { cleanups, startCouch, waitFor } from '../harness/couch.js'
import { migrateRegions } from '../harness/plane.js'
import { startTarget } from '../harness/target.js'
import { engineArgs, fleetDoc, shardDoc, spawnEngine, submitOneShard } from './engine-process.js'

const instance = {
  instanceId: 'i-0feedfacecafe0001',
  region: 'us-east-1',
  az: 'us-east-1d',
  instanceType: 'c7g.large',
}

t.test('a metadata service that never answers: exit 1 with one clear line, and never IMDSv1', async (t) => {
  for (const mode of ['hang', 'fail'] as const) {
    const imds = await startImds(instance)
    t.teardown(() => imds.close())
    if (mode === 'hang') imds.hang()
    else imds.fail(500)
    const engine = spawnEngine([
      '--couch',
      'http://127.0.0.1:9',
      '--imds-endpoint',
      imds.url,
      '--imds-timeout',
      '200ms',
      '--imds-attempts',
      '2',
    ])
    t.teardown(() => engine.kill())
    const exit = await engine.exited
    t.equal(exit.code, 1, `${mode}: exit 1`)
    t.equal(engine.stderr.length, 1, `${mode}: one line`)
    t.match(
      engine.stderr[0],
      /^stampede-engine: no identity from the EC2 metadata service at http:\/\/127\.0\.0\.1:\d+\/ after 2 tries \(200 ms timeout each\): .+ \(off EC2: --identity static with --instance-id and --region\)$/,
      `${mode}: says what and where`,
    )
    t.ok(imds.requests.length > 0, `${mode}: it asked`)
    t.ok(
      imds.requests.every((r) => r.method === 'PUT' && r.path === '/latest/api/token'),
      `${mode}: only token requests: no read without a token (no IMDSv1 fall-back)`,
    )
  }
})

t.test(
  'an engine on "EC2" registers with the identity its IMDS gives, and drains on a spot notice',
  async (t) => {
    const later = cleanups(t)
    const server = await startCouch()
    later(() => server.stop())
    const target = await startTarget(5)
    later(() => target.close())
    await migrateRegions({ 'us-east-1': server }, server.prefix)
    const imds = await startImds(instance)
    later(() => imds.close())
    const engine = spawnEngine(
      engineArgs(server, ['--identity', 'imds', '--spot-poll', '200ms', '--drain-timeout', '30s']),
      { AWS_EC2_METADATA_SERVICE_ENDPOINT: imds.url },
    )
    later(() => engine.kill())

    const registered = await waitFor('the engine registered', () => fleetDoc(server, instance.instanceId))
    t.match(registered, {
      instanceId: instance.instanceId,
      region: 'us-east-1',
      az: 'us-east-1d',
      instanceType: 'c7g.large',
      state: 'idle',
    })

    const short = await submitOneShard(server, target.url, { seconds: 3, leadMs: 300 })
    const long = await submitOneShard(server, target.url, { seconds: 60, leadMs: 300 })
    await waitFor('both shards running', async () => {
      const docs = await Promise.all([shardDoc(server, short), shardDoc(server, long)])
      return docs.every((doc) => doc?.state === 'running')
    })
    const notice = imds.announceSpotInterruption()
    const exit = await engine.exited
    t.same([exit.code, exit.signal], [0, null], 'exit 0 by itself, no signal needed', {
      stderr: engine.stderr,
      log: engine.messages,
    })

    const finished = await shardDoc(server, short)
    t.equal(finished?.state, 'done', 'the shard that could end before the deadline finished')
    const stopped = await shardDoc(server, long)
    t.equal(stopped?.state, 'lost', 'the one that could not was stopped at once')
    t.equal(
      stopped?.reason,
      `engine stopping: spot interruption (terminate at ${notice.time}); cannot finish before the drain deadline`,
    )
    t.equal((await fleetDoc(server, instance.instanceId))?.state, 'gone')
    t.ok(engine.messages.includes('leaving the fleet'))
  },
)
