import t from 'tap'
import { arrivalTime } from '../../lib/pattern.js'
import { ArrivalSchedule } from '../../load/arrival-schedule.js'

const pattern = [{ start: 10, end: 10, duration: 1 }]

t.test('a share walks its own arrivals, k ≡ index (mod of), on second 0 = startPerf', async (t) => {
  const schedule = new ArrivalSchedule(pattern, { index: 1, of: 3 }, 5000)
  const seen: number[] = []
  while (schedule.dueAt !== Number.POSITIVE_INFINITY) {
    seen.push(schedule.dueAt)
    schedule.next()
  }
  const expected = [1, 4, 7].map((k) => 5000 + arrivalTime(pattern, k)! * 1000)
  t.same(seen, expected, 'arrivals 1, 4, 7 of 10, at their due times')
  schedule.next()
  t.equal(schedule.dueAt, Number.POSITIVE_INFINITY, 'past the end it stays done')
})

t.test('the shares of a run cover every arrival once', async (t) => {
  const all: number[] = []
  for (let index = 0; index < 4; index++) {
    const schedule = new ArrivalSchedule(pattern, { index, of: 4 }, 0)
    for (; schedule.dueAt !== Number.POSITIVE_INFINITY; schedule.next()) all.push(schedule.dueAt)
  }
  t.same(
    all.sort((a, b) => a - b),
    Array.from({ length: 10 }, (_, k) => arrivalTime(pattern, k)! * 1000),
  )
})

t.test(
  'joining in progress: skipBefore passes what was due before now and says when each was due',
  async (t) => {
    const schedule = new ArrivalSchedule(pattern, { index: 0, of: 1 }, 1000)
    const now = 1000 + arrivalTime(pattern, 4)! * 1000 + 1
    const skipped = schedule.skipBefore(now)
    t.same(
      skipped,
      [0, 1, 2, 3, 4].map((k) => 1000 + arrivalTime(pattern, k)! * 1000),
    )
    t.equal(schedule.dueAt, 1000 + arrivalTime(pattern, 5)! * 1000, 'the next is the first due from now')
    t.same(schedule.skipBefore(now), [], 'nothing more to skip at the same time')
    t.same(
      new ArrivalSchedule(pattern, { index: 0, of: 1 }, 1000).skipBefore(999),
      [],
      'on time: nothing skipped',
    )
  },
)
