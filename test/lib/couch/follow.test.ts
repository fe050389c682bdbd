import t from 'tap'
import { type Change, followChanges } from '../../../lib/couch/follow.js'
import { startCouch, waitFor } from '../../harness/couch.js'

t.test(
  'a continuous feed hands over every change in order, once handled, and stays up while quiet',
  async (t) => {
    const server = await startCouch()
    t.teardown(() => server.stop())
    const name = `${server.prefix}-feed`
    await server.couch.server.db.create(name)
    const db = server.couch.db(name)
    await db.insert({ _id: 'a' })

    const seen: string[] = []
    const errors: string[] = []
    let alive = 0
    let failOnce = true
    const stop = new AbortController()
    const following = followChanges<{ _id: string }>({
      couch: server.couch,
      db: name,
      since: 0,
      heartbeatMs: 200,
      minBackoffMs: 20,
      signal: stop.signal,
      onError: (err) => errors.push(err.message),
      onAlive: () => {
        alive++
      },
      onChange: async (change: Change<{ _id: string }>) => {
        if (change.id === 'b' && failOnce) {
          failOnce = false
          throw new Error('handler failed once')
        }
        seen.push(change.id)
      },
    })
    await waitFor('the first change', () => seen.length === 1)
    // Quiet for seven heartbeats, counted as they arrive (a sleep proves nothing on a slow
    // machine): a feed whose heartbeats were held back (a compressed response) would have
    // been dropped as silent after three, with an error — its only signs of life would be
    // the reconnects.
    const quietFrom = alive
    await waitFor('seven heartbeats on the quiet feed', () => alive >= quietFrom + 7)
    t.same(errors, [], 'no silence detected on a quiet feed')
    await db.insert({ _id: 'b' })
    await db.insert({ _id: 'c' })
    await waitFor('b and c', () => seen.length === 3)
    t.same(seen, ['a', 'b', 'c'], 'in feed order; the failed change was handed over again, not skipped')
    t.equal(errors.length, 1)
    t.match(errors[0], /handler failed once/)
    stop.abort()
    await following
  },
)
