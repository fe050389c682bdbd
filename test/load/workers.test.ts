import t from 'tap'
import { UsageError } from '../../lib/errors.js'
import { defaultCores, openFileLimit, planWorkers } from '../../load/workers.js'

const plan = (requested: number | 'auto', peakConnections: number, cores = 8, fdLimit = 65_536) =>
  planWorkers({ requested, peakConnections, cores, fdLimit })

t.test('auto uses every core for a rush with enough connections', async (t) => {
  t.equal(plan('auto', 1000, 8), 8)
  t.equal(plan('auto', 8, 8), 8)
})

t.test('auto never plans more processes than connections', async (t) => {
  t.equal(plan('auto', 3, 16), 3)
  t.equal(plan('auto', 1, 16), 1)
  t.equal(plan('auto', 0, 16), 1, 'an empty rush still gets one process')
})

t.test('auto plans more processes than cores when the open-file limit needs them', async (t) => {
  t.equal(plan('auto', 50_000, 2, 20_000), 3, '50,000 connections at 20,000 files a process need 3')
  t.equal(plan('auto', 50_000, 1, 1024), 66, 'each process keeps 256 files for itself: 768 connections each')
})

t.test('a process holds the open-file limit less 256 connections', async (t) => {
  t.equal(plan('auto', 19_744, 1, 20_000), 1, 'exactly full')
  t.equal(plan('auto', 19_745, 1, 20_000), 2, 'one more needs a second process')
  t.equal(plan(1, 19_744, 1, 20_000), 1)
})

t.test('an explicit count that suffices is kept as asked', async (t) => {
  t.equal(plan(4, 10, 64), 4, 'even more processes than connections')
  t.equal(plan(3, 50_000, 1, 20_000), 3)
  t.equal(plan(0, 500, 8), 0, 'zero runs the load in this process')
})

t.test(
  'an explicit count too small for the connections throws a UsageError naming the count needed',
  async (t) => {
    t.throws(
      () => plan(2, 50_000, 8, 20_000),
      new UsageError(
        '50000 connections need at least 3 load processes (open-file limit 20000 per process); use --workers 3 or more',
      ),
    )
    t.throws(() => plan(0, 20_000, 8, 20_000), {
      name: 'UsageError',
      message: /need at least 2 load processes.*--workers 2 or more/,
    })
  },
)

t.test('the open-file limit and core count of this machine are positive whole numbers', async (t) => {
  t.ok(Number.isInteger(openFileLimit()) && openFileLimit() > 0)
  t.ok(Number.isInteger(defaultCores()) && defaultCores() > 0)
})
