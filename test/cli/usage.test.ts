import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { runCli, runClis } from '../harness/cli.js'
import { startTarget } from '../harness/target.js'

t.test('bad input gets one clear line and exit 2, never a stack trace', async (t) => {
  const cases: [string, string[], RegExp][] = [
    ['an unknown option', ['rush', 'http://127.0.0.1/', '-p', '1:1', '--bogus'], /unknown option --bogus/],
    ['an unknown command', ['stomp'], /unknown command "stomp"/],
    ['an unparsable URL', ['rush', 'not a url', '-p', '1:1'], /invalid URL "not a url"/],
    ['a scheme that is not http', ['sprint', 'ftp://127.0.0.1/'], /unsupported URL scheme "ftp:"/],
    ['a bad pattern', ['rush', 'http://127.0.0.1/', '-p', '1-x:60'], /invalid pattern interval "1-x:60"/],
    ['a zero duration', ['rush', 'http://127.0.0.1/', '-p', '5:0'], /duration must be positive/],
    ['both models', ['rush', 'http://127.0.0.1/', '-p', '1:1', '-r', '1:1'], /exactly one of --pattern/],
    ['no model', ['rush', 'http://127.0.0.1/'], /exactly one of --pattern/],
    [
      'a missing body file',
      ['sprint', 'http://127.0.0.1/', '--data-file', '/nonexistent/body'],
      /cannot read --data-file \/nonexistent\/body: ENOENT/,
    ],
    [
      'a bad threshold',
      ['rush', 'http://127.0.0.1/', '-p', '1:1', '-T', 'p95 under 5'],
      /invalid threshold "p95 under 5"/,
    ],
    ['a bad header', ['sprint', 'http://127.0.0.1/', '-H', 'nocolon'], /invalid header "nocolon"/],
    [
      'a framing header',
      ['rush', 'http://127.0.0.1/', '-p', '1:1', '-H', 'Content-Length: 5'],
      /content-length header cannot be set/,
    ],
    ['a bad timeout', ['sprint', 'http://127.0.0.1/', '--timeout', 'soon'], /invalid duration "soon"/],
    ['credentials in the URL', ['sprint', 'http://u:p@127.0.0.1/'], /--auth USER:PASS/],
    [
      'an unwritable --json path',
      ['rush', 'http://127.0.0.1:9/', '-p', '1:1', '--json', '/nonexistent/out.json'],
      /cannot write --json/,
    ],
    [
      'a local-only option with --couch',
      [
        'rush',
        'http://127.0.0.1:9/',
        '-p',
        '1:1',
        '--no-warm-up',
        '--couch',
        'http://127.0.0.1:9',
        '--regions',
        'r',
      ],
      /--no-warm-up is for local runs/,
    ],
    [
      'too few workers for the connections',
      ['rush', 'http://127.0.0.1:9/', '-p', '50000:1', '-w', '1'],
      /need at least \d+ load processes/,
    ],
  ]
  const runs = await runClis(cases.map(([, args]) => args))
  for (const [i, [what, , message]] of cases.entries()) {
    const run = runs[i]!
    t.equal(run.code, 2, `${what}: exit 2`)
    t.match(run.stderr, message, `${what}: says what is wrong`)
    t.equal(run.stderr.trim().split('\n').length, 1, `${what}: on one line`)
    t.equal(run.stdout, '', `${what}: nothing else printed`)
  }
})

t.test('--help explains each command, --version prints the version', async (t) => {
  const main = await runCli(['--help'])
  t.equal(main.code, 0)
  t.match(main.stdout, /rush\s+ramp concurrent users/)
  t.match(main.stdout, /sprint\s+send one request/)
  const rush = await runCli(['rush', '--help'])
  t.equal(rush.code, 0)
  for (const option of [
    '--pattern',
    '--rate',
    '--threshold',
    '--json',
    '--workers',
    '--timeout',
    '--expect-status',
    '--max-in-flight',
  ]) {
    t.match(rush.stdout, option, `rush --help documents ${option}`)
  }
  t.match(rush.stdout, /Exit status: 0 .* 99 a threshold failed/s)
  const version = await runCli(['--version'])
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'))
  t.equal(version.stdout.trim(), `stampede ${pkg.version}`)
})

t.test('a sprint shows the status, headers, body and the time of each phase', async (t) => {
  const target = await startTarget()
  t.teardown(() => target.close())
  const run = await runCli(['sprint', `${target.url}/status/201`])
  t.equal(run.code, 0, run.stderr)
  t.match(run.stdout, /^HTTP 201 Created$/m)
  t.match(run.stdout, /^Body: 6 bytes$/m)
  t.match(run.stdout, /\| status/)
  for (const phase of ['dns', 'connect', 'tls', 'first byte', 'download', 'total'])
    t.match(run.stdout, new RegExp(`^\\s+${phase}\\s`, 'm'))
  const json = join(mkdtempSync(join(tmpdir(), 'stampede-sprint-')), 'sprint.json')
  const failed = await runCli([
    'sprint',
    `${target.url}/status/500`,
    '--expect-status',
    '2xx',
    '--json',
    json,
  ])
  t.equal(failed.code, 99, 'an unexpected status fails the sprint')
  const detail = JSON.parse(readFileSync(json, 'utf8'))
  t.equal(detail.status, 500)
  t.equal(detail.passed, false)
  t.equal(detail.remote, `127.0.0.1:${target.port}`)
  for (const phase of ['dns', 'connect', 'firstByte', 'total'])
    t.type(detail.timings[phase], 'number', `${phase} timed`)
  t.equal(detail.timings.tls, null, 'no TLS on http')
  const tls = await startTarget({ https: true })
  t.teardown(() => tls.close())
  const secure = await runCli(['sprint', `${tls.url}/`, '--insecure', '--json', '-'])
  t.equal(secure.code, 0, secure.stderr)
  const secureDetail = JSON.parse(secure.stdout)
  t.type(secureDetail.timings.tls, 'number', 'the TLS handshake is timed on its own')
  t.equal(secureDetail.tls.subject, 'localhost')
  t.equal(secureDetail.tls.authorized, false)
})
