import { spawn, spawnSync } from 'node:child_process'
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { loadCredentials } from '../../lib/couch/credentials.js'
import { testImds } from '../harness/aws.js'
import { ROOT } from './binary.js'

const UNIT = join(ROOT, 'packaging/systemd/stampede-engine.service')
const PRESTART = join(ROOT, 'packaging/systemd/engine-prestart')
const has = (tool: string, ...args: string[]) =>
  spawnSync(tool, args.length ? args : ['--version']).status === 0

/** The unit's [Service] settings, each key with every value it was given. */
function settings(text: string): Map<string, string[]> {
  const map = new Map<string, string[]>()
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line)
    if (m) map.set(m[1]!, [...(map.get(m[1]!) ?? []), m[2]!])
  }
  return map
}

function tempDir(t: Test, name: string): string {
  const dir = mkdtempSync(join(tmpdir(), name))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

t.test('the unit has what the engine needs', async (t) => {
  const unit = settings(readFileSync(UNIT, 'utf8'))
  const one = (key: string) => unit.get(key)?.at(-1)
  t.equal(one('Type'), 'notify')
  t.equal(one('NotifyAccess'), 'all', 'systemd-notify is a child of the engine')
  t.equal(one('Restart'), 'on-failure')
  t.ok(Number.parseInt(one('WatchdogSec') ?? '0', 10) > 0, 'a watchdog')
  t.ok(Number(one('LimitNOFILE')) >= 100_000, 'open files for 100,000 connections')
  t.same(unit.get('EnvironmentFile'), ['/etc/stampede/engine.env', '-/run/stampede-engine/boot.env'])
  t.equal(one('KillMode'), 'mixed', 'SIGTERM reaches the supervisor alone, which drains')
  t.ok(
    Number.parseInt(one('TimeoutStopSec') ?? '0', 10) > 30,
    'stop timeout longer than the default 30 s drain',
  )
  t.equal(one('DynamicUser'), 'yes')
  t.equal(one('NoNewPrivileges'), 'yes')
  t.equal(one('ProtectSystem'), 'strict')
  t.equal(one('PrivateTmp'), 'yes')
  t.match(one('RestrictAddressFamilies'), /\bAF_UNIX\b/, 'the notify socket stays reachable')
  t.notOk(unit.has('MemoryDenyWriteExecute'), "V8's JIT needs W+X memory")
})

t.test(
  'systemd-analyze verify passes on the unit',
  { skip: !has('systemd-analyze') && 'needs systemd-analyze (apt-get install systemd)' },
  async (t) => {
    // verify checks that the programs exist: point the unit at real files in a temp dir.
    const dir = tempDir(t, 'stampede-unit-')
    const engine = join(dir, 'stampede-engine')
    writeFileSync(engine, '#!/bin/sh\nexit 0\n')
    chmodSync(engine, 0o755)
    const text = readFileSync(UNIT, 'utf8')
      .replace(/^ExecStart=\/usr\/local\/bin\/stampede-engine$/m, `ExecStart=${engine}`)
      .replace(
        /^ExecStartPre=\+\/usr\/local\/lib\/stampede-engine\/engine-prestart$/m,
        `ExecStartPre=+${PRESTART}`,
      )
    t.not(text, readFileSync(UNIT, 'utf8'), 'paths replaced')
    const copy = join(dir, 'stampede-engine.service')
    writeFileSync(copy, text)
    const verify = spawnSync('systemd-analyze', ['verify', '--man=no', copy], { encoding: 'utf8' })
    t.equal(verify.status, 0, verify.stderr)
    t.equal(verify.stderr, '', 'no warning either (unknown keys, bad values)')

    const security = spawnSync('systemd-analyze', ['security', '--offline=true', '--no-pager', copy], {
      encoding: 'utf8',
    })
    const level = /Overall exposure level for .*: (\d+\.\d+)/.exec(security.stdout)
    if (security.status === 0 && level) {
      t.comment(`systemd-analyze security: exposure ${level[1]} (0 safest, 10 unsafe)`)
      t.ok(Number(level[1]) <= 2.5, `exposure ${level[1]} ≤ 2.5`)
    } else t.comment('systemd-analyze security --offline is not available here')
  },
)

t.test(
  'the pre-start script passes shellcheck',
  { skip: !has('shellcheck') && 'needs shellcheck (apt-get install shellcheck)' },
  async (t) => {
    const check = spawnSync('shellcheck', [PRESTART], { encoding: 'utf8' })
    t.equal(check.status, 0, check.stdout)
  },
)

/**
 * The project's IMDSv2 emulator, as strict as EC2 with HttpTokens=required: a TTL header on the
 * token PUT, the token on every read (401 without it), no IMDSv1 fall-back.
 */
function imdsFor(t: Test) {
  return testImds(t, {
    instanceId: 'i-0abc123',
    region: 'eu-west-1',
    az: 'eu-west-1b',
    instanceType: 'c7g.large',
  })
}

function runPrestart(
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(PRESTART, [], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c) => (stdout += c))
    child.stderr.on('data', (c) => (stderr += c))
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}

