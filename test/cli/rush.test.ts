import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { decodeHistogram } from '../../lib/histogram.js'
import { runCli } from '../harness/cli.js'
import { startTarget } from '../harness/target.js'

const dir = mkdtempSync(join(tmpdir(), 'stampede-rush-'))
let files = 0
const jsonPath = () => join(dir, `run-${files++}.json`)
const readJson = (path: string) => JSON.parse(readFileSync(path, 'utf8'))

t.test('a rush reports exactly the hits the target counted, in one timeline second by second', async (t) => {
  const target = await startTarget()
  t.teardown(() => target.close())
  for (const workers of ['0', '2']) {
    target.reset()
    const out = jsonPath()
    const run = await runCli([
      'rush',
      `${target.url}/`,
      // Two seconds: a ramp and a steady second are enough to show every second once.
      '--pattern',
      '1-8:1,8:1',
      '--workers',
      workers,
      '--json',
      out,
      '-q',
    ])
    t.equal(run.code, 0, `exit 0 with ${workers} workers; stderr: ${run.stderr}`)
    const report = readJson(out)
    t.ok(report.summary.hits > 100, `real load was sent (${report.summary.hits} hits)`)
    t.equal(
      report.summary.hits,
      target.requests,
      `hits equal the requests the target counted (workers ${workers})`,
    )
    t.equal(report.summary.errors, 0)
    t.same(
      report.timeline.map((point: { t: number }) => point.t),
      [0, 1],
      'every second of the run is present once, in order',
    )
    const timelineHits = report.timeline.reduce((sum: number, point: { hits: number }) => sum + point.hits, 0)
    t.equal(timelineHits, report.summary.hits, 'the timeline adds up to the summary')
    t.equal(
      decodeHistogram(report.histogram).totalCount,
      report.summary.hits,
      'the histogram holds every latency',
    )
    t.match(run.stdout, /Latency \(ms\)/, 'a summary table is printed')
  }
})

t.test(
  'a local rush warms its load path up first, unless told not to; the target sees the run only',
  async (t) => {
    const target = await startTarget()
    t.teardown(() => target.close())
    const runs = [
      { args: ['--workers', '0'], warmUp: true },
      { args: ['--workers', '1'], warmUp: true },
      { args: ['--workers', '1', '--no-warm-up'], warmUp: true },
    ]
    for (const { args, warmUp } of runs) {
      target.reset()
      const out = jsonPath()
      // Not quiet: the progress says what happens before second 0 (stderr is not a terminal here).
      const run = await runCli(['rush', `${target.url}/`, '--rate', '100:1', ...args, '--json', out], {
        warmUp,
      })
      t.equal(run.code, 0, `exit 0 (${args.join(' ')}); stderr: ${run.stderr}`)
      const warmed = !args.includes('--no-warm-up')
      t.equal(/warming up the load path/.test(run.stderr), warmed, `${args.join(' ')}: warms up: ${warmed}`)
      t.notMatch(run.stderr, /did not warm up/)
      const report = readJson(out)
      t.equal(report.summary.hits, 100, 'the 100 requests asked')
      t.equal(target.requests, 100, "none of the warm-up's requests reached the target")
    }
  },
)

t.test('the ramp really reaches the asked concurrency, and never goes past it', async (t) => {
  const target = await startTarget()
  t.teardown(() => target.close())
  // Each user waits 200 ms for its answer: with 30 users all of them are in flight at once.
  const run = await runCli([
    'rush',
    `${target.url}/delay/200`,
    '--pattern',
    '1-30:1,30:1.5',
    '-q',
    '--json',
    jsonPath(),
  ])
  t.equal(run.code, 0, run.stderr)
  t.equal(target.peakInFlight, 30, 'the target saw 30 requests in flight at once')
  t.ok(target.connections <= 30, `one connection per user (${target.connections})`)
})

