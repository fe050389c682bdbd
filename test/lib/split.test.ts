import t from 'tap'
import {
  arrivalCount,
  concurrencyAt,
  nestShare,
  type Pattern,
  patternDuration,
  shareCount,
} from '../../lib/pattern.js'
import { newRush, splitRush } from '../../lib/split.js'
import { RowPicker } from '../../lib/transaction/rows.js'
import type { TransactionSpec } from '../../lib/transaction/spec.js'
import { randomInt, seededRandom } from '../helpers/random.js'

const request = { method: 'GET', url: 'http://127.0.0.1:9/', headers: {}, timeoutMs: 1000 }

t.test('the shards of a rush add up to the asked users at every moment', async (t) => {
  const random = seededRandom(7)
  for (let trial = 0; trial < 200; trial++) {
    const pattern: Pattern = Array.from({ length: randomInt(random, 1, 4) }, () => ({
      start: randomInt(random, 0, 500),
      end: randomInt(random, 0, 500),
      duration: randomInt(random, 1, 30),
    }))
    const regions = ['a', 'b', 'c'].slice(0, randomInt(random, 1, 3))
    const rush = newRush(
      { model: 'rush', request, pattern, regions, shardsPerRegion: randomInt(random, 1, 5) },
      'r',
      0,
    )
    const shards = splitRush(rush)
    for (let tenth = 0; tenth <= patternDuration(pattern) * 10; tenth++) {
      const wanted = concurrencyAt(pattern, tenth / 10)
      const sum = shards.reduce(
        (total, shard) => total + shareCount(concurrencyAt(shard.pattern, tenth / 10), shard.share),
        0,
      )
      if (sum !== wanted) t.fail(`trial ${trial} at ${tenth / 10}s: shards sum to ${sum}, asked ${wanted}`)
    }
    const connections = shards.reduce((total, shard) => total + shard.connections, 0)
    t.equal(
      connections,
      Math.ceil(Math.max(...pattern.flatMap((i) => [i.start, i.end]))),
      `trial ${trial}: peak connections split exactly`,
    )
  }
})

t.test('an arrival-rate rush splits its requests exactly', async (t) => {
  const pattern = [{ start: 10, end: 97, duration: 13 }]
  const rush = newRush(
    { model: 'arrival-rate', request, pattern, regions: ['a', 'b'], shardsPerRegion: 3, maxInFlight: 50 },
    'r',
    0,
  )
  const shards = splitRush(rush)
  // What each shard will run: its own pattern, its own share of the requests in it.
  t.equal(
    shards.reduce((total, shard) => total + shareCount(arrivalCount(shard.pattern), shard.share), 0),
    arrivalCount(pattern),
    "the shards' requests add up to the rush's",
  )
  t.same(
    shards.map((shard) => [shard.model, shard.share.index, shard.share.of]),
    shards.map((_, n) => ['arrival-rate', n, 6]),
    'six shares of the open model, each index once',
  )
  t.equal(
    shards.reduce((total, shard) => total + shard.connections, 0),
    50,
    'the in-flight cap is split too',
  )
})

t.test('pipelining travels from the rush to every shard; refused where it does not apply', async (t) => {
  const pattern = [{ start: 5, end: 5, duration: 2 }]
  const rush = newRush({ model: 'rush', request, pattern, regions: ['a', 'b'], pipelining: 8 }, 'r', 0)
  t.equal(rush.pipelining, 8)
  t.same(
    splitRush(rush).map((shard) => shard.pipelining),
    [8, 8],
  )
  const off = newRush({ model: 'rush', request, pattern, regions: ['a'], pipelining: 1 }, 'r', 0)
  t.equal(off.pipelining, undefined, '1 is off: not stored')
  t.throws(
    () => newRush({ model: 'arrival-rate', request, pattern, regions: ['a'], pipelining: 2 }, 'r', 0),
    /pipelining goes with users/,
  )
  t.throws(
    () =>
      newRush(
        {
          model: 'rush',
          request: { ...request, url: 'https://127.0.0.1:9/' },
          pattern,
          regions: ['a'],
          pipelining: 2,
        },
        'r',
        0,
      ),
    /plain http:/,
  )
  t.throws(
    () => newRush({ model: 'rush', request, pattern, regions: ['a'], pipelining: 65 }, 'r', 0),
    /from 1 to 64/,
  )
})

