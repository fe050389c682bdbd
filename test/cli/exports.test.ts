import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { runCli, runClis } from '../harness/cli.js'
import { reportData } from '../harness/report.js'
import { startTarget } from '../harness/target.js'

const SCHEMA = fileURLToPath(new URL('../fixtures/jenkins-junit.xsd', import.meta.url))
const hasXmllint = spawnSync('xmllint', ['--version']).status === 0

t.test('rush --report --junit --csv write the result three ways, in step with --json', async (t) => {
  const target = await startTarget(3)
  t.teardown(() => target.close())
  const dir = mkdtempSync(join(tmpdir(), 'stampede-exports-'))
  const file = (name: string) => join(dir, name)
  const run = await runCli([
    'rush',
    `${target.url}/`,
    '-p',
    '1-6:2,6:1',
    '-T',
    'errors<1%',
    '-T',
    'p50<1ms',
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
  t.equal(run.code, 99, `p50<1ms fails against a 3 ms target (stderr: ${run.stderr})`)
  const json = JSON.parse(readFileSync(file('r.json'), 'utf8'))

  const data = reportData(readFileSync(file('r.html'), 'utf8'))
  t.same(data.summary, json.summary, 'the report shows the --json summary')
  t.same(
    data.seconds.map((row) => [row.t, row.hits, row.users]),
    json.timeline.map((point: { t: number; hits: number; concurrency: number }) => [
      point.t,
      point.hits,
      point.concurrency,
    ]),
    'a row per second, as in the timeline',
  )
  t.ok(
    data.seconds.every((row) => row.latency === null || row.latency.p50 <= row.latency.p95),
    'per-second percentiles',
  )
  t.equal(data.passed, false)
  t.same(
    data.thresholds.map((row) => [row.threshold, row.passed]),
    [
      ['errors<1%', true],
      ['p50<1ms', false],
    ],
  )

  const csv = readFileSync(file('t.csv'), 'utf8').trimEnd().split('\n')
  t.equal(csv.length, 1 + json.timeline.length, 'CSV: a header and a row per second')
  const header = csv[0]!.split(',')
  const hits = csv.slice(1).reduce((sum, line) => sum + Number(line.split(',')[header.indexOf('hits')]), 0)
  t.equal(hits, json.summary.hits, 'CSV hits add up to the summary')
  t.equal(
    csv.slice(1).reduce((sum, line) => sum + Number(line.split(',')[header.indexOf('status_200')]), 0),
    json.summary.statuses['200'],
  )

  const junit = readFileSync(file('j.xml'), 'utf8')
  t.match(junit, /tests="3" failures="1"/)
  const measured = /message="p50 was ([\d.]+) ms \(wanted below 1ms\)"/.exec(junit)?.[1]
  // Shown to two decimals (rounded half up, where toFixed may round down).
  t.ok(
    Math.abs(Number(measured) - json.summary.latency.p50) <= 0.0051,
    `the failure names the measured p50 (${measured})`,
  )
  if (hasXmllint) {
    const lint = spawnSync('xmllint', ['--noout', '--schema', SCHEMA, file('j.xml')], { encoding: 'utf8' })
    t.equal(lint.status, 0, `JUnit validates against the Jenkins schema: ${lint.stderr}`)
  }
})

t.test('a file that cannot be written fails before any load, in one line', async (t) => {
  const target = await startTarget()
  t.teardown(() => target.close())
  const options = ['--report', '--junit', '--csv']
  const runs = await runClis(
    options.map((option) => ['rush', `${target.url}/`, '-p', '1:1', option, '/nonexistent/dir/out', '-q']),
  )
  for (const [i, option] of options.entries()) {
    const run = runs[i]!
    t.equal(run.code, 2, `${option}: bad usage`)
    t.equal(run.stderr, `stampede: cannot write ${option} /nonexistent/dir/out: ENOENT\n`)
  }
  t.equal(target.requests, 0, 'nothing was sent')
})

t.test('--detach returns before any result, so it takes no report', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'stampede-exports-'))
  const out = join(dir, 'r.html')
  const run = await runCli([
    'rush',
    'http://127.0.0.1:9/',
    '-p',
    '1:1',
    '--couch',
    'http://127.0.0.1:9',
    '--regions',
    'a',
    '--detach',
    '--report',
    out,
  ])
  t.equal(run.code, 2)
  t.match(run.stderr, /^stampede: --detach returns before any result: use stampede status RUSH-ID --report/)
  t.notOk(existsSync(out))
})

t.test('a rush that cannot run leaves no empty report behind', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'stampede-exports-'))
  const files = ['r.html', 'j.xml', 't.csv'].map((name) => join(dir, name))
  // The metadata service's address is refused before any connection.
  const run = await runCli([
    'rush',
    'http://169.254.169.254/',
    '-p',
    '1:1',
    '--report',
    files[0]!,
    '--junit',
    files[1]!,
    '--csv',
    files[2]!,
    '-q',
  ])
  t.equal(run.code, 2, run.stderr)
  t.match(run.stderr, /refusing to connect to 169\.254\.169\.254/)
  for (const file of files) t.notOk(existsSync(file), `${file} was removed`)
})
