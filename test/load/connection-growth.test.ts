import t from 'tap'
import {
  BEHIND_MS,
  BEHIND_OPEN_PER_WINDOW,
  connectionGrowth,
  GROWTH_WINDOW_MS,
  MIN_OPEN_PER_WINDOW,
  mayOpen,
  PREOPEN_MAX,
  preopenCount,
} from '../../load/connection-growth.js'

/** How many of `asked` opens one window allows with `connections` open when it began. */
function allowed(connections: number, loopLagMs: number, asked = 10_000): number {
  const growth = connectionGrowth()
  let opened = 0
  for (let i = 0; i < asked; i++) if (mayOpen(growth, connections, loopLagMs, 1000)) opened++
  return opened
}

t.test('a process behind its schedule opens one connection per window', async (t) => {
  for (const connections of [0, 10, 100, 10_000]) {
    t.equal(allowed(connections, BEHIND_MS + 0.1), BEHIND_OPEN_PER_WINDOW, `${connections} open`)
  }
})

t.test('a process on schedule grows its connections with those it has', async (t) => {
  t.equal(allowed(0, 0), MIN_OPEN_PER_WINDOW, 'at least the minimum')
  t.equal(allowed(10, BEHIND_MS), MIN_OPEN_PER_WINDOW)
  t.equal(allowed(800, 0), 100, 'an eighth of 800')
  t.equal(allowed(20_000, 1), 2500)
})

t.test('the allowance is per window: the next one allows again, the same one does not', async (t) => {
  const growth = connectionGrowth()
  let opened = 0
  for (let i = 0; i < 50; i++) if (mayOpen(growth, 0, 0, 0)) opened++
  t.equal(opened, MIN_OPEN_PER_WINDOW)
  t.notOk(mayOpen(growth, 0, 0, GROWTH_WINDOW_MS - 0.001), 'still the same window')
  t.ok(mayOpen(growth, 0, 0, GROWTH_WINDOW_MS), 'a new window')
  t.notOk(mayOpen(growth, 0, BEHIND_MS + 1, GROWTH_WINDOW_MS), 'behind: the one of the new window is used')
})

t.test('against a slow target, 100 connections grow past 20,000 within a second', async (t) => {
  const growth = connectionGrowth()
  let connections = 100
  let now = 0
  // Every millisecond, every request due (however many) asks for a connection.
  for (; connections < 20_000 && now < 1000; now += 1) {
    const open = connections
    for (let i = 0; i < 20_000; i++) if (mayOpen(growth, open, 0, now)) connections++
  }
  t.ok(connections >= 20_000, `${connections} connections after ${Math.round(now)} ms`)
  t.ok(now < 1000)
})

t.test('an open model connects 5 ms of its share of the starting rate before the start', async (t) => {
  const job = (start: number, of = 1) => ({
    pattern: [{ start, end: start * 2, duration: 10 }],
    share: { index: 0, of },
  })
  t.equal(preopenCount(job(4000), 10_000), 20, '5 ms of 4,000/s')
  t.equal(preopenCount(job(4000, 4), 10_000), 5, 'of this share only')
  t.equal(preopenCount(job(1), 10_000), 1, 'at least one at any rate')
  t.equal(preopenCount(job(4000), 7), 7, 'within the in-flight cap')
  t.equal(preopenCount(job(10_000_000), 1_000_000), PREOPEN_MAX, 'and the bound')
})
