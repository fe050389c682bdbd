import t from 'tap'
import { parseDaemonConfig } from '../../daemon/config.js'
import { FINISH_MARGIN_MS, planDrain } from '../../daemon/drain.js'
import type { DrainOptions } from '../../daemon/engine.js'
import type { MetadataReader } from '../../daemon/imds-identity.js'
import { Lifecycle, SPOT_MARGIN_MS } from '../../daemon/lifecycle.js'
import { silentLogger } from '../../daemon/log.js'
import { ManualClock } from '../../lib/clock.js'

t.test('planDrain: not started → release; ends in time → finish; else → stop', async (t) => {
  const deadline = 100_000
  t.same(
    planDrain(
      [
        { id: 'waiting', phase: 'waiting', endsAt: 50_000 },
        { id: 'in-time', phase: 'running', endsAt: deadline - FINISH_MARGIN_MS },
        { id: 'too-long', phase: 'running', endsAt: deadline - FINISH_MARGIN_MS + 1 },
        { id: 'starting', phase: 'starting', endsAt: deadline * 2 },
        { id: 'over', phase: 'finished', endsAt: 0 },
      ],
      deadline,
    ),
    [
      { shard: 'waiting', action: 'release' },
      { shard: 'in-time', action: 'finish' },
      { shard: 'too-long', action: 'stop' },
      { shard: 'starting', action: 'stop' },
    ],
  )
})

/** An engine stand-in that records drain calls. */
function fakeEngine() {
  const calls: DrainOptions[] = []
  let finish!: () => void
  const done = new Promise<void>((resolve) => {
    finish = resolve
  })
  const drain = (options: DrainOptions) => {
    calls.push(options)
    return done
  }
  return { calls, finish, drain }
}

t.test('a signal drains with the drain bound; a second one asks for now', async (t) => {
  const lifecycle = new Lifecycle({ log: silentLogger(), drainMs: 30_000, signals: ['SIGUSR2'] })
  t.teardown(() => lifecycle.dispose())
  const engine = fakeEngine()
  const ran = lifecycle.run(engine)
  process.emit('SIGUSR2', 'SIGUSR2')
  process.emit('SIGUSR2', 'SIGUSR2')
  t.same(engine.calls, [
    { reason: 'SIGUSR2', timeoutMs: 30_000 },
    { reason: 'second SIGUSR2', timeoutMs: 0 },
  ])
  engine.finish()
  t.equal(await ran, 'SIGUSR2')
})

t.test('a signal during boot is kept and drains the engine as soon as it runs', async (t) => {
  const leaving: string[] = []
  const lifecycle = new Lifecycle({
    log: silentLogger(),
    drainMs: 5000,
    signals: ['SIGUSR2'],
    onLeaving: (reason) => leaving.push(reason),
  })
  t.teardown(() => lifecycle.dispose())
  process.emit('SIGUSR2', 'SIGUSR2')
  t.equal(lifecycle.reason, 'SIGUSR2')
  t.same(leaving, ['SIGUSR2'], 'told once (sd_notify STOPPING=1)')
  const engine = fakeEngine()
  const ran = lifecycle.run(engine)
  t.same(engine.calls, [{ reason: 'SIGUSR2', timeoutMs: 5000 }])
  engine.finish()
  await ran
})

t.test(
  'a spot notice drains, ending before the interruption when that is sooner than the bound',
  async (t) => {
    const clock = new ManualClock()
    const at = clock.now() + SPOT_MARGIN_MS + 4000
    const time = new Date(at).toISOString()
    let polls = 0
    const metadata: MetadataReader = {
      async get(path) {
        t.equal(path, 'latest/meta-data/spot/instance-action')
        return ++polls < 3 ? undefined : JSON.stringify({ action: 'terminate', time })
      },
    }
    const lifecycle = new Lifecycle({ log: silentLogger(), drainMs: 30_000, signals: [], clock })
    t.teardown(() => lifecycle.dispose())
    const engine = fakeEngine()
    const ran = lifecycle.run(engine)
    lifecycle.watchSpot(metadata, 5)
    engine.finish()
    t.equal(await ran, `spot interruption (terminate at ${time})`)
    t.equal(polls, 3, 'polled until the notice came')
    t.equal(
      engine.calls[0]!.timeoutMs,
      4000,
      `the drain bound ends ${SPOT_MARGIN_MS} ms before the interruption (on the injected clock)`,
    )
  },
)

t.test('engine flags: identity by flag, env or default; drain timeout as a duration', async (t) => {
  const couch = ['--couch', 'http://127.0.0.1:5984']
  const parse = (args: string[], env: NodeJS.ProcessEnv = {}) => parseDaemonConfig([...couch, ...args], env)!

  t.equal(parse([]).identity, 'imds', 'no instance id: the metadata service')
  t.equal(parse(['--instance-id', 'e1', '--region', 'r']).identity, 'static', 'an instance id: static')
  t.equal(parse([], { STAMPEDE_IDENTITY: 'static' }).identity, 'static')
  t.equal(parse(['--identity', 'imds'], { STAMPEDE_INSTANCE_ID: 'x' }).identity, 'imds', 'the flag wins')
  t.throws(() => parse(['--identity', 'v1']), { code: 'STAMPEDE_USAGE', message: /imds or static/ })

  const defaults = parse([])
  t.same(defaults.imds, { endpoint: 'http://169.254.169.254', timeoutMs: 1000, attempts: 5 })
  t.equal(defaults.spotPollMs, 5000)
  t.equal(defaults.drainMs, 30_000)
  t.equal(
    parse([], { AWS_EC2_METADATA_SERVICE_ENDPOINT: 'http://127.0.0.1:1338' }).imds.endpoint,
    'http://127.0.0.1:1338',
    'the SDK standard variable sets the endpoint',
  )
  t.same(
    parse(['--imds-endpoint', 'http://[::1]:80', '--imds-timeout', '250ms', '--imds-attempts', '2']).imds,
    {
      endpoint: 'http://[::1]:80',
      timeoutMs: 250,
      attempts: 2,
    },
  )
  t.equal(parse(['--spot-poll', '0']).spotPollMs, 0, 'spot polling can be turned off')
  t.equal(parse(['--drain-timeout', '2m']).drainMs, 120_000)
  t.equal(parse(['--drain-timeout', '45']).drainMs, 45_000, 'a bare number is seconds')
  t.equal(parse([], { STAMPEDE_DRAIN_MS: '1500' }).drainMs, 1500, 'the older variable still works')
  t.equal(parse(['--drain-timeout', '3s'], { STAMPEDE_DRAIN_MS: '1500' }).drainMs, 3000)
  t.throws(() => parse(['--drain-timeout', 'soon']), { code: 'STAMPEDE_USAGE', message: /duration/ })
})

t.test('engine flags: the pool of ready load processes is on unless turned off', async (t) => {
  const couch = ['--couch', 'http://127.0.0.1:5984']
  const parse = (args: string[], env: NodeJS.ProcessEnv = {}) => parseDaemonConfig([...couch, ...args], env)!
  t.equal(parse([]).workerPool, true, 'on by default')
  t.equal(parse(['--no-worker-pool']).workerPool, false)
  t.equal(parse([], { STAMPEDE_WORKER_POOL: '0' }).workerPool, false)
  t.equal(parse([], { STAMPEDE_WORKER_POOL: 'false' }).workerPool, false)
  t.equal(parse([], { STAMPEDE_WORKER_POOL: '1' }).workerPool, true)
})
