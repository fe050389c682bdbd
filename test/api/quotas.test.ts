import t from 'tap'
import { EMPTY_USAGE, reserve } from '../../api/quotas.js'
import { apiPlane, call } from './harness.js'
import { readEvents } from './sse.js'

t.test('reserve: running slots expire with their rush; the day count resets at UTC midnight', async (t) => {
  const quotas = { maxUsers: 10, maxDuration: 60, maxRunning: 1, rushesPerDay: 2, regions: [] }
  const now = Date.UTC(2026, 0, 1, 23, 59, 0)
  const first = reserve(quotas, EMPTY_USAGE, 'a', now + 1000, now)
  t.ok('usage' in first)
  const usage = (first as { usage: typeof EMPTY_USAGE }).usage
  t.match(reserve(quotas, usage, 'b', now + 5000, now + 500), { refusal: { quota: 'max-running' } })
  const second = reserve(quotas, usage, 'b', now + 5000, now + 1000)
  t.ok('usage' in second, 'the slot is free once the first rush ended')
  const usage2 = (second as { usage: typeof EMPTY_USAGE }).usage
  t.match(reserve({ ...quotas, maxRunning: 5 }, usage2, 'c', now + 9000, now + 2000), {
    refusal: { quota: 'rushes-per-day', limit: 2 },
  })
  t.ok('usage' in reserve({ ...quotas, maxRunning: 5 }, usage2, 'c', now + 90_000, now + 60_000), 'a new day')
})

t.test(
  '20 submissions at once cannot pass a limit of 3 running rushes, even on two API instances',
  async (t) => {
    const plane = await apiPlane(t)
    const second = await plane.another()
    const { key } = await plane.tenant('alice', { maxRunning: 3 })
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        call(i % 2 === 0 ? plane.url : second.url, 'POST', '/api/v2/rushes', {
          key,
          body: { request: { url: `${plane.target.url}/` }, pattern: '1:30' },
        }),
      ),
    )
    const accepted = answers.filter((answer) => answer.status === 201)
    const refused = answers.filter((answer) => answer.status === 429)
    t.equal(accepted.length, 3, 'exactly three accepted')
    t.equal(refused.length, 17, 'the others refused')
    for (const answer of refused) t.equal(answer.body.quota, 'max-running')
    const listed = await call(plane.url, 'GET', '/api/v2/rushes', { key })
    t.equal(listed.body.rushes.length, 3, 'and only three exist')
    // An abort gives a slot back.
    await call(plane.url, 'POST', `/api/v2/rushes/${accepted[0]!.body.id}/abort`, { key })
    const again = await call(second.url, 'POST', '/api/v2/rushes', {
      key,
      body: { request: { url: `${plane.target.url}/` }, pattern: '1:30' },
    })
    t.equal(again.status, 201, 'a slot freed by an abort is usable on the other instance')
  },
)

t.test(
  'two API instances serve the same tenant: one submits, the other reads, follows and aborts',
  async (t) => {
    const plane = await apiPlane(t, { engines: 1 })
    const second = await plane.another()
    const { key } = await plane.tenant('alice')
    const submitted = await call(plane.url, 'POST', '/api/v2/rushes', {
      key,
      body: { request: { url: `${plane.target.url}/` }, pattern: '2:20' },
    })
    const id = submitted.body.id
    const read = await call(second.url, 'GET', `/api/v2/rushes/${id}`, { key })
    t.equal(read.status, 200)
    t.equal(read.body.id, id)
    t.same(
      (await call(second.url, 'GET', '/api/v2/rushes', { key })).body.rushes.map(
        (rush: { id: string }) => rush.id,
      ),
      [id],
    )
    const aborted = await call(second.url, 'POST', `/api/v2/rushes/${id}/abort`, { key })
    t.equal(aborted.status, 200)
    const followed = await readEvents(
      `${plane.url}/api/v2/rushes/${id}/events`,
      { authorization: `Bearer ${key}` },
      { until: (event) => event.event === 'end' },
    )
    t.equal(followed.events.at(-1)!.data.state, 'aborted', 'the first instance sees the abort of the second')
  },
)
