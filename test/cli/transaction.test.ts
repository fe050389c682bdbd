import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { runCli, runClis } from '../harness/cli.js'
import { startShop } from '../harness/shop.js'

const dir = mkdtempSync(join(tmpdir(), 'stampede-txn-'))
const ROWS = 40
const users = join(dir, 'users.csv')
writeFileSync(users, `user,pass\n${Array.from({ length: ROWS }, (_, i) => `u${i},pw-u${i}`).join('\n')}\n`)

/** The four steps, blitz's way: each URL closes a step with the options before it. */
const fourSteps = (url: string) => [
  '--rows',
  users,
  '--rows-mode',
  'unique',
  '--step',
  'login',
  '-X',
  'POST',
  '-d',
  'u=#{user}&p=#{pass}',
  '-x:c',
  'session',
  '-x:j',
  'token=$.token',
  `${url}/login`,
  '--step',
  'list',
  '-H',
  'authorization: Bearer #{token}',
  '-x:j',
  'item=$.items[0].id',
  `${url}/items`,
  `${url}/items/#{item}`,
  `${url}/logout`,
]

t.test(
  'a four-step transaction from the command line: each CSV row logs in exactly once, steps add up',
  async (t) => {
    const shop = await startShop()
    t.teardown(() => shop.close())
    const out = join(dir, 'run.json')
    const run = await runCli([
      'rush',
      '-p',
      '4:2',
      '-q',
      '--json',
      out,
      '-T',
      'login.p95<10s',
      '-T',
      'step3.errors<1%',
      '-T',
      'list.hits>=40',
      ...fourSteps(shop.url),
    ])
    t.equal(run.code, 0, run.stderr)
    t.equal(shop.logins.size, ROWS)
    t.ok(
      [...shop.logins.values()].every((count) => count === 1),
      'no row twice',
    )
    t.equal(shop.refused, 0)
    const report = JSON.parse(readFileSync(out, 'utf8'))
    const steps = report.transaction.steps as { name: string; summary: { hits: number; errors: number } }[]
    t.same(
      steps.map((step) => step.name),
      ['login', 'list', 'step3', 'step4'],
    )
    for (const step of steps) t.equal(step.summary.hits, ROWS, `${step.name}: ${ROWS} hits`)
    t.equal(report.summary.hits, ROWS * 4, 'the whole is the sum of its steps')
    t.equal(report.transaction.iterations.hits, ROWS)
    t.equal(report.transaction.exhausted, 4, 'the rush says the rows ran out')
    t.match(run.stdout, /Steps \(latency in ms/)
    t.match(run.stdout, /^\s+login\s+40\s/m)
    t.match(run.stdout, /Data rows ran out/)

    const failing = await runCli([
      'rush',
      '-p',
      '1:1',
      '-q',
      '-T',
      'list.p50<0.001ms',
      ...fourSteps(shop.url),
    ])
    t.equal(failing.code, 99, 'a step threshold that fails exits 99')
    t.match(failing.stdout, /FAIL\s+list\.p50<0\.001ms/)
  },
)

t.test('bad input: one line naming the step and the problem, exit 2, nothing sent', async (t) => {
  const shop = await startShop()
  t.teardown(() => shop.close())
  const ragged = join(dir, 'ragged.csv')
  writeFileSync(ragged, 'user,pass\nann,pw\nbob\n')
  const u = shop.url
  const cases: [string[], RegExp][] = [
    [
      ['-H', 'x-a: #{nope}', `${u}/a`, `${u}/b`],
      /^stampede: step step1: header x-a: unknown variable "nope"$/,
    ],
    [[`${u}/a`, '-d', 'x=#{user', `${u}/b`], /^stampede: step step2: body: unterminated #\{ at character 3$/],
    [['-x:j', 'v=$..x', `${u}/a`, `${u}/b`], /^stampede: step step1: JSON path "\$\.\.x": /],
    [['--rows', ragged, `${u}/a`, `${u}/b`], /^stampede: ragged\.csv line 3: 1 fields, the header has 2$/],
    [[`${u}/a`, 'ftp://127.0.0.1/b'], /^stampede: step step2: unsupported URL scheme "ftp:"/],
    [[`${u}/a`, `${u}/b`, '-X', 'POST'], /^stampede: --method after the last URL/],
    [['-T', 'nope.p95<1s', `${u}/a`, `${u}/b`], /^stampede: threshold "nope\.p95<1s": no step named nope/],
    [['-v:n', 'number[9,1]', `${u}/#{n}`, `${u}/b`], /^stampede: variable n: min is above max/],
    [['-x:q', 'a', `${u}/a`], /^stampede: unknown extraction -x:q/],
    [
      [`${u}/a/#{token}`, '-x:j', 'token=$.t', `${u}/b`],
      /^stampede: step step1: url: variable "token" is used before step step2/,
    ],
  ]
  const runs = await runClis(cases.map(([args]) => ['rush', '-p', '1:1', '-q', ...args]))
  for (const [i, [args, message]] of cases.entries()) {
    const run = runs[i]!
    t.equal(run.code, 2, args.join(' '))
    t.match(run.stderr.trim(), message)
    t.equal(run.stderr.trim().split('\n').length, 1, 'one line')
  }
  // Through the API a transaction is sent whole (test/api/transactions.test.ts); what only a
  // local or --couch run can do is refused there before anything is sent.
  process.env.STAMPEDE_API_KEY = 'stk_test'
  try {
    const run = await runCli([
      'rush',
      '-p',
      '1:1',
      '-q',
      '--api',
      'http://127.0.0.1:9',
      '-k',
      `${u}/a`,
      `${u}/b`,
    ])
    t.equal(run.code, 2)
    t.match(
      run.stderr,
      /^stampede: --resolve and --insecure are for local and --couch runs, not through the API\n$/,
    )
  } finally {
    delete process.env.STAMPEDE_API_KEY
  }
  t.equal(shop.byRoute.size, 0, 'nothing was sent')
})

t.test('a scenario file (YAML) runs the same transaction and carries its load and thresholds', async (t) => {
  const shop = await startShop()
  t.teardown(() => shop.close())
  const scenario = join(dir, 'shop.yaml')
  writeFileSync(
    scenario,
    [
      'pattern: "3:60"',
      'thresholds: ["login.errors<1%"]',
      'data: { file: users.csv, mode: unique }',
      'steps:',
      '  - name: login',
      '    method: POST',
      `    url: ${shop.url}/login`,
      "    body: 'u=#{user}&p=#{pass}'",
      '    expect: 200',
      '    extract:',
      '      - cookie: session',
      '      - json: $.token',
      '        as: token',
      `  - url: ${shop.url}/items`,
      "    headers: { authorization: 'Bearer #{token}' }",
      '    think: 1ms-5ms',
      '    extract: [{ json: "$.items[1].id", as: item }]',
      `  - url: ${shop.url}/items/#{item}`,
      `  - url: ${shop.url}/logout`,
      '',
    ].join('\n'),
  )
  const out = join(dir, 'scenario.json')
  const run = await runCli(['rush', '--scenario', scenario, '-q', '--json', out])
  t.equal(run.code, 0, run.stderr)
  t.equal(shop.logins.size, ROWS)
  t.equal(shop.refused, 0)
  const report = JSON.parse(readFileSync(out, 'utf8'))
  t.equal(report.thresholds[0].threshold, 'login.errors<1%')
  t.equal(report.transaction.iterations.hits, ROWS)

  const bad = join(dir, 'bad.yaml')
  writeFileSync(bad, `steps:\n  - url: ${shop.url}/a\n    extract: [{ json: $.a }]\n`)
  const refused = await runCli(['rush', '--scenario', bad, '-p', '1:1', '-q'])
  t.equal(refused.code, 2)
  t.match(refused.stderr, /bad\.yaml: steps\[0\]\.extract\[0\]\.as: the variable to extract into is missing/)
})

t.test('sprint of a transaction shows every step, the variables it used and what it extracted', async (t) => {
  const shop = await startShop()
  t.teardown(() => shop.close())
  const run = await runCli(['sprint', ...fourSteps(shop.url)])
  t.equal(run.code, 0, run.stderr)
  t.match(run.stdout, /── step login: POST http:\/\/127\.0\.0\.1:\d+\/login/)
  t.match(run.stdout, /variables: user=u0 {2}pass=pw-u0/)
  t.match(run.stdout, /extracted: session=s-u0 {2}token=t-u0/)
  t.match(run.stdout, /> cookie: session=s-u0/)
  t.match(run.stdout, /── step step3: GET http:\/\/127\.0\.0\.1:\d+\/items\/7/)
  t.equal(shop.logins.get('u0'), 1)
})
