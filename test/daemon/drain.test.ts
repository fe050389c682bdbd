import t from 'tap'
import { abortRush, rushStatus } from '../../lib/couch/rushes.js'
import { waitFor } from '../harness/couch.js'
import { oneRegion, startEngine } from '../harness/plane.js'
import { anyDocWrite, docWrite, startProxy } from '../harness/proxy.js'
import { engineArgs, fleetDoc, shardDoc, spawnEngine, submitOneShard } from './engine-process.js'

const staticIdentity = (id: string) => ['--identity', 'static', '--instance-id', id, '--region', 'us-east-1']

t.test(
  'SIGTERM: a shard not started goes back to the queue, a running one finishes, heartbeats go on, then gone and exit 0',
  async (t) => {
    const { server, target, later } = await oneRegion(t)
    const engine = spawnEngine(engineArgs(server, [...staticIdentity('d1'), '--drain-timeout', '20s']))
    later(() => engine.kill())
    await waitFor('the engine registered', () => fleetDoc(server, 'd1'))

    const running = await submitOneShard(server, target.url, { seconds: 4, leadMs: 300 })
    const waiting = await submitOneShard(server, target.url, { seconds: 2, leadMs: 60_000 })
    await waitFor(
      'the first shard running',
      async () => (await shardDoc(server, running))?.state === 'running',
    )
    await waitFor(
      'the second shard claimed',
      async () => (await shardDoc(server, waiting))?.state === 'claimed',
    )

    const signalledAt = Date.now()
    engine.child.kill('SIGTERM')
    const handedBack = await waitFor('the waiting shard back in the queue', async () => {
      const doc = await shardDoc(server, waiting)
      return doc?.state === 'queued' && doc
    })
    t.equal(handedBack.engine, undefined, 'no engine on the handed-back shard')
    t.equal(handedBack.leaseUntil, undefined, 'no lease on it either')

    const draining = await waitFor('the engine doc says draining', async () => {
      const doc = await fleetDoc(server, 'd1')
      return doc?.state === 'draining' && doc
    })
    await waitFor('a heartbeat while draining', async () => {
      const doc = await fleetDoc(server, 'd1')
      return doc?.state === 'draining' && doc.heartbeatAt > draining.heartbeatAt
    })

    const exit = await engine.exited
    t.same([exit.code, exit.signal], [0, null], 'exit 0 after the drain')
    t.ok(exit.at - signalledAt < 20_000, `gone within the drain bound (${exit.at - signalledAt} ms)`)
    const finished = await shardDoc(server, running)
    t.equal(finished?.state, 'done', 'the running shard finished')
    t.ok(
      (finished?.totals?.hits ?? 0) > 0 && finished?.totals?.hits === target.count,
      'all its requests counted',
    )
    t.equal((await shardDoc(server, waiting))?.state, 'queued', 'the handed-back shard stays queued')
    t.equal((await fleetDoc(server, 'd1'))?.state, 'gone')
    t.ok(engine.messages.includes('draining') && engine.messages.includes('engine gone'), 'logged')
  },
)

t.test('SIGTERM during a shard that cannot end in time: stopped at once, lost with the reason', async (t) => {
  const { server, target, later } = await oneRegion(t)
  const engine = spawnEngine(engineArgs(server, [...staticIdentity('d2'), '--drain-timeout', '30s']))
  later(() => engine.kill())
  await waitFor('the engine registered', () => fleetDoc(server, 'd2'))
  const rush = await submitOneShard(server, target.url, { seconds: 60, leadMs: 300 })
  await waitFor(
    'load reaching the target',
    async () => (await shardDoc(server, rush))?.state === 'running' && target.count > 10,
  )

  const signalledAt = Date.now()
  engine.child.kill('SIGTERM')
  const exit = await engine.exited
  t.equal(exit.code, 0)
  t.ok(exit.at - signalledAt < 15_000, `did not wait for the 30 s bound (${exit.at - signalledAt} ms)`)
  const shard = await shardDoc(server, rush)
  t.equal(shard?.state, 'lost')
  t.match(shard?.reason, /^engine stopping: SIGTERM; cannot finish before the drain deadline$/)
  t.ok(typeof shard?.histogram === 'string' && shard.totals!.hits > 0, 'what it measured is kept')
  const status = await rushStatus(server.couch, rush)
  t.equal(status.state, 'failed', 'the rush reports it')
  t.match(status.shards[0]?.reason, /SIGTERM/)
  t.equal((await fleetDoc(server, 'd2'))?.state, 'gone')
})