t.test('shards are laid out round-robin over regions with a common start', async (t) => {
  const rush = newRush(
    {
      model: 'rush',
      request,
      pattern: [{ start: 4, end: 4, duration: 1 }],
      regions: ['a', 'b'],
      shardsPerRegion: 2,
      startLeadMs: 500,
    },
    'r',
    1000,
  )
  const shards = splitRush(rush)
  t.same(
    shards.map((s) => [s._id, s.region, s.share.index, s.share.of]),
    [
      ['shard:r:0', 'a', 0, 4],
      ['shard:r:1', 'b', 1, 4],
      ['shard:r:2', 'a', 2, 4],
      ['shard:r:3', 'b', 3, 4],
    ],
  )
  t.ok(shards.every((s) => s.startAt === 1500))
})

t.test('a rush without an explicit split gets enough shards for its peak', async (t) => {
  const rush = newRush(
    { model: 'rush', request, pattern: [{ start: 0, end: 9000, duration: 10 }], regions: ['a', 'b'] },
    'r',
    0,
  )
  t.equal(rush.shards.length, 6, '9000 users over two regions at 2000 a shard: 3 per region')
})

t.test('bad regions are a usage error', async (t) => {
  t.throws(
    () =>
      newRush(
        { model: 'rush', request, pattern: [{ start: 1, end: 1, duration: 1 }], regions: ['US East'] },
        'r',
        0,
      ),
    { code: 'STAMPEDE_USAGE' },
  )
  t.throws(
    () =>
      newRush(
        { model: 'rush', request, pattern: [{ start: 1, end: 1, duration: 1 }], regions: ['a', 'a'] },
        'r',
        0,
      ),
    { code: 'STAMPEDE_USAGE' },
  )
})

t.test(
  'a transaction rush: shards carry the steps without the table, and unique rows split exactly over regions, shards and processes',
  async (t) => {
    const random = seededRandom(11)
    for (let trial = 0; trial < 100; trial++) {
      const rows = randomInt(random, 0, 300)
      const transaction: TransactionSpec = {
        steps: [
          { name: 'login', request: { ...request, url: 'http://127.0.0.1:9/login?u=#{user}' } },
          { request },
        ],
        data: {
          name: 'users.csv',
          mode: 'unique',
          table: { columns: ['user'], rows: Array.from({ length: rows }, (_, i) => [`u${i}`]) },
        },
      }
      const regions = ['a', 'b', 'c'].slice(0, randomInt(random, 1, 3))
      const rush = newRush(
        {
          model: 'rush',
          request,
          transaction,
          pattern: [{ start: 1, end: 50, duration: 10 }],
          regions,
          shardsPerRegion: randomInt(random, 1, 4),
        },
        'r',
        0,
      )
      t.equal(
        rush.request.url,
        'http://127.0.0.1:9/login?u=#{user}',
        "the rush's request is the first step's",
      )
      const taken: number[] = []
      for (const shard of splitRush(rush)) {
        if (!shard.transaction) return t.fail('a shard lost the transaction')
        t.same(shard.transaction.data, { name: 'users.csv', mode: 'unique', columns: ['user'], rows })
        // The engine nests the shard's share into its load processes (load/run.ts).
        const processes = randomInt(random, 1, 5)
        for (let index = 0; index < processes; index++) {
          const picker = new RowPicker(rows, nestShare(shard.share, { index, of: processes }), 'unique')
          for (let row = picker.next(Math.random); row >= 0; row = picker.next(Math.random)) taken.push(row)
        }
      }
      t.same(
        taken.sort((x, y) => x - y),
        Array.from({ length: rows }, (_, i) => i),
        `trial ${trial}: ${rows} rows, each taken once`,
      )
    }
  },
)

t.test('a transaction is checked at submission: bad input is a one-line usage error', async (t) => {
  const rushWith = (transaction: TransactionSpec) =>
    newRush(
      { model: 'rush', request, transaction, pattern: [{ start: 1, end: 1, duration: 1 }], regions: ['a'] },
      'r',
      0,
    )
  t.throws(() => rushWith({ steps: [{ request: { ...request, url: 'http://127.0.0.1:9/#{nope}' } }] }), {
    message: /step step1: url: unknown variable "nope"/,
  })
  t.throws(() => rushWith({ steps: [] }), { message: 'a transaction needs at least one step' })
})
