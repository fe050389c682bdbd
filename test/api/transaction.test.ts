import fc from 'fast-check'
import t, { type Test } from 'tap'

import { ApiProblem } from '../../api/service.js'
import { checkHostHeaders, stepOrigins, transactionOfV2 } from '../../api/transaction.js'
import { blitzTimeline, requestOfStep } from '../../api/v1/blitz.js'
import { isBlitzTransaction, transactionOfBlitz, variableOfBlitz } from '../../api/v1/steps.js'
import type { RequestSpec } from '../../lib/request-spec.js'
import { emptyPoint, type Point } from '../../lib/timeline.js'

/** The one-line 400 `fn` throws: its text matches `detail` (and `field`, when given). */
function refuses(t: Test, fn: () => unknown, detail: RegExp, field?: string): void {
  try {
    fn()
    t.fail(`no refusal (expected ${detail})`)
  } catch (err) {
    t.ok(err instanceof ApiProblem && err.status === 400, `a 400 problem: ${(err as Error).message}`)
    t.match((err as Error).message, detail)
    t.notMatch((err as Error).message, /\n/, 'one line')
    if (field !== undefined) t.equal((err as ApiProblem).extra.field, field)
  }
}

t.test("blitz's variable objects, as its clients send them, in blitz's syntax", async (t) => {
  t.equal(variableOfBlitz({ type: 'list', entries: ['a', 'b'] }, 'v'), 'list[a,b]')
  t.equal(variableOfBlitz({ type: 'alpha', min: 3, max: 8, count: 50 }, 'v'), 'alpha[3,8,50]')
  t.equal(
    variableOfBlitz({ type: 'number', min: -5, max: 9 }, 'v'),
    'number[-5,9,1000]',
    "count 1,000 as blitz's",
  )
  t.equal(variableOfBlitz({ type: 'alpha' }, 'v'), 'alpha[4,12,1000]', 'bare alpha (blitz-ruby -v:x alpha)')
  t.equal(
    variableOfBlitz({ type: 'alpha', min: 0, max: 0 }, 'v'),
    'alpha[4,12,1000]',
    "blitz-java's unset alpha",
  )
  t.equal(variableOfBlitz({ type: 'number', min: 0, max: 0 }, 'v'), 'number[0,0,1000]')
  t.equal(variableOfBlitz({ type: 'udid' }, 'v'), 'udid')
  t.equal(variableOfBlitz({ type: 'uuid' }, 'v'), 'uuid')
  refuses(t, () => variableOfBlitz({ type: 'list', entries: [] }, 'v'), /v.entries must be a list/)
  refuses(t, () => variableOfBlitz({ type: 'list', entries: ['a,b'] }, 'v'), /comma/)
  refuses(t, () => variableOfBlitz({ type: 'date' }, 'v'), /"date" is not one of/)
  refuses(t, () => variableOfBlitz({ type: 'number', min: 1.5, max: 2 }, 'v'), /whole number/)
  refuses(t, () => variableOfBlitz('list[a]', 'v'), /must be \{type/)
})

t.test(
  "blitz-ruby's steps: per-step variables and -x:c cookie extraction become one transaction",
  async (t) => {
    // What blitz-ruby's parse_cli makes of
    //   -v:user list[a,b] -X POST -d 'u=#{user}' -x:c session https://h/login https://h/items
    //   -v:page number[1,3] https://h/items?page=#{page}
    const steps = [
      {
        request: 'POST',
        content: { data: ['u=#{user}'] },
        variables: { user: { type: 'list', entries: ['a', 'b'] } },
        xtracts: { session: { type: 'cookie' } },
        url: 'https://h/login',
      },
      { url: 'https://h/items', headers: ['X-Session: #{session}'], cookies: ['s=#{session}'] },
      {
        variables: { page: { type: 'number', min: 1, max: 3, count: 1000 } },
        url: 'https://h/items?page=#{page}',
      },
    ]
    t.ok(isBlitzTransaction(steps, undefined))
    t.notOk(
      isBlitzTransaction([{ url: 'https://h/', variables: {}, xtracts: {} }], {}),
      'empty maps: one request',
    )
    const spec = transactionOfBlitz(steps, undefined, requestOfStep)
    t.same(spec.variables, { user: 'list[a,b]', page: 'number[1,3,1000]' })
    t.same(spec.steps[0]!.extract, [{ from: 'cookie', name: 'session' }])
    t.equal(spec.steps[0]!.request.method, 'POST')
    t.equal(Buffer.from(spec.steps[0]!.request.bodyBase64!, 'base64').toString(), 'u=#{user}')
    t.same(spec.steps[1]!.request.headers, { 'x-session': '#{session}', cookie: 's=#{session}' })
    t.equal(spec.steps[2]!.request.url, 'https://h/items?page=#{page}')
    t.equal(spec.steps.length, 3)
  },
)

t.test('a step redefining a variable differently keeps its own definition', async (t) => {
  const spec = transactionOfBlitz(
    [
      { url: 'http://h/a/#{n}', variables: { n: { type: 'list', entries: ['x'] } } },
      { url: 'http://h/b/#{n}', variables: { n: { type: 'list', entries: ['x'] } } },
      {
        url: 'http://h/c/#{n}',
        headers: ['X-N: #{n}'],
        variables: { n: { type: 'number', min: 1, max: 2 } },
      },
    ],
    undefined,
    requestOfStep,
  )
  t.same(spec.variables, { n: 'list[x]', 'n.s3': 'number[1,2,1000]' })
  t.equal(spec.steps[1]!.request.url, 'http://h/b/#{n}', 'the same definition: the same variable')
  t.equal(spec.steps[2]!.request.url, 'http://h/c/#{n.s3}')
  t.same(spec.steps[2]!.request.headers, { 'x-n': '#{n.s3}' })
})

t.test("blitz-java's job: one top-level step, variables beside it, the referer as referrer", async (t) => {
  const job = {
    url: 'http://h/p/#{id}',
    referrer: 'http://r/',
    cookies: ['a=1'],
    headers: ['Accept: text/plain'],
    user: 'u:p',
    variables: { id: { type: 'number', min: 1, max: 9 } },
  }
  t.ok(isBlitzTransaction([job], job.variables))
  const spec = transactionOfBlitz([job], job.variables, requestOfStep)
  t.same(spec.variables, { id: 'number[1,9,1000]' })
  t.match(spec.steps[0]!.request.headers, { referer: 'http://r/', cookie: 'a=1', accept: 'text/plain' })
})

t.test('bad blitz input: one line naming the step and the problem', async (t) => {
  const bad = (steps: unknown[], detail: RegExp) =>
    refuses(t, () => transactionOfBlitz(steps as never, undefined, requestOfStep), detail)
  bad([{ url: 'http://h/#{who}' }, { url: 'http://h/' }], /step step1: url: unknown variable "who"/)
  bad([{ url: 'http://h/' }, { url: 'http://h/x?#{a' }], /step step2: unterminated #\{ in url/)
  bad([{ url: 'ftp://h/' }, { url: 'http://h/' }], /step step1: .*ftp/)
  bad(
    [{ url: 'http://h/', xtracts: { s: { type: 'header' } } }],
    /steps\[0\]\.xtracts\.s: only cookie extraction/,
  )
  bad([{ url: 'http://h/', xtracts: ['s'] }], /xtracts must be an object/)
  bad([{ url: 'http://#{h}/' }], /variables may not appear in the scheme or host/)
  bad(
    [{ url: 'http://h/', user: '#{u}:p', variables: { u: { type: 'udid' } } }],
    /variables are not supported in user/,
  )
  bad([{ url: 'http://h/' }, { url: 'http://h/', timeout: -1 }], /steps\[1\]: timeout must be/)
  bad(
    [{ url: 'http://h/#{s}' }, { url: 'http://h/', xtracts: { s: { type: 'cookie' } } }],
    /used before step step2 extracts it/,
  )
})

t.test('v2: a transaction in the scenario shape, data rows inline, checked whole', async (t) => {
  const spec = transactionOfV2({
    variables: { page: 'number[1,5,5]' },
    data: { name: 'users.csv', mode: 'unique', columns: ['user', 'pass'], rows: [['a', 'pw-a']] },
    steps: [
      {
        name: 'login',
        request: { url: 'http://h/login', body: 'u=#{user}&p=#{pass}', headers: { 'Content-Type': 'x' } },
        extract: [{ cookie: 'session' }, { json: '$.token', as: 'token' }],
        think: { minMs: 100, maxMs: 500 },
      },
      { request: { url: 'http://h/items?page=#{page}', headers: { Authorization: 'Bearer #{token}' } } },
      {
        request: { url: 'http://h/h' },
        extract: [
          { header: 'x-id', as: 'id' },
          { regex: 'id=(\\d+)', as: 'n' },
        ],
      },
    ],
  })
  t.same(spec.steps[0]!.extract, [
    { from: 'cookie', name: 'session' },
    { from: 'json', path: '$.token', as: 'token' },
  ])
  t.same(spec.steps[0]!.think, { minMs: 100, maxMs: 500 })
  t.equal(spec.steps[0]!.request.method, 'POST', 'a body makes a POST')
  t.same(spec.steps[1]!.request.headers, { authorization: 'Bearer #{token}' })
  t.same(spec.steps[2]!.extract, [
    { from: 'header', name: 'x-id', as: 'id' },
    { from: 'regex', pattern: 'id=(\\d+)', as: 'n' },
  ])
  t.same(spec.data, {
    name: 'users.csv',
    mode: 'unique',
    table: { columns: ['user', 'pass'], rows: [['a', 'pw-a']] },
  })

  const bad = (transaction: unknown, detail: RegExp, field?: string) =>
    refuses(t, () => transactionOfV2(transaction as never), detail, field)
  const step = (url: string, extra = {}) => ({ request: { url }, ...extra })
  bad(
    { steps: [step('http://h/', { extract: [{ json: '$..x', as: 'x' }] })] },
    /step step1: .*path/,
    '/transaction',
  )
  bad(
    { steps: [step('http://h/', { extract: [{ json: '$.x' }] })] },
    /as\) is missing/,
    '/transaction/steps/0/extract/0/as',
  )
  bad({ steps: [step('http://h/', { extract: [{ json: '$.x', cookie: 'c', as: 'x' }] })] }, /exactly one of/)
  bad(
    { steps: [step('http://h/', { extract: [{ regex: '(', as: 'x' }] })] },
    /step step1: invalid regular expression/,
  )
  bad(
    { steps: [step('http://h/')], data: { columns: ['a', 'b'], rows: [['1', '2'], ['3']] } },
    /row 2 must hold 2/,
  )
  bad({ steps: [step('gopher://h/')] }, /step step1/)
  bad({ steps: [step('http://h/', { follow: 21 })] }, /step step1: redirects to follow must be 0..20/)
  bad({ steps: [step('http://h/')], variables: { v: 'list[' } }, /variable v/)
  bad({ steps: [step('http://h/'), step('http://h/', { name: 'step1' })] }, /two steps have this name/)
})

t.test(
  'a transaction that follows redirects is held to the hosts of its steps (the proven ones)',
  async (t) => {
    const step = (url: string, extra = {}) => ({ request: { url }, ...extra })
    const follows = transactionOfV2({
      steps: [
        step('http://Shop.test:8080/login'),
        step('http://cdn.test/x', { follow: 2 }),
        step('http://shop.test/y'),
      ],
    } as never)
    t.same(follows.redirectHosts, ['shop.test', 'cdn.test'], 'each step host once, lower case')
    const stays = transactionOfV2({ steps: [step('http://shop.test/')] } as never)
    t.equal(stays.redirectHosts, undefined, 'nothing to hold when no step follows')
  },
)

t.test("every step's origin is proven, once each", async (t) => {
  const origins = stepOrigins({
    steps: [
      { request: { method: 'GET', url: 'http://a.test/x/#{v}', headers: {}, timeoutMs: 1 } },
      { request: { method: 'GET', url: 'http://a.test/y', headers: {}, timeoutMs: 1 } },
      { request: { method: 'GET', url: 'https://b.test:8443/?q=#{v}', headers: {}, timeoutMs: 1 } },
    ],
  })
  t.same(
    origins.map((url) => url.origin),
    ['http://a.test', 'https://b.test:8443'],
  )
})

t.test(
  "the v1 timeline's steps: one {d, c, e, t, a} per step, cumulative, from each step's point",
  async (t) => {
    const step = (t: number, hits: number, latencyMs: number, status: number, timeouts: number): Point => ({
      ...emptyPoint(t),
      hits,
      latencyCount: hits,
      latencySum: hits * latencyMs * 1000,
      connects: 1,
      connectSum: 2000,
      errors: { ...emptyPoint(t).errors, status, connect: 1 },
      timeouts,
    })
    const second = (t: number, steps: Point[]): Point => ({ ...emptyPoint(t), hits: 10, steps })
    const feed = {
      rush: { transaction: { steps: [{}, {}] } },
      points: [
        second(0, [step(0, 5, 10, 1, 0), step(0, 5, 30, 0, 1)]),
        // A second where only the first step ended anything, then one with no steps at all.
        second(1, [step(1, 4, 20, 0, 0)]),
        { ...emptyPoint(2), hits: 3 },
      ],
    } as never as Parameters<typeof blitzTimeline>[0]
    const timeline = blitzTimeline(feed)
    t.same(timeline[0]!.steps, [
      { d: 0.01, c: 0.002, e: 2, t: 0, a: 1 },
      { d: 0.03, c: 0.002, e: 1, t: 1, a: 0 },
    ])
    t.same(timeline[1]!.steps, [
      { d: 0.02, c: 0.002, e: 3, t: 0, a: 1 },
      { d: 0, c: 0, e: 1, t: 1, a: 0 },
    ])
    t.same(timeline[2]!.steps, [
      { d: 0, c: 0, e: 3, t: 0, a: 1 },
      { d: 0, c: 0, e: 1, t: 1, a: 0 },
    ])
  },
)

t.test('any blitz job is a transaction or a one-line 400, never a crash', async (t) => {
  const text = fc.oneof(fc.constantFrom('http://h/#{v}', 'http://h/', '#{', 'u:p', '#{v}'), fc.string())
  const variable = fc.oneof(
    fc.record(
      {
        type: fc.constantFrom('list', 'alpha', 'number', 'uuid', 'udid', 'x'),
        entries: fc.oneof(fc.array(text), fc.anything()),
        min: fc.oneof(fc.integer({ min: -5, max: 20 }), fc.anything()),
        max: fc.oneof(fc.integer({ min: -5, max: 20 }), fc.anything()),
        count: fc.oneof(fc.integer({ min: 0, max: 200_000 }), fc.anything()),
      },
      { requiredKeys: ['type'] },
    ),
    fc.anything(),
  )
  const step = fc.record(
    {
      url: fc.oneof(text, fc.anything()),
      headers: fc.oneof(fc.array(text), fc.anything()),
      cookies: fc.oneof(fc.array(text), fc.anything()),
      content: fc.oneof(fc.record({ data: fc.oneof(fc.array(text), fc.anything()) }), fc.anything()),
      user: fc.oneof(text, fc.anything()),
      variables: fc.oneof(fc.dictionary(fc.constantFrom('v', 'w', 'x y'), variable), fc.anything()),
      xtracts: fc.oneof(
        fc.dictionary(fc.string(), fc.oneof(fc.constant({ type: 'cookie' }), fc.anything())),
        fc.anything(),
      ),
      timeout: fc.oneof(fc.integer(), fc.anything()),
    },
    { requiredKeys: [] },
  )
  const crashes: string[] = []
  fc.assert(
    fc.property(fc.array(fc.oneof(step, fc.anything()), { maxLength: 4 }), fc.anything(), (steps, top) => {
      try {
        transactionOfBlitz(steps as never, top, requestOfStep)
      } catch (err) {
        if (!(err instanceof ApiProblem) || err.status !== 400 || /\n/.test(err.message) || !err.message)
          crashes.push(`${(err as Error).message} ← ${JSON.stringify(steps)?.slice(0, 200)}`)
      }
    }),
    { numRuns: 2000, seed: 11 },
  )
  t.same(crashes.slice(0, 5), [], 'every refusal is a one-line 400')
})

t.test('a host header must name the URL host: a proof covers that host only', async (t) => {
  const request = (url: string, host?: string): RequestSpec => ({
    method: 'GET',
    url,
    headers: host === undefined ? {} : { host },
    timeoutMs: 1,
  })
  checkHostHeaders([
    request('http://a.test/'),
    request('http://a.test/', 'A.test'),
    request('http://a.test/', 'a.test:80'),
    request('https://a.test:8443/#{v}', 'a.test:8443'),
  ])
  t.pass('the URL host, with or without its port, in any case')
  refuses(t, () => checkHostHeaders([request('http://a.test/', 'b.test')]), /host header "b.test" must name/)
  refuses(
    t,
    () => checkHostHeaders([request('http://a.test/', 'a.test:81')]),
    /must name the URL's host a.test/,
  )
  refuses(t, () => checkHostHeaders([request('http://a.test/', '#{h}')]), /must name/)
})
