import t from 'tap'
import { silentLogger } from '../../daemon/log.js'
import { markedForScaleIn, nextEngineDoc, Registration } from '../../daemon/registration.js'
import { ManualClock } from '../../lib/clock.js'
import type { EngineDoc } from '../../lib/documents.js'
import { MemoryDb } from '../helpers/memory-db.js'

const doc = (now: number): EngineDoc => ({
  _id: 'engine:i-1',
  type: 'engine',
  instanceId: 'i-1',
  region: 'us-east-1',
  az: 'us-east-1a',
  version: 'test',
  state: 'idle',
  capacity: 100,
  inUse: 0,
  checkpoint: 7,
  heartbeatAt: now,
  startedAt: now,
  bootId: 'b',
})

function registration(status = { draining: false, held: 0, inUse: 0 }) {
  const clock = new ManualClock(1_000_000)
  const fleet = new MemoryDb('fleet')
  const counted: number[] = []
  let marked = 0
  const reg = new Registration({
    fleet: fleet.scope,
    clock,
    doc: doc(clock.now()),
    heartbeatMs: 10_000,
    status: () => status,
    onMarkedDraining: () => {
      marked++
      status.draining = true
    },
    wrote: (n) => counted.push(n),
    log: silentLogger(),
  })
  return { clock, fleet, reg, counted, status, marked: () => marked }
}

t.test('the doc follows what the engine holds', async (t) => {
  const base = doc(0)
  t.match(nextEngineDoc(base, { draining: false, held: 0, inUse: 0 }, 9, 5), {
    state: 'idle',
    checkpoint: 9,
    heartbeatAt: 5,
  })
  t.match(nextEngineDoc(base, { draining: false, held: 2, inUse: 30 }, 9, 5), { state: 'busy', inUse: 30 })
  t.match(nextEngineDoc(base, { draining: true, held: 2, inUse: 30 }, 9, 5), { state: 'draining' })
  t.match(nextEngineDoc(base, { draining: true, held: 0, inUse: 0 }, 9, 5, 'gone'), { state: 'gone' })
  t.ok(markedForScaleIn({ ...base, state: 'draining' }, false, undefined), 'the controller marked it')
  t.notOk(markedForScaleIn({ ...base, state: 'draining' }, true, undefined), 'it knew')
  t.notOk(
    markedForScaleIn({ ...base, state: 'draining' }, false, 'gone'),
    'its own final write learns nothing',
  )
})

t.test(
  'the heartbeat writes every heartbeatMs, with the clock and the checkpoint of that moment',
  async (t) => {
    const { clock, fleet, reg, counted } = registration()
    await reg.save()
    reg.start()
    reg.advance(42)
    await clock.advanceAsync(9_999)
    t.equal(fleet.writes.length, 1, 'only the first write before the first beat')
    await clock.advanceAsync(1)
    t.equal(fleet.writes.length, 2)
    t.match(fleet.writes[1], { heartbeatAt: 1_010_000, checkpoint: 42 })
    await clock.advanceAsync(25_000)
    t.same(
      fleet.writes.map((w) => w.heartbeatAt),
      [1_000_000, 1_010_000, 1_020_000, 1_030_000],
      'one beat per 10 s, no drift',
    )
    await reg.stop()
    await clock.advanceAsync(60_000)
    t.equal(fleet.writes.length, 4, 'stopped: no more beats')
    t.same(counted, [1, 1, 1, 1], 'one write request each')
  },
)

t.test('a doc the controller marked draining makes the engine drain, once', async (t) => {
  const { fleet, reg, marked } = registration()
  await reg.save()
  const stored = fleet.docs.get('engine:i-1')!
  fleet.docs.set('engine:i-1', { ...stored, state: 'draining', _rev: '2-c' })
  await reg.save()
  t.equal(marked(), 1)
  t.equal(reg.doc.state, 'draining', 'and the heartbeat keeps saying so')
  await reg.save()
  t.equal(marked(), 1, 'told once')
  t.equal(fleet.docs.get('engine:i-1')!.state, 'draining')
})

t.test('write requests counted are the ones made, conflicts included', async (t) => {
  const { fleet, reg, counted } = registration()
  fleet.conflictNext.set('engine:i-1', 2)
  await reg.save()
  t.same(counted, [3], 'two conflicts and the write that landed')
  t.equal(fleet.requests, 3)
})

t.test('stop waits for a beat in flight, so the final write is the last', async (t) => {
  const { clock, fleet, reg } = registration()
  await reg.save()
  let release!: () => void
  // The heartbeat's write is slow (a busy CouchDB); a second tick must not start another.
  fleet.gate = new Promise<void>((resolve) => {
    release = resolve
  })
  reg.start()
  await clock.advanceAsync(10_000)
  await clock.advanceAsync(10_000)
  let stopped = false
  const stopping = reg.stop().then(() => {
    stopped = true
  })
  await clock.advanceAsync(0)
  t.notOk(stopped, 'still waiting for the beat in flight')
  release()
  await stopping
  await reg.save('gone')
  await clock.advanceAsync(60_000)
  t.same(
    fleet.writes.map((w) => w.state),
    ['idle', 'idle', 'gone'],
    'one heartbeat for two ticks, and nothing after the final write',
  )
})
