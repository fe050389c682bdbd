import t from 'tap'
import { summarizeHistogram } from '../../lib/histogram.js'
import { sumTimeline } from '../../lib/timeline.js'
import type { TransactionSpec } from '../../lib/transaction/spec.js'
import type { LoadJob } from '../../load/job.js'
import { runLoad } from '../../load/run.js'
import { LOCAL_POLICY } from '../../load/safety.js'
import { shopTransaction, startShop } from '../harness/shop.js'

const ROWS = 60

function job(transaction: TransactionSpec, model: LoadJob['model'], pattern: LoadJob['pattern']): LoadJob {
  return {
    model,
    request: transaction.steps[0]!.request,
    transaction,
    pattern,
    share: { index: 0, of: 1 },
    policy: LOCAL_POLICY,
  }
}

for (const workers of [0, 2]) {
  t.test(
    `closed model, unique rows, ${workers} load processes: each row logs in exactly once; steps add up`,
    async (t) => {
      const shop = await startShop()
      t.teardown(() => shop.close())
      const transaction = shopTransaction(shop.url, ROWS) as TransactionSpec
      // 5 users for up to 10 minutes: the rush ends when the rows run out, however slow the machine.
      const result = await runLoad(job(transaction, 'rush', [{ start: 5, end: 5, duration: 60 }]), {
        workers,
      })
      t.equal(result.cutShort, false)
      t.equal(result.timeline.length, 60, 'the seconds left are reported, empty')
      t.equal(shop.logins.size, ROWS, 'every row was used')
      t.ok(
        [...shop.logins.values()].every((count) => count === 1),
        'no row was used twice',
      )
      t.equal(shop.refused, 0, 'every step sent its cookie, token and extracted id')
      const total = sumTimeline(result.timeline)
      t.equal(total.steps?.length, 4)
      for (const [index, step] of total.steps!.entries()) {
        t.equal(step.hits, ROWS, `step ${index + 1}: one hit per row`)
        t.equal(step.errors.status + step.errors.extract, 0)
      }
      t.equal(total.hits, ROWS * 4, 'the whole is the sum of the steps')
      t.equal(total.sent, ROWS * 4)
      t.equal(total.iterations?.hits, ROWS, 'iterations completed')
      t.equal(total.exhausted, 5, 'each of the 5 users found the rows used up once')
      t.equal(shop.byRoute.get('GET /items'), ROWS * 2, 'list and item')
      t.ok(result.parts, 'step histograms came back')
      t.equal(result.parts!.length, 5)
      t.equal(result.parts![0]!.totalCount, ROWS, 'one iteration latency per iteration')
      for (let step = 1; step <= 4; step++) t.equal(result.parts![step]!.totalCount, ROWS)
      t.equal(result.histogram.totalCount, ROWS * 4)
      t.ok(summarizeHistogram(result.parts![0]!).p50 >= summarizeHistogram(result.parts![1]!).p50)
    },
  )
}

t.test('a failed extraction is an error of kind extract and ends the iteration', async (t) => {
  const shop = await startShop()
  t.teardown(() => shop.close())
  const transaction = shopTransaction(shop.url, 10) as TransactionSpec
  transaction.steps[1]!.extract = [{ from: 'json', path: '$.missing', as: 'item' }]
  const result = await runLoad(job(transaction, 'rush', [{ start: 2, end: 2, duration: 60 }]), {
    workers: 0,
  })
  const total = sumTimeline(result.timeline)
  t.equal(total.steps![1]!.errors.extract, 10)
  t.equal(total.steps![2]!.sent, 0, 'the steps after it were not sent')
  t.equal(total.iterations!.errors.extract, 10)
  t.equal(total.iterations!.hits, 0)
  t.equal(shop.byRoute.get('GET /logout'), undefined)
})

t.test(
  'sequential rows wrap and users keep their cookie across iterations; open model runs whole transactions',
  async (t) => {
    const shop = await startShop()
    t.teardown(() => shop.close())
    const transaction = shopTransaction(shop.url, 3, 'sequential') as TransactionSpec
    // 20 arrivals per second for 1 s: 20 transactions, rows 0,1,2,0,1,2…
    const result = await runLoad(job(transaction, 'arrival-rate', [{ start: 20, end: 20, duration: 1 }]), {
      workers: 0,
    })
    const total = sumTimeline(result.timeline)
    t.equal(total.iterations!.hits, 20)
    t.equal(total.hits, 80)
    t.same([...shop.logins.entries()].sort(), [
      ['u0', 7],
      ['u1', 7],
      ['u2', 6],
    ])
    t.equal(shop.refused, 0)
  },
)

