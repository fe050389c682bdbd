import t from 'tap'
import { recoveredShard, recoverShards } from '../../daemon/recovery.js'
import { ManualClock } from '../../lib/clock.js'
import type { ShardDoc } from '../../lib/documents.js'
import { MemoryDb } from '../helpers/memory-db.js'

const shard = (id: string, fields: Partial<ShardDoc>) =>
  ({ _id: id, type: 'shard', rush: 'r', n: 0, region: 'us-east-1', startAt: 0, ...fields }) as ShardDoc

t.test('after a restart: claimed goes back to the queue, running is lost, the rest is left', async (t) => {
  const now = 5000
  t.match(recoveredShard(shard('s', { state: 'claimed', engine: 'i-1', leaseUntil: 9 }), 'i-1', now), {
    state: 'queued',
  })
  t.notOk(
    'engine' in recoveredShard(shard('s', { state: 'claimed', engine: 'i-1' }), 'i-1', now)!,
    'no holder left',
  )
  t.match(recoveredShard(shard('s', { state: 'running', engine: 'i-1' }), 'i-1', now), {
    state: 'lost',
    reason: 'engine restarted',
    finishedAt: now,
  })
  t.equal(recoveredShard(shard('s', { state: 'running', engine: 'i-2' }), 'i-1', now), undefined, 'not ours')
  t.equal(recoveredShard(shard('s', { state: 'done', engine: 'i-1' }), 'i-1', now), undefined, 'finished')
  t.equal(recoveredShard(undefined, 'i-1', now), undefined, 'gone')
})

t.test('recoverShards writes what changed, reports it and counts only the writes made', async (t) => {
  const db = new MemoryDb('dispatch')
  const clock = new ManualClock(7000)
  for (const doc of [
    shard('a', { state: 'claimed', engine: 'i-1' }),
    shard('b', { state: 'running', engine: 'i-1' }),
    shard('c', { state: 'running', engine: 'i-2' }),
  ])
    await db.scope.insert(doc)
  db.writes.length = 0
  db.requests = 0
  // The view lags: it still lists c under i-1, which another engine holds now.
  db.views.set('by-engine', [
    { id: 'a', key: ['i-1', 'claimed'], value: 0 },
    { id: 'b', key: ['i-1', 'running'], value: 0 },
    { id: 'c', key: ['i-1', 'running'], value: 0 },
  ])
  const recovered: Array<[string, string]> = []
  let counted = 0
  await recoverShards({
    dispatch: db.scope,
    instanceId: 'i-1',
    clock,
    wrote: (n) => {
      counted += n
    },
    onRecovered: (id, state) => recovered.push([id, state]),
  })
  t.same(recovered, [
    ['a', 'queued'],
    ['b', 'lost'],
  ])
  t.equal(counted, 2, 'no write counted for the shard left alone')
  t.equal(db.requests, 2)
  t.match(db.docs.get('b'), { finishedAt: 7000 })
})