t.test('a second SIGTERM stops a finishing shard at once', async (t) => {
  const { server, target, later } = await oneRegion(t)
  const engine = spawnEngine(engineArgs(server, [...staticIdentity('d3'), '--drain-timeout', '60s']))
  later(() => engine.kill())
  await waitFor('the engine registered', () => fleetDoc(server, 'd3'))
  const rush = await submitOneShard(server, target.url, { seconds: 30, leadMs: 300 })
  await waitFor('the shard running', async () => (await shardDoc(server, rush))?.state === 'running')
  engine.child.kill('SIGTERM')
  await waitFor('the engine draining', async () => (await fleetDoc(server, 'd3'))?.state === 'draining')
  t.equal((await shardDoc(server, rush))?.state, 'running', 'it may finish within 60 s: still running')
  engine.child.kill('SIGTERM')
  const exit = await engine.exited
  t.equal(exit.code, 0)
  const shard = await shardDoc(server, rush)
  t.equal(shard?.state, 'lost')
  t.match(shard?.reason, /^engine stopping: second SIGTERM; drain deadline reached$/)
})

t.test('an engine drains while a rush is aborted: the abort still reaches it', async (t) => {
  const { server, target, later } = await oneRegion(t)
  const engine = spawnEngine(engineArgs(server, [...staticIdentity('d4'), '--drain-timeout', '60s']))
  later(() => engine.kill())
  await waitFor('the engine registered', () => fleetDoc(server, 'd4'))
  const rush = await submitOneShard(server, target.url, { seconds: 30, leadMs: 300 })
  await waitFor('the shard running', async () => (await shardDoc(server, rush))?.state === 'running')
  engine.child.kill('SIGTERM')
  await waitFor('the engine draining', async () => (await fleetDoc(server, 'd4'))?.state === 'draining')
  await abortRush(server.couch, rush)
  const exit = await engine.exited
  t.equal(exit.code, 0, 'exit 0', { log: engine.messages, stderr: engine.stderr })
  t.equal((await shardDoc(server, rush))?.state, 'aborted')
  t.equal((await fleetDoc(server, 'd4'))?.state, 'gone')
})

t.test(
  'a claim in flight at the signal: the engine doc says draining only once the claim has its drain plan',
  async (t) => {
    const { server, later } = await oneRegion(t)
    const proxy = await startProxy(server.url)
    later(() => proxy.close())
    // Fast heartbeats through the proxy, so several fall between the signal and the plan.
    const engine = await startEngine(proxy.url, server.prefix, 'd5', 'us-east-1', { heartbeatMs: 50 })
    later(() => engine.engine.stop())
    const claim = proxy.hold(
      anyDocWrite((doc) => String(doc._id).startsWith('shard:') && doc.state === 'claimed'),
    )
    later(() => claim.drop())
    const rush = await submitOneShard(server, 'http://127.0.0.1:9/', { seconds: 2, leadMs: 60_000 })
    await claim.arrived
    const drained = engine.engine.drain({ timeoutMs: 60_000, reason: 'test drain' })
    // Two heartbeats in a row, both while the claim is held: the second read the engine's
    // status after drain() began (a beat never overlaps the one before).
    for (const beat of ['first', 'second']) {
      const write = proxy.hold(docWrite('engine:d5', () => true))
      const doc = JSON.parse((await write.arrived).body) as { state: string }
      write.release()
      t.not(doc.state, 'draining', `the ${beat} heartbeat after the signal does not say draining yet`)
    }
    claim.release()
    await drained
    t.ok(
      engine.events.some((event) => event.type === 'released'),
      'the claim, landed, was handed back by the drain plan',
    )
    t.equal((await shardDoc(server, rush))?.state, 'queued', 'the shard is back in the queue')
    t.equal((await fleetDoc(server, 'd5'))?.state, 'gone')
  },
)