t.test(
  'an open-model transaction run a little late joins in progress: arrivals due before are dropped',
  async (t) => {
    const shop = await startShop()
    t.teardown(() => shop.close())
    const transaction = shopTransaction(shop.url, 3, 'sequential') as TransactionSpec
    // 100 arrivals in 1 s whose second 0 began 100 ms ago (load/run.ts lateStart): 400 ms
    // left of the grace for preparing (the transaction's modules, the shop's address).
    await import('../../load/transaction/prepare.js')
    const result = await runLoad(job(transaction, 'arrival-rate', [{ start: 100, end: 100, duration: 1 }]), {
      workers: 0,
      startAtEpoch: Date.now() - 100,
    })
    t.equal(result.startShift, 0, 'joined, not shifted')
    const total = sumTimeline(result.timeline)
    const started = total.steps![0]!.sent
    t.ok(total.dropped >= 10, `${total.dropped} arrivals due before the join dropped`)
    t.equal(started + total.dropped, 100, 'every arrival started or dropped, none twice')
    t.equal(shop.byRoute.get('POST /login'), started, 'the shop saw only the arrivals started')
  },
)

t.test('redirects are not followed unless asked; when asked, each hop counts in its step', async (t) => {
  const shop = await startShop()
  t.teardown(() => shop.close())
  const base = shopTransaction(shop.url, 5) as TransactionSpec
  const go = {
    name: 'go',
    request: {
      ...base.steps[2]!.request,
      url: `${shop.url}/go`,
      headers: { authorization: 'Bearer #{token}' },
    },
  }
  const transaction: TransactionSpec = { ...base, steps: [base.steps[0]!, go] }
  let result = await runLoad(job(transaction, 'rush', [{ start: 1, end: 1, duration: 60 }]), { workers: 0 })
  let total = sumTimeline(result.timeline)
  t.equal(total.steps![1]!.statuses['302'], 5, 'the 302 is the answer')
  t.equal(total.steps![1]!.errors.status, 5, 'and fails the asked status')
  t.equal(shop.byRoute.get('GET /items'), undefined, 'nothing followed it')

  const follow: TransactionSpec = { ...transaction, steps: [base.steps[0]!, { ...go, followRedirects: 2 }] }
  result = await runLoad(job(follow, 'rush', [{ start: 1, end: 1, duration: 60 }]), { workers: 0 })
  total = sumTimeline(result.timeline)
  t.same(total.steps![1]!.statuses, { 302: 5, 200: 5 }, 'each hop is a request of the step')
  t.equal(total.steps![1]!.errors.status, 0)
  t.equal(total.iterations!.hits, 5)
  t.equal(shop.byRoute.get('GET /items'), 5)
})

t.test(
  'a followed redirect goes through the address policy: link-local is refused before any connect',
  async (t) => {
    const shop = await startShop()
    t.teardown(() => shop.close())
    const base = shopTransaction(shop.url, 3) as TransactionSpec
    const away = {
      name: 'away',
      followRedirects: 1,
      request: {
        ...base.steps[3]!.request,
        url: `${shop.url}/away?to=http://169.254.169.254/latest/meta-data/`,
      },
    }
    const result = await runLoad(
      job({ ...base, steps: [base.steps[0]!, away] }, 'rush', [{ start: 1, end: 1, duration: 60 }]),
      {
        workers: 0,
      },
    )
    const total = sumTimeline(result.timeline)
    t.equal(total.steps![1]!.statuses['302'], 3)
    t.equal(total.steps![1]!.errors.refused, 3, 'the hop was refused')
    t.equal(total.iterations!.errors.refused, 3)
  },
)

t.test(
  'with redirect hosts, a hop is followed only to those hosts (the API sets them to the proven)',
  async (t) => {
    const shop = await startShop()
    t.teardown(() => shop.close())
    const base = shopTransaction(shop.url, 3) as TransactionSpec
    const go = {
      name: 'go',
      followRedirects: 1,
      request: {
        ...base.steps[2]!.request,
        url: `${shop.url}/go`,
        headers: { authorization: 'Bearer #{token}' },
      },
    }
    // localhost is this same shop under a host name the list does not hold.
    const elsewhere = `${shop.url.replace('127.0.0.1', 'localhost')}/items`
    const away = {
      name: 'away',
      followRedirects: 1,
      request: { ...base.steps[3]!.request, url: `${shop.url}/away?to=${encodeURIComponent(elsewhere)}` },
    }
    const transaction: TransactionSpec = {
      ...base,
      steps: [base.steps[0]!, go, away],
      redirectHosts: ['127.0.0.1'],
    }
    const result = await runLoad(job(transaction, 'rush', [{ start: 1, end: 1, duration: 60 }]), {
      workers: 0,
    })
    const total = sumTimeline(result.timeline)
    t.same(total.steps![1]!.statuses, { 302: 3, 200: 3 }, 'the hop to 127.0.0.1 was followed')
    t.equal(shop.byRoute.get('GET /items'), 3, 'only those reached /items')
    t.equal(total.steps![2]!.statuses['302'], 3)
    t.equal(total.steps![2]!.errors.refused, 3, 'each hop to localhost refused, before any connect')
  },
)
