import t from 'tap'
import type { ShardDoc } from '../../lib/documents.js'
import { claim, isFinal, isHeld, markAborted, markLost, requeue } from '../../lib/shard-state.js'

const queued: ShardDoc = {
  _id: 'shard:r1:0',
  _rev: '1-a',
  type: 'shard',
  rush: 'r1',
  n: 0,
  region: 'us-east-1',
  model: 'rush',
  request: { method: 'GET', url: 'http://127.0.0.1:8080/' },
  pattern: [{ start: 1, end: 1, duration: 10 }],
  share: { index: 0, of: 2 },
  startAt: 10_000,
  connections: 1,
  state: 'queued',
} as ShardDoc

t.test('a claim records the holder, the claim time and the lease; a running claim its start', async (t) => {
  const claimed = claim(queued, 'i-1', 5000, 30_000)
  t.match(claimed, { state: 'claimed', engine: 'i-1', claimedAt: 5000, leaseUntil: 35_000 })
  t.notOk('startedAt' in claimed)
  t.match(claim(queued, 'i-1', 9990, 30_000, 'running'), { state: 'running', startedAt: 9990 })
  t.equal(queued.state, 'queued', 'the document read is left as it was')
})

t.test('requeue leaves nothing of the claim behind', async (t) => {
  const running = { ...claim(queued, 'i-1', 5000, 30_000, 'running'), progress: 3 }
  const back = requeue(running)
  t.same(Object.keys(back).sort(), Object.keys(queued).sort(), 'exactly the fields of a fresh shard')
  t.equal(back.state, 'queued')
  t.equal(requeue(running, 'engine gone').reason, 'engine gone')
  t.equal(back._rev, running._rev, 'written on top of the revision read')
})

t.test('lost and aborted end the lease and keep who held it', async (t) => {
  const running = claim(queued, 'i-1', 5000, 30_000, 'running')
  const lost = markLost(running, 'engine restarted', 20_000)
  t.match(lost, {
    state: 'lost',
    reason: 'engine restarted',
    finishedAt: 20_000,
    engine: 'i-1',
    startedAt: 5000,
  })
  t.notOk('leaseUntil' in lost)
  const aborted = markAborted(running, 'aborted by the user')
  t.match(aborted, { state: 'aborted', reason: 'aborted by the user', engine: 'i-1' })
  t.notOk('leaseUntil' in aborted)
})

t.test('final and held states', async (t) => {
  t.same((['queued', 'claimed', 'running', 'done', 'lost', 'failed', 'aborted'] as const).filter(isFinal), [
    'done',
    'lost',
    'failed',
    'aborted',
  ])
  t.same((['queued', 'claimed', 'running', 'done'] as const).filter(isHeld), ['claimed', 'running'])
})
