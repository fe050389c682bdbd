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

/** A transaction's entry: two steps, each with its own hits and latencies; the iterations'. */
const transactionEntry = (shard: string, t: number, login: number[], list: number[]): SampleEntry => {
  const histogramOf = (micros: number[]) => {
    const histogram = createHistogram()
    for (const value of micros) recordMicros(histogram, value)
    return histogram
  }
  const stepPoint = (micros: number[]) => ({
    ...emptyPoint(t),
    hits: micros.length,
    sent: micros.length,
    latencyCount: micros.length,
  })
  const iterations = Math.min(login.length, list.length)
  return {
    rush: 'r',
    shard,
    point: {
      ...emptyPoint(t),
      hits: login.length + list.length,
      sent: login.length + list.length,
      steps: [stepPoint(login), stepPoint(list)],
      iterations: { ...emptyPoint(t), hits: iterations },
    },
    histogram: encodeHistogram(histogramOf([...login, ...list])),
    parts: [
      encodeHistogram(histogramOf(login.slice(0, iterations).map((v, i) => v + list[i]!))),
      encodeHistogram(histogramOf(login)),
      encodeHistogram(histogramOf(list)),
    ],
  }
}

t.test(
  "a transaction's steps and part histograms merge exactly across shards; old entries without them still merge",
  async (t) => {
    const assembler = new TimelineAssembler(['a', 'b', 'old'])
    assembler.add(transactionEntry('a', 0, [1000, 2000], [500]))
    assembler.add(transactionEntry('b', 0, [3000], [700, 900]))
    assembler.add(entry('old', 0, 2)) // an engine that writes no parts
    const [second] = assembler.drain()
    if (!second?.parts) return t.fail('no parts merged')
    t.equal(second.point.hits, 3 + 3 + 2)
    t.same(
      second.point.steps?.map((step) => step.hits),
      [3, 3],
      'each step adds its shards',
    )
    t.equal(second.point.iterations?.hits, 2)
    t.same(
      second.parts.map((part) => part.totalCount),
      [2, 3, 3],
      'iterations, login, list: every latency of every shard',
    )
    t.equal(second.parts[1]!.maxValue >= 3000, true, "login's histogram holds b's 3 ms")
    t.ok(second.parts[2]!.maxValue < 1000, "list's histogram holds only list latencies")
    t.equal(second.histogram.totalCount, 8)

    const plain = new TimelineAssembler(['a'])
    plain.add(entry('a', 0, 3))
    t.notOk(plain.drain()[0]?.parts, 'a single request has no parts')
  },
)
