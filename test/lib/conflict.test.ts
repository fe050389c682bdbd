import t from 'tap'
import { compareRevs, resolveShardConflict } from '../../lib/conflict.js'
import type { ShardDoc, ShardState } from '../../lib/documents.js'

const rev = (state: ShardState, r: string): ShardDoc => ({ _id: 'shard:r:0', _rev: r, state }) as ShardDoc

t.test('an abort wins over any claim, whatever the revision ids', async (t) => {
  const { winner, losers } = resolveShardConflict([
    rev('running', '3-ffff'),
    rev('aborted', '2-0000'),
    rev('claimed', '2-aaaa'),
  ])
  t.equal(winner.state, 'aborted')
  t.same(losers.sort(), ['2-aaaa', '3-ffff'])
})

t.test('without an abort, the revision furthest along wins, then the highest revision', async (t) => {
  t.equal(resolveShardConflict([rev('queued', '2-ffff'), rev('claimed', '2-0000')]).winner.state, 'claimed')
  t.equal(resolveShardConflict([rev('done', '3-0000'), rev('running', '4-ffff')]).winner.state, 'done')
  t.equal(resolveShardConflict([rev('claimed', '2-aaaa'), rev('claimed', '2-bbbb')]).winner._rev, '2-bbbb')
})

t.test('the outcome does not depend on the order revisions are read in', async (t) => {
  const revisions = [rev('claimed', '2-aaaa'), rev('aborted', '2-bbbb'), rev('running', '3-cccc')]
  const expected = resolveShardConflict(revisions).winner._rev
  t.equal(resolveShardConflict([...revisions].reverse()).winner._rev, expected)
})

t.test('revisions order by generation as a number, then by hash', async (t) => {
  t.ok(compareRevs('10-a', '9-z') > 0)
  t.ok(compareRevs('2-b', '2-a') > 0)
})