t.test('an arrival rate sends the scheduled number of requests and counts what it had to drop', async (t) => {
  const target = await startTarget()
  t.teardown(() => target.close())
  const out = jsonPath()
  const run = await runCli(['rush', `${target.url}/`, '--rate', '40:2', '--json', out, '-q'])
  t.equal(run.code, 0, run.stderr)
  const report = readJson(out)
  t.equal(target.requests, 80, '40 requests per second for 2 seconds')
  t.equal(report.summary.hits, 80)
  t.equal(report.summary.dropped, 0)

  target.reset()
  const capped = jsonPath()
  // 50/s against a target that takes 2 s (a second longer than the pattern: none of the five
  // comes back while the rest are due), at most 5 in flight: 5 are sent, the rest dropped.
  const slow = await runCli([
    'rush',
    `${target.url}/delay/2000`,
    '--rate',
    '50:1',
    '--max-in-flight',
    '5',
    '--timeout',
    '5s',
    '--json',
    capped,
    '-q',
    '-w',
    '1',
  ])
  t.equal(slow.code, 0, slow.stderr)
  const cappedReport = readJson(capped)
  t.equal(cappedReport.summary.sent, 5, 'no more than the cap was ever in flight')
  t.equal(target.requests, 5)
  t.equal(cappedReport.summary.dropped, 45, 'the requests that could not be sent are counted')
  t.ok(cappedReport.summary.latency.p50 >= 1900, 'latency counts from the due time')
})

t.test(
  'timeouts, connection failures, resets, parse errors and status failures are told apart',
  async (t) => {
    const target = await startTarget()
    t.teardown(() => target.close())
    const rush = async (path: string, ...extra: string[]) => {
      const out = jsonPath()
      const run = await runCli([
        'rush',
        `${target.url}${path}`,
        '--pattern',
        '2:1',
        '--json',
        out,
        '-q',
        '-w',
        '0',
        ...extra,
      ])
      return { run, summary: readJson(out).summary }
    }

    // Five runs at once, each its own CLI process and target path: the kinds are told apart
    // per run (no assertion here reads the target's shared counters).
    const closedPort = await startTarget()
    const url = closedPort.url
    await closedPort.close()
    const out = jsonPath()
    const [slow, status, garbage, reset, refused] = await Promise.all([
      rush('/delay/2000', '--timeout', '300ms'),
      rush('/status/503', '--expect-status', '2xx'),
      rush('/garbage'),
      rush('/reset'),
      runCli(['rush', `${url}/`, '--pattern', '1:1', '--json', out, '-q', '-w', '0']),
    ])
    t.ok(slow.summary.timeouts >= 2, `slow answers time out (${slow.summary.timeouts})`)
    t.equal(slow.summary.hits, 0)
    t.equal(slow.summary.errors, slow.summary.timeouts, 'and count as failed requests')

    t.ok(status.summary.hits > 0)
    t.equal(status.summary.errorsByKind.status, status.summary.hits, 'every 503 fails the status assertion')
    t.same(Object.keys(status.summary.statuses), ['503'])

    t.ok(garbage.summary.errorsByKind.parse > 0, 'a response that is not HTTP is a parse error')
    t.equal(garbage.summary.hits, 0)

    t.ok(reset.summary.errorsByKind.socket > 0, 'a connection dropped mid-request is a socket error')
    t.equal(reset.summary.hits, 0)

    const summary = readJson(out).summary
    t.equal(refused.code, 0)
    t.ok(summary.errorsByKind.connect > 0, 'a closed port is a connect error')
    t.equal(summary.hits, 0)
    t.equal(summary.txBytes, 0, 'nothing reached a socket: no byte sent')
    t.match(refused.stdout, /sent 0 B .*\n.*\b0 opened/)
  },
)

