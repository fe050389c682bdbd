import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { runCli, runClis } from '../harness/cli.js'
import { startTarget } from '../harness/target.js'

const dir = mkdtempSync(join(tmpdir(), 'stampede-pipelining-'))

t.test('--pipelining N: every request counted, said in the summary and the JSON', async (t) => {
  const target = await startTarget()
  t.teardown(() => target.close())
  for (const workers of ['0', '2']) {
    target.reset()
    const out = join(dir, `run-${workers}.json`)
    const html = join(dir, `run-${workers}.html`)
    const run = await runCli([
      'rush',
      // Node's server takes pipelined requests as they come and queues the answers: with
      // each answer 20 ms late, the requests it holds at once show how many were in flight.
      `${target.url}/delay/20`,
      '--pattern',
      // Up and down again: users that leave finish their requests in flight, counted once.
      '1-4:1,4-1:1',
      '--pipelining',
      '4',
      '-w',
      workers,
      '--json',
      out,
      '--report',
      html,
      '-q',
    ])
    t.equal(run.code, 0, run.stderr)
    const report = JSON.parse(readFileSync(out, 'utf8'))
    t.equal(report.pipelining, 4, `the JSON says pipelining 4 (workers ${workers})`)
    t.match(report.pipeliningNote, /each user keeps up to 4 requests in flight/)
    t.match(run.stdout, /^pipelining 4: each user keeps up to 4 requests in flight$/m)
    t.match(
      readFileSync(html, 'utf8'),
      /pipelining 4: each user keeps up to 4 requests in flight/,
      'and the report',
    )
    t.ok(report.summary.hits > 10, `load was sent (${report.summary.hits} hits)`)
    t.equal(report.summary.hits, target.requests, 'hits equal the requests the target counted')
    t.equal(report.summary.errors, 0)
    t.ok(target.peakInFlight > 4, `more requests in flight (${target.peakInFlight}) than the 4 users`)
    t.ok(target.peakInFlight <= 16, 'never more than 4 per user')
  }
  const plain = await runCli(['rush', `${target.url}/`, '--pattern', '1:1', '-w', '0', '-q'])
  t.equal(plain.code, 0, plain.stderr)
  t.notMatch(plain.stdout, /pipelining/, 'off by default, and then not mentioned')
})

t.test('--pipelining is refused where it does not apply, in one line, exit 2', async (t) => {
  const target = await startTarget()
  t.teardown(() => target.close())
  const url = `${target.url}/`
  const cases: [string[], RegExp][] = [
    [[url, '--rate', '10:1', '--pipelining', '4'], /^stampede: --pipelining goes with users/],
    [[url, `${url}b`, '--pattern', '1:1', '--pipelining', '2'], /not a transaction/],
    [['https://127.0.0.1:9/', '--pattern', '1:1', '--pipelining', '2'], /needs a plain http: target/],
    [[url, '--pattern', '1:1', '--pipelining', '2', '-H', 'Connection: close'], /connection header/],
    [[url, '--pattern', '1:1', '--pipelining', '0'], /from 1 to 64/],
    [[url, '--pattern', '1:1', '--pipelining', '65'], /from 1 to 64/],
    [[url, '--pattern', '1:1', '--pipelining', 'x'], /whole number/],
  ]
  const runs = await runClis(cases.map(([args]) => ['rush', ...args]))
  for (const [i, [args, message]] of cases.entries()) {
    const run = runs[i]!
    t.equal(run.code, 2, args.join(' '))
    t.match(run.stderr, message)
    t.equal(run.stderr.trim().split('\n').length, 1, 'one line')
  }
  t.equal(target.connections, 0, 'refused before anything was sent')
  const help = await runCli(['rush', '--help'])
  t.match(help.stdout, /--pipelining N/)
})
