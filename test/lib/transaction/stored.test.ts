import t from 'tap'
import type { TransactionSpec } from '../../../lib/transaction/spec.js'
import { restoreTransaction, storedRows, storedTransaction } from '../../../lib/transaction/stored.js'

const request = { method: 'GET', url: 'http://127.0.0.1:9/u/#{user}', headers: {}, timeoutMs: 1000 }
const spec: TransactionSpec = {
  steps: [{ name: 'a', request }, { request }],
  variables: { n: 'number[1,9,5]' },
  data: {
    name: 'users.csv',
    mode: 'unique',
    table: {
      columns: ['user', 'note'],
      rows: [
        ['ann', 'say "hi", then, go'],
        ['bob', 'ünï\ncode'],
      ],
    },
  },
}

t.test('what a rush carries has no table; rows stored apart come back the same', async (t) => {
  const stored = storedTransaction(spec)
  t.same(stored, {
    steps: spec.steps,
    variables: spec.variables,
    data: { name: 'users.csv', mode: 'unique', columns: ['user', 'note'], rows: 2 },
  })
  t.same(
    restoreTransaction(stored, storedRows(spec.data!)),
    spec,
    'round trip, quotes and line breaks included',
  )
  t.same(
    restoreTransaction(storedTransaction({ steps: spec.steps })),
    { steps: spec.steps },
    'no data, no rows',
  )
})

t.test('rows over the limit are refused in one line; rows that do not match the shard fail', async (t) => {
  t.throws(() => storedRows(spec.data!, 20), {
    message:
      /^data file users\.csv: its rows take 0 MiB as JSON; a rush through CouchDB carries at most 0 MiB$/,
  })
  const big = {
    ...spec.data!,
    table: {
      columns: ['user'],
      rows: Array.from({ length: 300_000 }, (_, i) => [`user-${i}-padding-padding`]),
    },
  }
  t.throws(() => storedRows(big, 4 * 1024 * 1024), {
    message: /takes? [\d.]+ MiB as JSON; .* at most 4 MiB$/,
  })
  const stored = storedTransaction(spec)
  t.throws(() => restoreTransaction(stored), { message: /data rows of users\.csv are missing/ })
  t.throws(() => restoreTransaction(stored, '[["ann","x"]]'), { message: /1 found, 2 expected/ })
  t.throws(() => restoreTransaction(stored, '[["ann"],["bob"]]'), { message: /row 1 must hold 2 texts/ })
  t.throws(() => restoreTransaction(stored, 'nope'), { message: /not JSON/ })
})
