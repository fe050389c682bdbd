import t from 'tap'
import { compileTransaction, validateTransaction } from '../../../lib/transaction/compile.js'
import type { TransactionSpec } from '../../../lib/transaction/spec.js'
import { renderTemplate } from '../../../lib/transaction/template.js'

const request = (url: string, extra: Record<string, unknown> = {}) => ({
  method: 'GET',
  url,
  headers: {},
  timeoutMs: 1000,
  ...extra,
})

const base = (): TransactionSpec => ({
  variables: { item: 'number[1,9,5]' },
  data: { name: 'users.csv', mode: 'unique', table: { columns: ['user', 'pass'], rows: [['ann', 'p1']] } },
  steps: [
    {
      name: 'login',
      request: request('http://127.0.0.1:8080/login', {
        method: 'POST',
        bodyBase64: Buffer.from('u=#{user}&p=#{pass}').toString('base64'),
      }),
      extract: [
        { from: 'cookie', name: 'session' },
        { from: 'json', path: '$.token', as: 'token' },
      ],
    },
    {
      request: request('http://127.0.0.1:8080/items?x=#{item}', {
        headers: { authorization: 'Bearer #{token}' },
      }),
    },
    { name: 'item', request: request('http://127.0.0.1:8080/items/#{item}#frag') },
  ],
})

t.test('a transaction compiles into slots, templates and extractions', async (t) => {
  const compiled = compileTransaction(base())
  t.same(compiled.slotNames, ['item', 'user', 'pass', 'session', 'token'])
  t.same(compiled.columnSlots, [1, 2])
  t.same(
    compiled.steps.map((step) => step.name),
    ['login', 'step2', 'item'],
  )
  const [login, list, item] = compiled.steps
  t.equal(login!.origin, 'http://127.0.0.1:8080')
  t.equal(login!.needsBody, true)
  const values = ['3', 'ann', 'p1', 's', 'tok']
  t.equal(renderTemplate(login!.body as never, values), 'u=ann&p=p1')
  t.equal(renderTemplate(list!.path, values), '/items?x=3')
  t.equal(renderTemplate(list!.headers[0]![1], values), 'Bearer tok')
  t.equal(list!.needsBody, false)
  t.equal(renderTemplate(item!.path, values), '/items/3', 'the fragment is not sent')
  t.same(login!.requestSlots, [1, 2], 'the body reads user and pass')
  t.same(list!.requestSlots, [0, 4], 'the URL reads item, a header token')
  t.same(item!.requestSlots, [0])
})

t.test('bad transactions: one line naming the step and the problem', async (t) => {
  const cases: [string, (spec: TransactionSpec) => void, RegExp][] = [
    [
      'unknown variable',
      (s) => (s.steps[2]!.request.url = 'http://127.0.0.1/#{nope}'),
      /^step item: url: unknown variable "nope"$/,
    ],
    [
      'unterminated',
      (s) => (s.steps[1]!.request.headers = { 'x-a': '#{item' }),
      /^step step2: header x-a: unterminated #\{/,
    ],
    [
      'used before extraction',
      (s) => (s.steps[0]!.request.url = 'http://127.0.0.1/#{token}'),
      /^step login: url: variable "token" is used before step login extracts it$/,
    ],
    [
      'scheme',
      (s) => (s.steps[1]!.request.url = 'ftp://127.0.0.1/x'),
      /^step step2: unsupported URL scheme "ftp:"/,
    ],
    [
      'variable host',
      (s) => (s.steps[1]!.request.url = 'http://#{item}/x'),
      /^step step2: variables may not appear in the scheme or host/,
    ],
    [
      'json path',
      (s) => (s.steps[0]!.extract = [{ from: 'json', path: '$..x', as: 'x' }]),
      /^step login: JSON path/,
    ],
    ['duplicate name', (s) => (s.steps[1]!.name = 'login'), /^step login: two steps have this name$/],
    ['ragged data', (s) => (s.data!.table.rows = [['ann']]), /^users\.csv: row 1 must hold 2 texts$/],
    ['bad mode', (s) => (s.data!.mode = 'once' as never), /^data mode "once"/],
    [
      'column clash',
      (s) => (s.variables = { user: 'uuid' }),
      /^data column "user" has the name of a variable$/,
    ],
    ['bad variable', (s) => (s.variables = { item: 'number[9,1]' }), /^variable item: min is above max/],
    ['think', (s) => (s.steps[0]!.think = { minMs: 5, maxMs: 1 }), /^step login: think time/],
    ['method', (s) => (s.steps[0]!.request.method = 'get me'), /^step login: invalid HTTP method/],
  ]
  for (const [what, change, message] of cases) {
    const spec = base()
    change(spec)
    t.throws(() => validateTransaction(spec), { message }, what)
  }
  t.throws(() => validateTransaction({ steps: [] }), { message: 'a transaction needs at least one step' })
})
