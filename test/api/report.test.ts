import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import SwaggerParser from '@apidevtools/swagger-parser'
import t from 'tap'
import { runCli } from '../harness/cli.js'
import { reportData } from '../harness/report.js'
import { apiPlane, call } from './harness.js'

t.test('report.html from the API, and --report/--junit/--csv on rush and status --api', async (t) => {
  // Three CLI processes, each a Node start-up: minutes on a loaded two-core machine.
  t.setTimeout(400_000)
  const plane = await apiPlane(t, { regions: ['us-east-1', 'eu-west-1'], engines: 1 })
  const { key } = await plane.tenant('alice')
  const bob = await plane.tenant('bob')
  delete process.env.STAMPEDE_API_URL
  process.env.STAMPEDE_API_KEY = key
  t.teardown(() => {
    delete process.env.STAMPEDE_API_KEY
  })
  const dir = mkdtempSync(join(tmpdir(), 'stampede-api-report-'))
  const file = (name: string) => join(dir, name)

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
    '-T',
    'p50<0.001ms',
    '--report',
    file('r.html'),
    '--junit',
    file('j.xml'),
    '--csv',
    file('t.csv'),
    '--json',
    file('r.json'),
    '-q',
  ])
  t.equal(run.code, 99, `p50<0.001ms fails (stderr: ${run.stderr})`)
  const id = /rush (\S+) submitted/.exec(run.stderr)![1]!
  const json = JSON.parse(readFileSync(file('r.json'), 'utf8'))

  const cliReport = reportData(readFileSync(file('r.html'), 'utf8'))
  t.same(cliReport.summary, json.summary, '--report shows the --json summary')
  t.same(
    cliReport.seconds.map((row) => [row.t, row.hits]),
    json.timeline.map((point: { t: number; hits: number }) => [point.t, point.hits]),
    'a row per second of the event stream',
  )
  t.same(
    cliReport.thresholds.map((row) => [row.threshold, row.passed]),
    [
      ['errors<1%', true],
      ['p50<0.001ms', false],
    ],
  )
  const junit = readFileSync(file('j.xml'), 'utf8')
  t.match(junit, /tests="3" failures="1"/, 'two thresholds and the rush completing; one fails, as in --json')
  const csv = readFileSync(file('t.csv'), 'utf8').trimEnd().split('\n')
  t.equal(csv.length, 1 + json.timeline.length, 'CSV: a header and a row per second')

  const v2 = await call(plane.url, 'GET', `/api/v2/rushes/${id}`, { key })
  t.equal(v2.status, 200)
  const page = await call(plane.url, 'GET', `/api/v2/rushes/${id}/report.html`, { key })
  t.equal(page.status, 200)
  t.match(page.headers.get('content-type'), /^text\/html/)
  const served = reportData(page.body as string)
  t.same(served.summary, v2.body.summary, "the served report's data is the rush's v2 summary")
  t.same(served.summary, json.summary, 'and the CLI merged the same')
  t.same(
    served.thresholds.map((row) => [row.threshold, row.actual, row.passed]),
    v2.body.thresholds.map((row: { threshold: string; actual: number; passed: boolean }) => [
      row.threshold,
      row.actual,
      row.passed,
    ]),
    "judged on the rush's thresholds",
  )
  t.equal(served.seconds.length, v2.body.seconds)
  t.same(
    served.regions.map((region) => region.name),
    ['us-east-1', 'eu-west-1'],
    'per-region charts from the API merge',
  )
  t.equal(
    served.regions.reduce((sum, region) => sum + region.summary.hits, 0),
    v2.body.summary.hits,
    "the regions' hits add up to the rush's",
  )

  const foreign = await call(plane.url, 'GET', `/api/v2/rushes/${id}/report.html`, { key: bob.key })
  t.equal(foreign.status, 404, "another tenant's rush is not found")
  const unknown = await call(plane.url, 'GET', '/api/v2/rushes/no-such-rush/report.html', { key: bob.key })
  t.equal(unknown.status, 404)
  t.equal(foreign.body.title, unknown.body.title, 'answered as an unknown id is')
  t.equal(foreign.body.detail, `no rush ${id}`)
  t.equal((await call(plane.url, 'GET', `/api/v2/rushes/${id}/report.html`)).status, 401, 'no key, no report')

  const status = await runCli([
    'status',
    id,
    '--api',
    plane.url,
    '--junit',
    file('s.xml'),
    '--report',
    file('s.html'),
  ])
  t.equal(status.code, 0, status.stderr)
  t.same(reportData(readFileSync(file('s.html'), 'utf8')).summary, json.summary, 'status --api --report')
  t.equal(readFileSync(file('s.xml'), 'utf8'), junit, 'status --api --junit writes what the rush did')

  const spec = await call(plane.url, 'GET', '/api/v2/openapi.json')
  // biome-ignore lint/suspicious/noExplicitAny: the parsed OpenAPI document
  const document = (await SwaggerParser.validate(structuredClone(spec.body))) as any
  t.ok(
    document.paths['/rushes/{id}/report.html']?.get?.responses['200'].content['text/html'],
    'in the OpenAPI document',
  )
})
