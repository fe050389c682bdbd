// biome-ignore-all lint/suspicious/noExplicitAny: JSON answers of the API, read field by field
import t from 'tap'
import { BlitzClient } from './blitz-client.js'
import { apiPlane, call } from './harness.js'

t.test('a sprint runs on an engine of the chosen region, and its full result comes back', async (t) => {
  const plane = await apiPlane(t, { regions: ['us-east-1', 'eu-west-1'], engines: 1 })
  const { user, key } = await plane.tenant('alice')
  const submitted = await call(plane.url, 'POST', '/api/v2/sprints', {
    key,
    body: { request: { url: `${plane.target.url}/echo`, headers: { 'X-Probe': 'yes' } }, region: 'ireland' },
  })
  t.equal(submitted.status, 201, JSON.stringify(submitted.body))
  t.equal(submitted.body.region, 'eu-west-1')
  const id = submitted.body.id
  let sprint: any
  const ireland = plane.engines.find((engine) => engine.engine.instanceId.includes('eu-west-1'))!
  for (;;) {
    sprint = (await call(plane.url, 'GET', `/api/v2/sprints/${id}`, { key })).body
    if (sprint.state === 'done' || sprint.state === 'failed') break
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  t.equal(sprint.state, 'done')
  t.equal(sprint.engine, ireland.engine.instanceId, 'an engine of the region ran it')
  t.equal(sprint.result.status, 200)
  t.ok(sprint.result.timings.total > 0, 'each phase timed')
  t.match(sprint.result.bodySnippet, /x-probe/, 'the first bytes of the body')
  t.equal(plane.target.last?.headers['x-probe'], 'yes', 'sent once, from the engine')

  const mallory = await plane.tenant('mallory')
  t.equal(
    (await call(plane.url, 'GET', `/api/v2/sprints/${id}`, { key: mallory.key })).status,
    404,
    'isolation',
  )

  // blitz v1: no pattern means a sprint.
  const client = new BlitzClient(plane.url, user, key)
  const job = await client.execute({
    steps: [{ url: `${plane.target.url}/status/503`, status: 200 }],
    region: 'virginia',
  })
  t.match(job, { ok: true, job_id: /^sp-/, region: 'virginia' }, JSON.stringify(job))
  const done = await client.wait(job.job_id, 50)
  t.equal(done.status, 'completed')
  t.match(done.result, {
    region: 'virginia',
    error: 'assert',
    step: 0,
    steps: [{ response: { status: 503, line: /^HTTP\/1\.1 503/ }, request: { method: 'GET' } }],
  })
  t.ok(typeof done.result.duration === 'number')
})
