import t from 'tap'
import { TimelineAssembler } from '../../lib/assemble.js'
import type { SampleEntry } from '../../lib/documents.js'
import { createHistogram, encodeHistogram, recordMicros } from '../../lib/histogram.js'
import { emptyPoint } from '../../lib/timeline.js'

const entry = (shard: string, t: number, hits: number): SampleEntry => {
  const histogram = createHistogram()
  for (let i = 0; i < hits; i++) recordMicros(histogram, 1000 + i)
  return {
    rush: 'r',
    shard,
    point: { ...emptyPoint(t), hits, sent: hits },
    histogram: encodeHistogram(histogram),
  }
}

t.test('a second is emitted once every shard has reported it, in order, once', async (t) => {
  const assembler = new TimelineAssembler(['a', 'b'])
  assembler.add(entry('a', 0, 1))
  assembler.add(entry('a', 1, 2))
  t.same(assembler.drain(), [], 'b has not reported second 0')
  assembler.add(entry('b', 0, 3))
  assembler.add(entry('b', 0, 3)) // a batch read twice
  const out = assembler.drain()
  t.same(
    out.map((s) => [s.point.t, s.point.hits, s.histogram.totalCount]),
    [[0, 4, 4]],
  )
  assembler.add(entry('b', 1, 5))
  t.same(
    assembler.drain().map((s) => s.point.hits),
    [7],
  )
})

t.test('a finished shard holds back the seconds it has reported but that have not arrived', async (t) => {
  const assembler = new TimelineAssembler(['a', 'b'])
  assembler.shard({ _id: 'b', state: 'done', totals: { sent: 2, hits: 2, errors: 0, seconds: 2 } })
  assembler.add(entry('a', 0, 1))
  assembler.shard({ _id: 'a', state: 'done', totals: { sent: 1, hits: 1, errors: 0, seconds: 1 } })
  t.same(assembler.drain(), [], "b's samples have not replicated yet")
  t.notOk(assembler.complete)
  assembler.add(entry('b', 0, 1))
  assembler.add(entry('b', 1, 1))
  t.same(
    assembler.drain().map((s) => [s.point.t, s.point.hits]),
    [
      [0, 2],
      [1, 1],
    ],
  )
  t.ok(assembler.complete)
})

t.test('a lost shard stops holding seconds back', async (t) => {
  const assembler = new TimelineAssembler(['a', 'b'])
  assembler.add(entry('a', 0, 1))
  assembler.add(entry('a', 1, 1))
  assembler.shard({ _id: 'b', state: 'lost' })
  t.same(
    assembler.drain().map((s) => s.point.t),
    [0, 1],
  )
})
