import t from 'tap'
import { blitzTimeline, patternOf, requestOfStep } from '../../api/v1/blitz.js'
import { rushResult, rushStatus } from '../../lib/couch/rushes.js'
import { BlitzClient, hitsPerSecond } from './blitz-client.js'
import { apiPlane, call } from './harness.js'

t.test('a step becomes a request: headers, cookies, user, content, status', async (t) => {
  const spec = requestOfStep({
    url: 'http://127.0.0.1:9/x',
    request: 'put',
    headers: ['X-One: 1', 'Accept: text/plain'],
    content: { data: ['a=', '1'] },
    cookies: ['n=v', 'm=w'],
    user: 'u:p',
    'user-agent': 'blitz',
    referer: 'http://ref/',
    timeout: 2500,
    status: 201,
  })
  t.same(spec, {
    method: 'PUT',
    url: 'http://127.0.0.1:9/x',
    headers: {
      'x-one': '1',
      accept: 'text/plain',
      cookie: 'n=v; m=w',
      authorization: `Basic ${Buffer.from('u:p').toString('base64')}`,
      'user-agent': 'blitz',
      referer: 'http://ref/',
    },
    timeoutMs: 2500,
    bodyBase64: Buffer.from('a=1').toString('base64'),
    expectStatus: '201',
  })
  t.throws(
    () => requestOfStep({ url: 'http://h/', content: { data: ['x'.repeat(20 * 1024)] } }),
    /under 20 KB/,
  )
})

t.test('a pattern: iterations repeat; affinity splits evenly over regions or is refused', async (t) => {
  t.same(patternOf({ iterations: 2, intervals: [{ start: 1, end: 5, duration: 10 }] }).pattern, [
    { start: 1, end: 5, duration: 10 },
    { start: 1, end: 5, duration: 10 },
  ])
  const split = patternOf({
    intervals: [
      {
        start: 2,
        end: 10,
        duration: 5,
        affinity: {
          regions: [
            { region: 'virginia', start: 1, end: 5 },
            { region: 'ireland', start: 1, end: 5 },
          ],
        },
      },
    ],
  })
  t.same(split.regions, ['virginia', 'ireland'])
  t.throws(
    () =>
      patternOf({
        intervals: [
          {
            start: 2,
            end: 10,
            duration: 5,
            affinity: {
              regions: [
                { region: 'virginia', start: 2, end: 9 },
                { region: 'ireland', start: 0, end: 1 },
              ],
            },
          },
        ],
      }),
    /uneven affinity/,
  )
})

t.test('a blitz client, written from the description only, runs a two-region rush', async (t) => {
  const plane = await apiPlane(t, { regions: ['us-east-1', 'eu-west-1'], engines: 1 })
  const { user, key } = await plane.tenant('blitzer@example.test')
  const client = new BlitzClient(plane.url, user, key)
  t.same(await client.login(), { ok: true, api_key: key })
  const about = await client.about()
  t.equal(about._id, user)
  t.ok(about.regions.includes('virginia'), 'blitz region names are offered')

  const job = await client.execute({
    steps: [{ url: `${plane.target.url}/`, timeout: 2000, status: 200 }],
    pattern: {
      iterations: 1,
      intervals: [
        {
          iterations: 1,
          start: 2,
          end: 4,
          duration: 3,
          affinity: {
            regions: [
              { region: 'virginia', start: 1, end: 2 },
              { region: 'ireland', start: 1, end: 2 },
            ],
          },
        },
      ],
    },
    region: 'virginia',
  })
  t.match(job, { ok: true, job_id: String, status: 'queued', region: 'virginia' })
  const done = await client.wait(job.job_id, 200)
  t.equal(done.status, 'completed')
  const timeline = done.result.timeline
  // A shard whose engine's load was ready late runs its whole pattern from a later second
  // (docs/job-plane.md, "A late start"): the timeline grows by the largest shift.
  const shift = Math.max(
    0,
    ...(await rushStatus(plane.server.couch, job.job_id)).shards.map((s) => s.startShift ?? 0),
  )
  t.equal(timeline.length, 3 + shift, 'one point per second')
  t.same(
    timeline.map((point: { timestamp: number }) => point.timestamp),
    Array.from({ length: 3 + shift }, (_, i) => i + 1),
  )
  const couch = await rushResult(plane.server.couch, job.job_id)
  t.equal(timeline.at(-1).executed, couch.summary.hits, 'cumulative hits end at the merged total')
  t.equal(timeline.at(-1).executed, plane.target.count, 'which the target saw')
  const rates = hitsPerSecond(timeline)
  t.same(
    rates,
    couch.timeline.map((point) => point.hits),
    'differencing gives each second',
  )
  t.ok(
    timeline
      .slice(shift)
      .every(
        (point: { steps: unknown[]; volume: number; duration: number }) =>
          point.steps.length === 1 && point.volume > 0,
      ),
  )
  t.equal(timeline.at(-1).errors, 0)
  t.ok(timeline.at(-1).duration > 0 && timeline.at(-1).duration < 1, 'mean response time in seconds')
})

