import t from 'tap'
import { couchFailure } from '../../../lib/couch/client.js'
import { isTransient, retryTransient } from '../../../lib/couch/retry.js'
import { StampedeError } from '../../../lib/errors.js'

const socketClosed = () =>
  couchFailure(
    Object.assign(new TypeError('fetch failed'), {
      cause: { code: 'UND_ERR_SOCKET', message: 'other side closed' },
    }),
    'writing x',
  )
const http = (statusCode: number) =>
  couchFailure(Object.assign(new Error('boom'), { statusCode, reason: 'boom' }), 'writing x')

t.test('transient: a failed connection, 5xx, 429; not: rejected, conflict, other 4xx', async (t) => {
  t.ok(isTransient(socketClosed()), 'other side closed')
  t.ok(isTransient(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })))
  t.ok(isTransient(http(503)))
  t.ok(isTransient(http(500)))
  t.ok(isTransient(http(429)))
  t.notOk(isTransient(http(403)), 'rejected by validate_doc_update')
  t.notOk(isTransient(http(409)), 'a real conflict')
  t.notOk(isTransient(http(400)))
  t.notOk(isTransient(http(404)))
  t.notOk(isTransient(new StampedeError('STAMPEDE_CONFLICT', 'still conflicting')))
})

t.test('retryTransient repeats transient failures with back-off, and only those', async (t) => {
  let calls = 0
  const waits: number[] = []
  const value = await retryTransient(
    async () => {
      if (++calls < 3) throw socketClosed()
      return 'written'
    },
    { baseMs: 10, onRetry: (_err, _attempt, wait) => waits.push(wait) },
  )
  t.equal(value, 'written')
  t.equal(calls, 3)
  t.ok(waits[0]! >= 10 && waits[0]! <= 15 && waits[1]! >= 20 && waits[1]! <= 30, `doubling waits ${waits}`)

  calls = 0
  await t.rejects(
    retryTransient(async () => {
      calls++
      throw http(403)
    }),
    /rejected/,
  )
  t.equal(calls, 1, 'a refusal is not repeated')

  calls = 0
  await t.rejects(
    retryTransient(
      async () => {
        calls++
        throw socketClosed()
      },
      { attempts: 3, baseMs: 1 },
    ),
    /other side closed|fetch failed/,
  )
  t.equal(calls, 3, 'gives up after the attempts')
})