t.test('TLS: a certificate that does not verify is a tls error, unless --insecure', async (t) => {
  const target = await startTarget({ https: true })
  t.teardown(() => target.close())
  const strict = jsonPath()
  await runCli(['rush', `${target.url}/`, '--pattern', '1:1', '--json', strict, '-q', '-w', '0'])
  t.ok(readJson(strict).summary.errorsByKind.tls > 0, 'self-signed certificate refused')
  t.equal(target.requests, 0)
  const insecure = jsonPath()
  await runCli([
    'rush',
    `${target.url}/`,
    '--pattern',
    '1:1',
    '--json',
    insecure,
    '-q',
    '-w',
    '0',
    '--insecure',
  ])
  const summary = readJson(insecure).summary
  t.ok(summary.hits > 0)
  t.equal(summary.hits, target.requests)
})

t.test('thresholds set the exit code: 0 when all pass, 99 when any fails', async (t) => {
  const target = await startTarget()
  t.teardown(() => target.close())
  const base = ['rush', `${target.url}/delay/20`, '--pattern', '2:1', '-q', '-w', '0']
  const out = jsonPath()
  // Three runs at once: each its own process, its exit code and output its own.
  const [pass, fail] = await Promise.all([
    runCli([...base, '-T', 'p95<2s', '-T', 'errors<1%', '-T', 'hits>10']),
    runCli([...base, '-T', 'p50<5ms', '-T', 'errors<1%']),
    runCli([...base, '-T', 'p50<5ms', '--json', out]),
  ])
  t.equal(pass.code, 0, pass.stdout)
  t.match(pass.stdout, /PASS\s+p95<2s/)
  t.equal(fail.code, 99, 'p50 of a 20 ms target cannot be under 5 ms')
  t.match(fail.stdout, /FAIL\s+p50<5ms\s+p50 was/)
  t.match(fail.stdout, /PASS\s+errors<1%/)
  const report = readJson(out)
  t.equal(report.passed, false)
  t.equal(report.thresholds[0].passed, false)
})

t.test('the request is sent as described: method, headers, cookies, basic auth, body', async (t) => {
  const target = await startTarget()
  t.teardown(() => target.close())
  const body = join(dir, 'body.json')
  const { writeFileSync } = await import('node:fs')
  writeFileSync(body, '{"hello":"world"}')
  const run = await runCli([
    'sprint',
    `${target.url}/echo?q=1`,
    '-X',
    'PUT',
    '-H',
    'X-Custom: yes',
    '-b',
    'a=1',
    '-b',
    'b=2',
    '-u',
    'user:secret',
    '-A',
    'tester/1.0',
    '--data-file',
    body,
  ])
  t.equal(run.code, 0, run.stderr)
  const last = target.last!
  t.equal(last.method, 'PUT')
  t.equal(last.headers['x-custom'], 'yes')
  t.equal(last.headers.cookie, 'a=1; b=2')
  t.equal(last.headers.authorization, `Basic ${Buffer.from('user:secret').toString('base64')}`)
  t.equal(last.headers['user-agent'], 'tester/1.0')
  t.equal(last.body, '{"hello":"world"}')
})

t.test('Ctrl-C stops the rush, prints what it measured and exits 130', async (t) => {
  const target = await startTarget()
  t.teardown(() => target.close())
  const { spawn } = await import('node:child_process')
  const { CLI } = await import('../harness/cli.js')
  const out = jsonPath()
  // Its own process group, as in a terminal: the interrupt reaches the load processes too.
  const child = spawn(
    process.execPath,
    [CLI, 'rush', `${target.url}/delay/10`, '-p', '4:60', '-w', '2', '--json', out],
    {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
  let stdout = ''
  child.stdout.on('data', (chunk) => (stdout += chunk))
  // Interrupt once the load has visibly started.
  while (target.requests < 50) await new Promise((resolve) => setTimeout(resolve, 50))
  process.kill(-child.pid!, 'SIGINT')
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
  t.equal(code, 130)
  t.match(stdout, /STOPPED EARLY/)
  const report = readJson(out)
  t.equal(report.cutShort, true)
  t.ok(report.summary.duration < 60, 'the summary covers the seconds that ran')
  t.equal(report.summary.hits, target.requests, 'every request the target saw is counted')
})