const haveCurl = has('curl')

t.test(
  'pre-start: identity from IMDSv2 and credentials from SSM, into the runtime directory',
  { skip: !haveCurl && 'needs curl' },
  async (t) => {
    const imds = await imdsFor(t)
    const runtime = tempDir(t, 'stampede-run-')
    chmodSync(runtime, 0o700)
    // A stand-in AWS CLI that logs its arguments and prints the parameter's value.
    const bin = tempDir(t, 'stampede-aws-')
    writeFileSync(
      join(bin, 'aws'),
      `#!/bin/sh\nprintf '%s\\n' "$*" > "${bin}/args"\nprintf '%s\\n' 'engine-eu:s3cr3t pass'\n`,
    )
    chmodSync(join(bin, 'aws'), 0o755)
    const run = await runPrestart({
      RUNTIME_DIRECTORY: runtime,
      STAMPEDE_IDENTITY: 'imds',
      STAMPEDE_IMDS_ENDPOINT: imds.url,
      STAMPEDE_COUCH_CREDENTIALS_SSM: '/stampede/prod/couch-engine',
      STAMPEDE_AWS_CLI: join(bin, 'aws'),
    })
    t.equal(run.code, 0, run.stderr)
    t.equal(run.stdout + run.stderr, '', 'silent: nothing for the journal, the secret least of all')
    t.equal(
      readFileSync(join(runtime, 'boot.env'), 'utf8'),
      [
        'STAMPEDE_INSTANCE_ID=i-0abc123',
        'STAMPEDE_REGION=eu-west-1',
        'STAMPEDE_AZ=eu-west-1b',
        'STAMPEDE_INSTANCE_TYPE=c7g.large',
        `STAMPEDE_COUCH_CREDENTIALS_FILE=${runtime}/couch-credentials`,
        '',
      ].join('\n'),
    )
    t.same(
      imds.requests.map((r) => `${r.method} ${r.path} ${r.status}`),
      [
        'PUT /latest/api/token 200',
        'GET /latest/meta-data/instance-id 200',
        'GET /latest/meta-data/placement/region 200',
        'GET /latest/meta-data/placement/availability-zone 200',
        'GET /latest/meta-data/instance-type 200',
      ],
      'one IMDSv2 token for all reads, and every read accepted with it',
    )
    t.equal(
      readFileSync(join(bin, 'args'), 'utf8').trim(),
      'ssm get-parameter --region eu-west-1 --name /stampede/prod/couch-engine --with-decryption --query Parameter.Value --output text',
    )
    const secret = join(runtime, 'couch-credentials')
    t.equal(statSync(secret).mode & 0o777, 0o400, 'credentials readable by their owner only')
    t.equal(
      statSync(secret).uid,
      statSync(runtime).uid,
      'owned by the owner of the runtime directory (the engine user)',
    )
    t.same(
      loadCredentials({ STAMPEDE_COUCH_CREDENTIALS_FILE: secret }),
      { username: 'engine-eu', password: 's3cr3t pass' },
      'the engine reads them',
    )
  },
)

t.test('pre-start off EC2: nothing to resolve, an empty boot.env', async (t) => {
  const runtime = tempDir(t, 'stampede-run-')
  const run = await runPrestart({ RUNTIME_DIRECTORY: runtime })
  t.equal(run.code, 0, run.stderr)
  t.equal(readFileSync(join(runtime, 'boot.env'), 'utf8'), '')
})

t.test(
  'pre-start fails with one clear line when the metadata service is not there',
  { skip: !haveCurl && 'needs curl' },
  async (t) => {
    const runtime = tempDir(t, 'stampede-run-')
    const closed = 'http://127.0.0.1:9'
    const run = await runPrestart({
      RUNTIME_DIRECTORY: runtime,
      STAMPEDE_IDENTITY: 'imds',
      STAMPEDE_IMDS_ENDPOINT: closed,
      STAMPEDE_IMDS_RETRIES: '0',
    })
    t.equal(run.code, 1)
    t.match(run.stderr, /stampede-engine pre-start: no IMDSv2 token from http:\/\/127\.0\.0\.1:9/)
    const bad = await runPrestart({ RUNTIME_DIRECTORY: runtime, STAMPEDE_IDENTITY: 'dns' })
    t.equal(bad.code, 1)
    t.match(bad.stderr, /STAMPEDE_IDENTITY must be imds or static, not 'dns'/)
    t.same(
      spawnSync('ls', ['-A', runtime], { encoding: 'utf8' }).stdout.trim(),
      '',
      'no temporary file left behind',
    )
  },
)
