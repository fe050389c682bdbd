import t from 'tap'
import { UsageError } from '../../lib/errors.js'
import {
  compileStatusMatcher,
  parseResolve,
  parseTargetUrl,
  type RequestSpec,
  validateRequestSpec,
} from '../../lib/request-spec.js'

t.test('parseTargetUrl', async (t) => {
  t.test('accepts http and https URLs', async (t) => {
    t.equal(parseTargetUrl('http://example.test/a?b=1').href, 'http://example.test/a?b=1')
    t.equal(parseTargetUrl('https://[::1]:8443/').host, '[::1]:8443')
  })
  t.test('rejects what is not a URL, quoting it', async (t) => {
    for (const bad of ['', 'example.test', '/path', 'http://', 'http://exa mple.test/']) {
      t.throws(() => parseTargetUrl(bad), new UsageError(`invalid URL "${bad}"`), JSON.stringify(bad))
    }
  })
  t.test('rejects other schemes and says which to use', async (t) => {
    t.throws(
      () => parseTargetUrl('ftp://example.test/'),
      new UsageError('unsupported URL scheme "ftp:" in "ftp://example.test/" (use http or https)'),
    )
    t.throws(() => parseTargetUrl('ws://example.test/'), { name: 'UsageError', message: /"ws:"/ })
    t.throws(() => parseTargetUrl('file:///etc/passwd'), { name: 'UsageError', message: /"file:"/ })
  })
  t.test('rejects credentials in the URL and points to --auth', async (t) => {
    const expected = new UsageError('put credentials in --auth USER:PASS, not in the URL')
    t.throws(() => parseTargetUrl('http://user:secret@example.test/'), expected)
    t.throws(() => parseTargetUrl('http://user@example.test/'), expected)
    t.throws(() => parseTargetUrl('http://:secret@example.test/'), expected)
  })
})

t.test('compileStatusMatcher', async (t) => {
  const matches = (expect: string | undefined, statuses: number[]) =>
    statuses.filter(compileStatusMatcher(expect))
  const all = [100, 199, 200, 201, 204, 299, 300, 304, 399, 404, 499, 500, 503, 599]
  t.test('with no expectation, any status passes', async (t) => {
    t.same(matches(undefined, all), all)
    t.same(matches('', all), all)
  })
  t.test('a single status passes only itself', async (t) => {
    t.same(matches('200', all), [200])
  })
  t.test('a class such as 2xx passes its hundred statuses', async (t) => {
    t.same(matches('2xx', all), [200, 201, 204, 299])
    t.same(matches('5XX', all), [500, 503, 599], 'the class letter case does not matter')
    t.same(matches('1xx', all), [100, 199])
  })
  t.test('a range passes both ends and what is between', async (t) => {
    t.same(matches('200-204', all), [200, 201, 204])
    t.same(matches('404-404', all), [404])
  })
  t.test('comma-separated parts add up, spaces allowed', async (t) => {
    t.same(matches('200-299,304', all), [200, 201, 204, 299, 304])
    t.same(matches(' 2xx , 404 ', all), [200, 201, 204, 299, 404])
  })
  t.test('a status outside the table never passes', async (t) => {
    const matcher = compileStatusMatcher('2xx')
    t.notOk(matcher(1000))
    t.notOk(matcher(-1))
    t.notOk(matcher(0))
  })
  t.test('rejects malformed parts, quoting the part', async (t) => {
    for (const bad of [
      'ok',
      '20',
      '2000',
      '6xx',
      '0xx',
      'x2xx',
      '200-',
      '-200',
      '200-2999',
      '200,',
      '200;404',
    ]) {
      const part = bad.includes(',') ? '' : bad
      t.throws(
        () => compileStatusMatcher(bad),
        new UsageError(`invalid expected status "${part}" (use e.g. 200, 2xx, 200-299)`),
        bad,
      )
    }
  })
  t.test('rejects statuses below 100 and backwards ranges', async (t) => {
    t.throws(() => compileStatusMatcher('099'), new UsageError('invalid expected status "099"'))
    t.throws(() => compileStatusMatcher('300-200'), new UsageError('invalid expected status "300-200"'))
    t.throws(() => compileStatusMatcher('200,050-100'), new UsageError('invalid expected status "050-100"'))
  })
})

t.test('validateRequestSpec', async (t) => {
  const good: RequestSpec = { method: 'GET', url: 'http://example.test/', headers: {}, timeoutMs: 1000 }
  t.test('returns a good spec as it is', async (t) => {
    t.equal(validateRequestSpec(good), good)
    t.doesNotThrow(() => validateRequestSpec({ ...good, method: 'PROPFIND', expectStatus: '2xx' }))
  })
  t.test('rejects a bad URL, method, timeout or expected status', async (t) => {
    t.throws(() => validateRequestSpec({ ...good, url: 'gopher://x/' }), {
      name: 'UsageError',
      message: /unsupported URL scheme/,
    })
    for (const method of ['get', '', 'GET ', 'GE-T']) {
      t.throws(
        () => validateRequestSpec({ ...good, method }),
        new UsageError(`invalid HTTP method "${method}"`),
        JSON.stringify(method),
      )
    }
    for (const timeoutMs of [0, -1, Number.NaN]) {
      t.throws(
        () => validateRequestSpec({ ...good, timeoutMs }),
        new UsageError('timeout must be positive'),
        String(timeoutMs),
      )
    }
    t.throws(() => validateRequestSpec({ ...good, expectStatus: 'great' }), {
      name: 'UsageError',
      message: /invalid expected status "great"/,
    })
  })
})

t.test('parseResolve', async (t) => {
  t.test('gives nothing for no values', async (t) => {
    t.equal(parseResolve([]), undefined)
  })
  t.test('maps a host name to its addresses', async (t) => {
    t.same(parseResolve(['example.test:192.0.2.1']), { 'example.test': ['192.0.2.1'] })
    t.same(parseResolve(['example.test:192.0.2.1, 192.0.2.2']), {
      'example.test': ['192.0.2.1', '192.0.2.2'],
    })
  })
  t.test('lower-cases the host name', async (t) => {
    t.same(parseResolve(['Example.TEST:192.0.2.1']), { 'example.test': ['192.0.2.1'] })
  })
  t.test('takes IPv6 addresses with or without brackets', async (t) => {
    t.same(parseResolve(['example.test:[2001:db8::1],[::1]']), { 'example.test': ['2001:db8::1', '::1'] })
    t.same(parseResolve(['example.test:2001:db8::1']), { 'example.test': ['2001:db8::1'] })
  })
  t.test('adds up repeated values for one host and keeps hosts apart', async (t) => {
    t.same(parseResolve(['a.test:192.0.2.1', 'b.test:192.0.2.9', 'A.test:192.0.2.2']), {
      'a.test': ['192.0.2.1', '192.0.2.2'],
      'b.test': ['192.0.2.9'],
    })
  })
  t.test('rejects a value without a host or without addresses', async (t) => {
    for (const bad of ['example.test', ':192.0.2.1', '']) {
      t.throws(
        () => parseResolve([bad]),
        new UsageError(`invalid --resolve "${bad}" (expected HOST:ADDRESS[,ADDRESS…])`),
        JSON.stringify(bad),
      )
    }
    for (const bad of [
      'example.test:',
      'example.test:192.0.2.1,',
      'example.test:,192.0.2.1',
      'example.test:[]',
    ]) {
      t.throws(() => parseResolve([bad]), new UsageError(`invalid --resolve "${bad}"`), bad)
    }
  })
})
