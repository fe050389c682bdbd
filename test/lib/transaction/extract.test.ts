import t from 'tap'
import { UsageError } from '../../../lib/errors.js'
import { CookieJar } from '../../../lib/transaction/cookies.js'
import { compileExtract, type ResponseView } from '../../../lib/transaction/extract.js'
import { compileJsonPath, evaluateJsonPath } from '../../../lib/transaction/json-path.js'

const response = (body: string, headers: Record<string, string | string[]> = {}): ResponseView => ({
  headers,
  cookies: new Map([['session', 'abc']]),
  body,
})

t.test('the JSON path subset', async (t) => {
  const doc = { items: [{ id: 7, tags: ['x', 'y'] }, { id: 8 }], 'odd key': { a: null }, n: 0 }
  t.same(compileJsonPath('$.items[0].id'), ['items', 0, 'id'])
  t.same(compileJsonPath("items[1]['id']"), ['items', 1, 'id'])
  t.equal(evaluateJsonPath(doc, compileJsonPath('$.items[0].id')), 7)
  t.equal(evaluateJsonPath(doc, compileJsonPath('$.items[-1].id')), 8)
  t.equal(evaluateJsonPath(doc, compileJsonPath('$.items[0].tags[1]')), 'y')
  t.equal(evaluateJsonPath(doc, compileJsonPath('$["odd key"].a')), null)
  t.equal(evaluateJsonPath(doc, compileJsonPath('$.n')), 0)
  t.equal(evaluateJsonPath(doc, compileJsonPath('$.items[5].id')), undefined)
  t.equal(evaluateJsonPath(doc, compileJsonPath('$.items.id')), undefined)
  t.equal(evaluateJsonPath(doc, compileJsonPath('$.toString')), undefined, 'own properties only')
  for (const bad of ['$.', '$..a', '$.a[*]', '$[?(@.a)]', '$.a b', ''])
    t.throws(() => compileJsonPath(bad), UsageError, bad)
})

t.test('each extraction takes its value or nothing', async (t) => {
  const json = compileExtract({ from: 'json', path: '$.token', as: 'token' }, 'step login')
  t.equal(json.needsBody, true)
  t.equal(json.take(response('{"token":"t1"}'), {}), 't1')
  t.equal(json.take(response('{"token":{"a":1}}'), {}), '{"a":1}')
  t.equal(json.take(response('{"other":1}'), {}), undefined)
  t.equal(json.take(response('not json'), {}), undefined)
  const cookie = compileExtract({ from: 'cookie', name: 'session' }, 'w')
  t.equal(cookie.as, 'session')
  t.equal(cookie.needsBody, false)
  t.equal(cookie.take(response(''), {}), 'abc')
  t.equal(compileExtract({ from: 'cookie', name: 'other' }, 'w').take(response(''), {}), undefined)
  const header = compileExtract({ from: 'header', name: 'X-Next', as: 'next' }, 'w')
  t.equal(header.take(response('', { 'x-next': '/b' }), {}), '/b')
  t.equal(header.take(response('', { 'x-next': ['/c', '/d'] }), {}), '/c')
  const regex = compileExtract({ from: 'regex', pattern: 'id=(\\d+)', as: 'id' }, 'w')
  t.equal(regex.take(response('a id=42 b'), {}), '42')
  t.equal(compileExtract({ from: 'regex', pattern: '\\d+', as: 'n' }, 'w').take(response('ab 17'), {}), '17')
  t.equal(regex.take(response('none'), {}), undefined)
})

t.test('bad extractions are one-line errors naming the step', async (t) => {
  t.throws(() => compileExtract({ from: 'json', path: '$..x', as: 'x' }, 'step items'), {
    message: /^step items: JSON path "\$\.\.x": /,
  })
  t.throws(() => compileExtract({ from: 'regex', pattern: '(', as: 'x' }, 'step items'), {
    message: /^step items: invalid regular expression/,
  })
  t.throws(() => compileExtract({ from: 'header', name: 'a', as: '1bad' }, 'step items'), UsageError)
  t.throws(() => compileExtract({ from: 'xml', path: 'a', as: 'x' } as never, 'step items'), {
    message: /^step items: unknown extraction "xml"/,
  })
})

t.test('a cookie jar keeps cookies across responses and drops expired ones', async (t) => {
  const jar = new CookieJar()
  const now = Date.parse('2026-01-01T00:00:00Z')
  t.equal(jar.header(), undefined)
  t.equal(jar.receive('session=abc; Path=/; HttpOnly', now), 'session')
  jar.receive('theme="dark"', now)
  t.equal(jar.header(), 'session=abc; theme=dark')
  t.equal(jar.receive('session=abc; Path=/', now), 'session', 'set again to its value')
  t.equal(jar.header(), 'session=abc; theme=dark')
  jar.receive('session=def; Max-Age=60', now)
  t.equal(jar.get('session'), 'def')
  t.equal(jar.header(), 'session=def; theme=dark', 'a new value is sent from then on')
  jar.receive('theme=light; max-age=5', now)
  t.equal(jar.header(), 'session=def; theme=light', 'attributes in any case')
  jar.receive('theme=x; Max-Age=0', now)
  jar.receive('session=gone; Expires=Wed, 31 Dec 2025 00:00:00 GMT', now)
  t.equal(jar.header(), undefined)
  t.equal(jar.receive('novalue', now), undefined)
})