t.test(
  'bodies are JSON whatever the content type; an empty PUT aborts; errors are blitz errors',
  async (t) => {
    const plane = await apiPlane(t)
    const { user, key } = await plane.tenant('alice')
    const client = new BlitzClient(plane.url, user, key)
    const job = {
      steps: [{ url: `${plane.target.url}/` }],
      pattern: { intervals: [{ start: 1, end: 1, duration: 30 }] },
    }
    for (const type of [undefined, 'application/x-www-form-urlencoded', 'text/plain', 'application/json']) {
      const answer = await call(plane.url, 'POST', '/api/1/curl/execute', {
        key,
        user,
        raw: JSON.stringify(job),
        ...(type !== undefined && { headers: { 'content-type': type } }),
      })
      t.equal(answer.body.ok, true, `content type ${type ?? 'none'}`)
      t.same(await client.abort(answer.body.job_id), { ok: true }, 'an empty PUT aborts')
    }
    t.match(await client.execute({ pattern: { intervals: [] } }), { error: 'validation', reason: /steps/ })
    t.match(
      await client.execute({ steps: [{ url: 'http://h/' }, { url: 'http://h/#{nope}' }], pattern: {} }),
      { error: 'validation', reason: /step step2: url: unknown variable "nope"/ },
    )
    t.match(await client.execute('{not json'), { error: 'validation', reason: /not valid JSON/ })
    const unproven = await client.execute({ ...job, steps: [{ url: 'http://127.0.0.2:9/' }] })
    t.match(unproven, {
      error: 'authorize',
      scheme: 'http',
      host: '127.0.0.2',
      port: 9,
      uuid: String,
      checks: Array,
    })
    t.match(await client.status('zzzz-0000'), { error: 'not_found' })
    const wrong = new BlitzClient(plane.url, user, 'nope')
    t.match(await wrong.about(), { error: 'login' })
  },
)

t.test('the cumulative timeline is cached and grows by the new seconds only', async (t) => {
  const points = [0, 1].map((t) => ({
    t,
    concurrency: 2,
    sent: 10,
    hits: 9,
    errors: { dns: 0, connect: 0, tls: 0, socket: 0, parse: 0, status: 1, refused: 0, other: 0 },
    timeouts: 1,
    dropped: 0,
    statuses: {},
    txBytes: 100,
    rxBytes: 200,
    latencyCount: 9,
    latencySum: 9 * 20_000,
    latencyMin: 0,
    latencyMax: 0,
    connects: 2,
    connectSum: 2000,
  }))
  const feed = { points: [points[0]!] } as never as Parameters<typeof blitzTimeline>[0]
  const first = blitzTimeline(feed)
  ;(feed as unknown as { points: unknown[] }).points.push(points[1]!)
  const second = blitzTimeline(feed)
  t.equal(first, second, 'the same cached array')
  t.match(second[1], {
    timestamp: 2,
    duration: 0.02,
    total: 20,
    executed: 18,
    errors: 2,
    timeouts: 2,
    volume: 2,
    txbytes: 200,
    rxbytes: 400,
    steps: [{ d: 0.02, c: 0.001, e: 2, t: 2, a: 2 }],
  })
})
