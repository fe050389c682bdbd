import t from 'tap'
import { rushResult } from '../../lib/couch/rushes.js'
import { runCli } from '../harness/cli.js'
import { expectedSeconds } from '../harness/plane.js'
import { apiPlane, call } from './harness.js'

t.test('stampede rush|status|abort|sprint|hosts --api', async (t) => {
  // Eight CLI processes, each a Node start-up: minutes on a loaded two-core machine.
  t.setTimeout(400_000)
  const plane = await apiPlane(t, { regions: ['us-east-1', 'eu-west-1'], engines: 1 })
  const { key } = await plane.tenant('alice')
  delete process.env.STAMPEDE_API_URL
  process.env.STAMPEDE_API_KEY = key
  t.teardown(() => {
    delete process.env.STAMPEDE_API_KEY
  })

  const run = await runCli([
    'rush',
    `${plane.target.url}/`,
    '-p',
    '2-4:3',
    '--api',
    plane.url,
    '--regions',
    'us-east-1,eu-west-1',
    '-T',
    'errors<1%',
    '--json',
    '-',
    '-q',
  ])
  t.equal(run.code, 0, run.stderr)
  const report = JSON.parse(run.stdout)
  const id = /rush (\S+) submitted/.exec(run.stderr)![1]!
  const couch = await rushResult(plane.server.couch, id)
  t.equal(report.summary.hits, couch.summary.hits, 'the same merged hits as a --couch read')
  t.same(
    report.summary.latency,
    couch.summary.latency,
    'the same percentiles, merged from the same histograms',
  )
  t.equal(report.timeline.length, await expectedSeconds(plane.server.couch, id, 3), 'a point per second')
  t.equal(report.passed, true)
  t.match(report.where, /through the API, 2 shards in us-east-1, eu-west-1/)

  // Independent commands at once (each a Node start-up, seconds on a busy machine); those
  // that need an earlier one's result come in the next batch.
  const [status, detached, sprint, hosts] = await Promise.all([
    runCli(['status', id, '--api', plane.url]),
    runCli(['rush', `${plane.target.url}/`, '-p', '1:30', '--api', plane.url, '--detach']),
    runCli(['sprint', `${plane.target.url}/status/201`, '--api', plane.url, '--region', 'eu-west-1']),
    runCli(['hosts', 'add', 'www.example.test', '--api', plane.url]),
  ])
  t.equal(status.code, 0, status.stderr)
  t.match(status.stdout, new RegExp(`rush ${id}  done  \\(passed\\)`))

  t.equal(detached.code, 0, detached.stderr)
  const other = detached.stdout.trim()

  t.equal(sprint.code, 0, sprint.stderr)
  t.match(sprint.stdout, /201/)

  t.equal(hosts.code, 0, hosts.stderr)
  t.match(
    hosts.stdout,
    /www\.example\.test {2}not proven\n {2}token [0-9a-f]{32}\n {2}serve http:\/\/www\.example\.test\/stampede-/,
  )

  const [aborted, list] = await Promise.all([
    runCli(['abort', other, '--api', plane.url]),
    runCli(['hosts', 'list', '--api', plane.url, '--json']),
  ])
  t.equal(aborted.code, 0, aborted.stderr)
  t.equal((await call(plane.url, 'GET', `/api/v2/rushes/${other}`, { key })).status, 200)
  t.match(JSON.parse(list.stdout), [
    { host: '127.0.0.1', proven: true },
    { host: 'www.example.test', proven: false },
  ])

  const unproven = await runCli(['rush', 'http://127.0.0.2:9/', '-p', '1:1', '--api', plane.url])
  t.equal(unproven.code, 2, 'an unproven host is a usage error')
  t.match(unproven.stderr, /^stampede: prove that you control 127\.0\.0\.2/)

  delete process.env.STAMPEDE_API_KEY
  process.env.STAMPEDE_API_KEY_FILE = '/nonexistent'
  t.teardown(() => {
    delete process.env.STAMPEDE_API_KEY_FILE
  })
  const nokey = await runCli(['status', id, '--api', plane.url])
  t.equal(nokey.code, 2)
  t.match(nokey.stderr, /^stampede: no API key/)
})
