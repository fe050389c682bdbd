import { spawn, spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import {
  FETCH_RELEASE_PATH,
  renderUserData,
  USER_DATA_LIMIT,
  type UserDataOptions,
} from '../../cloud-init/render.js'
import { ROOT } from './binary.js'

/** The examples committed as cloud-init/engine.yaml and engine-baked.yaml (STAMPEDE_UPDATE_EXAMPLES=1 rewrites them). */
const STOCK: UserDataOptions = {
  image: 'stock',
  region: 'eu-west-1',
  couchUrl: 'https://couch.eu-west-1.example.com:6984',
  credentialsParameter: '/stampede/couch/engine',
  prefix: 'stampede',
  release: {
    url: 'https://stampede-releases.s3.eu-west-1.amazonaws.com/stampede-engine-0.1.0-linux-x64.tar.gz?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=3600&X-Amz-Signature=0123abcd',
    sha256: '0'.repeat(64),
  },
  settings: { STAMPEDE_CAPACITY: '100000', STAMPEDE_DRAIN_MS: '30000' },
}
const BAKED: UserDataOptions = { ...STOCK, image: 'baked', release: undefined }
delete BAKED.release

const has = (tool: string, ...args: string[]) =>
  spawnSync(tool, args.length ? args : ['--version']).status === 0
const haveCloudInit = has('cloud-init')
/** cloud-init's own Python has PyYAML: the same parser that will read the user-data. */
const cloudInitPython = haveCloudInit
  ? readFileSync('/usr/bin/cloud-init', 'utf8')
      .split('\n')[0]!
      .replace(/^#!\s*/, '')
      .split(' ')[0]!
  : ''

function tempDir(t: Test, name: string): string {
  const dir = mkdtempSync(join(tmpdir(), name))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

function parseYaml(text: string): {
  write_files: { path: string; permissions: string; content: string }[]
  runcmd: unknown[]
} {
  const parsed = spawnSync(
    cloudInitPython,
    ['-c', 'import json, sys, yaml; print(json.dumps(yaml.safe_load(sys.stdin)))'],
    { input: text, encoding: 'utf8' },
  )
  if (parsed.status !== 0) throw new Error(parsed.stderr)
  return JSON.parse(parsed.stdout)
}

/** The runcmd argv lists, read back from the text (no YAML library needed for this shape). */
function parseRuncmd(text: string): string[][] {
  const entries: string[][] = []
  for (const line of text.slice(text.indexOf('\nruncmd:\n')).split('\n').slice(2)) {
    const item = /^( {2}- - | {4}- )(".*")$/.exec(line)
    if (!item) continue
    if (item[1] === '  - - ') entries.push([])
    entries.at(-1)!.push(JSON.parse(item[2]!))
  }
  return entries
}

t.test('the committed examples are what render produces', async (t) => {
  for (const [file, options] of [
    ['engine.yaml', STOCK],
    ['engine-baked.yaml', BAKED],
  ] as const) {
    const path = join(ROOT, 'cloud-init', file)
    const text = renderUserData(options)
    if (process.env.STAMPEDE_UPDATE_EXAMPLES) writeFileSync(path, text)
    t.equal(
      readFileSync(path, 'utf8'),
      text,
      `cloud-init/${file} is up to date (STAMPEDE_UPDATE_EXAMPLES=1 npm test rewrites it)`,
    )
  }
})

t.test('stock and baked user-data stay far under the 16 KB limit', async (t) => {
  const stock = renderUserData(STOCK)
  const baked = renderUserData(BAKED)
  t.comment(
    `stock ${Buffer.byteLength(stock)} bytes, baked ${Buffer.byteLength(baked)} bytes, limit ${USER_DATA_LIMIT}`,
  )
  t.ok(Buffer.byteLength(stock) < USER_DATA_LIMIT / 4)
  t.ok(Buffer.byteLength(baked) < Buffer.byteLength(stock))
  // A long presigned URL (session token) and many settings still fit.
  const long = renderUserData({
    ...STOCK,
    release: { ...STOCK.release!, url: `${STOCK.release!.url}&X-Amz-Security-Token=${'A'.repeat(4000)}` },
    settings: Object.fromEntries(
      Array.from({ length: 40 }, (_, i) => [`STAMPEDE_SETTING_${i}`, 'x'.repeat(50)]),
    ),
  })
  t.ok(Buffer.byteLength(long) < USER_DATA_LIMIT)
  t.throws(
    () =>
      renderUserData({
        ...STOCK,
        settings: Object.fromEntries(
          Array.from({ length: 200 }, (_, i) => [`STAMPEDE_S${i}`, 'x'.repeat(100)]),
        ),
      }),
    { code: 'STAMPEDE_USER_DATA', message: /over EC2's 16384-byte limit/ },
  )
})

t.test(
  'the stock image fetches, checks and installs the release; the baked one only configures',
  async (t) => {
    const stock = renderUserData(STOCK)
    t.match(stock, /^#cloud-config\n/)
    t.match(stock, /STAMPEDE_COUCH_CREDENTIALS_SSM=\/stampede\/couch\/engine\n/)
    t.match(stock, /STAMPEDE_IDENTITY=imds\n/)
    const runcmd = parseRuncmd(stock)
    t.equal(runcmd[0]?.[0], FETCH_RELEASE_PATH)
    t.match(runcmd[0]?.[1], /^https:\/\//)
    t.equal(runcmd[0]?.[2], '0'.repeat(64))
    t.same(runcmd[1], ['systemctl', 'enable', '--now', 'stampede-engine.service'])
    const baked = renderUserData(BAKED)
    t.notMatch(baked, /fetch-release/)
    t.same(parseRuncmd(baked), [['systemctl', 'enable', '--now', 'stampede-engine.service']])
  },
)

t.test('credentials never go into user-data; bad options are clear errors', async (t) => {
  const bad: [Partial<UserDataOptions>, RegExp][] = [
    [{ couchUrl: 'https://admin:secret@couch.example.com' }, /must not carry credentials/],
    [{ credentialsParameter: 'admin:secret' }, /is not an SSM parameter name/],
    [{ settings: { STAMPEDE_COUCH_PASSWORD: 'secret' } }, /would put credentials in user-data/],
    [{ settings: { STAMPEDE_COUCH_CREDENTIALS_FILE: '/x' } }, /would put credentials in user-data/],
    [{ settings: { PATH: '/tmp' } }, /not a STAMPEDE_\* name/],
    [{ settings: { STAMPEDE_LOG_LEVEL: 'info\nSTAMPEDE_ALLOW_PRIVATE=1' } }, /need(s)? quoted/],
    [{ region: 'EU West' }, /invalid region/],
    [
      { release: { url: 'http://example.com/r.tar.gz', sha256: '0'.repeat(64) } },
      /https:\/\/… \(presigned\) or s3:\/\//,
    ],
    [{ release: { url: 's3://bucket/r.tar.gz', sha256: 'abc' } }, /64 hex digits/],
    [{ release: undefined }, /needs release/],
    [{ image: 'golden' as never }, /image must be stock or baked/],
  ]
  for (const [override, message] of bad) {
    t.throws(
      () => renderUserData({ ...STOCK, ...override }),
      { code: 'STAMPEDE_USER_DATA', message },
      JSON.stringify(override),
    )
  }
  t.throws(() => renderUserData({ ...BAKED, release: STOCK.release }), /has its release built in/)
  t.ok(
    renderUserData({
      ...STOCK,
      release: { url: 's3://stampede-releases/engine.tar.gz', sha256: 'f'.repeat(64) },
    }),
    's3:// with the instance role',
  )
  t.ok(
    renderUserData({
      ...STOCK,
      credentialsParameter: 'arn:aws:ssm:eu-west-1:123456789012:parameter/stampede/couch',
    }),
    'an ARN',
  )
})

t.test(
  'cloud-init schema accepts both',
  { skip: !haveCloudInit && 'needs cloud-init (apt-get install cloud-init)' },
  async (t) => {
    const dir = tempDir(t, 'stampede-ud-')
    for (const [name, options] of [
      ['stock', STOCK],
      ['baked', BAKED],
    ] as const) {
      const file = join(dir, `${name}.yaml`)
      writeFileSync(file, renderUserData(options))
      const schema = spawnSync('cloud-init', ['schema', '--config-file', file], { encoding: 'utf8' })
      t.equal(schema.status, 0, `${name}: ${schema.stdout}${schema.stderr}`)
      t.match(schema.stdout, /Valid cloud-config/)
    }
    // And it does reject what is wrong (the check is real).
    const wrong = join(dir, 'wrong.yaml')
    writeFileSync(wrong, '#cloud-config\nruncmd: 42\n')
    t.not(spawnSync('cloud-init', ['schema', '--config-file', wrong]).status, 0, 'an invalid config fails')
  },
)

t.test(
  'every piece of shell in the user-data passes shellcheck',
  { skip: (!haveCloudInit || !has('shellcheck')) && 'needs cloud-init (for PyYAML) and shellcheck' },
  async (t) => {
    const dir = tempDir(t, 'stampede-sh-')
    for (const options of [STOCK, BAKED]) {
      const doc = parseYaml(renderUserData(options))
      t.ok(
        doc.runcmd.every((entry) => Array.isArray(entry)),
        'runcmd entries are argv lists, never shell strings',
      )
      const scripts = doc.write_files.filter((file) => file.content.startsWith('#!'))
      if (options.image === 'stock') t.equal(scripts.length, 1, 'the fetch-release script')
      for (const script of scripts) {
        const file = join(dir, 'script')
        writeFileSync(file, script.content)
        const check = spawnSync('shellcheck', [file], { encoding: 'utf8' })
        t.equal(check.status, 0, `${script.path}: ${check.stdout}`)
      }
    }
    for (const file of ['packaging/install.sh', 'packaging/systemd/engine-prestart']) {
      const check = spawnSync('shellcheck', [join(ROOT, file)], { encoding: 'utf8' })
      t.equal(check.status, 0, `${file}: ${check.stdout}`)
    }
  },
)

/** A release tarball like `npm run package` makes, with a stand-in binary (a shell script). */
function fakeRelease(dir: string): { tarball: string; sha256: string } {
  const name = 'stampede-engine-0.0.0-linux-x64'
  const stage = join(dir, name)
  mkdirSync(stage)
  writeFileSync(join(stage, 'stampede-engine'), '#!/bin/sh\necho "stampede-engine 0.0.0 (stand-in)"\n')
  chmodSync(join(stage, 'stampede-engine'), 0o755)
  const sha = createHash('sha256')
    .update(readFileSync(join(stage, 'stampede-engine')))
    .digest('hex')
  writeFileSync(join(stage, 'stampede-engine.sha256'), `${sha}  stampede-engine\n`)
  for (const [from, to] of [
    ['packaging/systemd/stampede-engine.service', 'stampede-engine.service'],
    ['packaging/systemd/engine-prestart', 'engine-prestart'],
    ['packaging/sysctl/90-stampede-engine.conf', '90-stampede-engine.conf'],
    ['packaging/engine.env.example', 'engine.env.example'],
    ['packaging/install.sh', 'install.sh'],
    ['packaging/README-operators.md', 'README.md'],
  ] as const) {
    copyFileSync(join(ROOT, from), join(stage, to))
  }
  chmodSync(join(stage, 'install.sh'), 0o755)
  chmodSync(join(stage, 'engine-prestart'), 0o755)
  const tarball = join(dir, `${name}.tar.gz`)
  const tar = spawnSync('tar', ['-czf', tarball, '-C', dir, name])
  if (tar.status !== 0) throw new Error(String(tar.stderr))
  return { tarball, sha256: createHash('sha256').update(readFileSync(tarball)).digest('hex') }
}

function run(
  cmd: string,
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    child.stdout.on('data', (c) => (out += c))
    child.stderr.on('data', (c) => (out += c))
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, out }))
  })
}

t.test(
  'fetch-release downloads, checks the SHA-256 and installs (into a scratch root)',
  { skip: (!has('curl') || !haveCloudInit) && 'needs curl and cloud-init (for PyYAML)' },
  async (t) => {
    const dir = tempDir(t, 'stampede-release-')
    const release = fakeRelease(dir)
    let fetched = 0
    const server = createServer((req, res) => {
      if (req.url !== '/release.tar.gz') return res.writeHead(404).end()
      fetched++
      res.end(readFileSync(release.tarball))
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/release.tar.gz`

    // The script exactly as the user-data carries it.
    const doc = parseYaml(renderUserData(STOCK))
    const script = join(dir, 'fetch-release')
    writeFileSync(script, doc.write_files.find((f) => f.path === FETCH_RELEASE_PATH)!.content)
    chmodSync(script, 0o755)

    const wrongRoot = join(dir, 'wrong-root')
    const wrong = await run(script, [url, 'f'.repeat(64)], { DESTDIR: wrongRoot })
    t.equal(wrong.code, 1)
    t.match(wrong.out, /fetch-release: SHA-256 mismatch for http:\/\/127\.0\.0\.1:\d+\/release\.tar\.gz/)
    t.notOk(existsSync(wrongRoot), 'nothing installed from a release that does not match')

    const root = join(dir, 'root')
    const good = await run(script, [url, release.sha256], { DESTDIR: root })
    t.equal(good.code, 0, good.out)
    t.match(good.out, /installed stampede-engine 0\.0\.0 \(stand-in\)/)
    t.equal(fetched, 2)
    for (const [path, mode] of [
      ['usr/local/bin/stampede-engine', 0o755],
      ['usr/local/lib/stampede-engine/engine-prestart', 0o755],
      ['etc/systemd/system/stampede-engine.service', 0o644],
      ['etc/sysctl.d/90-stampede-engine.conf', 0o644],
      ['usr/local/share/doc/stampede-engine/README.md', 0o644],
    ] as const) {
      t.equal(statSync(join(root, path)).mode & 0o777, mode, `${path} installed, mode ${mode.toString(8)}`)
    }
    t.equal(
      readFileSync(join(root, 'etc/systemd/system/stampede-engine.service'), 'utf8'),
      readFileSync(join(ROOT, 'packaging/systemd/stampede-engine.service'), 'utf8'),
    )

    const unsupported = await run(script, ['ftp://example.com/r.tar.gz', release.sha256], { DESTDIR: root })
    t.equal(unsupported.code, 1)
    t.match(unsupported.out, /unsupported URL/)
  },
)

t.test('install.sh refuses a binary that does not match its SHA-256 file', async (t) => {
  const dir = tempDir(t, 'stampede-tamper-')
  fakeRelease(dir)
  const stage = join(dir, 'stampede-engine-0.0.0-linux-x64')
  writeFileSync(join(stage, 'stampede-engine'), '#!/bin/sh\necho tampered\n')
  const result = await run(join(stage, 'install.sh'), [], { DESTDIR: join(dir, 'root') })
  t.equal(result.code, 1)
  t.match(result.out, /install\.sh: stampede-engine does not match stampede-engine\.sha256/)
  t.notOk(existsSync(join(dir, 'root')), 'nothing installed')
})

t.test('the kernel settings are valid sysctl lines', async (t) => {
  const conf = readFileSync(join(ROOT, 'packaging/sysctl/90-stampede-engine.conf'), 'utf8')
  const settings = Object.fromEntries(
    conf
      .split('\n')
      .filter((line) => line && !line.startsWith('#'))
      .map((line) => line.split(/\s*=\s*/) as [string, string]),
  )
  t.ok(Number(settings['fs.nr_open']) >= 1_048_576, 'nr_open covers the unit LimitNOFILE')
  t.equal(settings['net.ipv4.ip_local_port_range'], '1024 65535')
  t.equal(settings['net.ipv4.tcp_tw_reuse'], '1')
  t.ok(Number(settings['net.core.somaxconn']) >= 4096)
  for (const key of Object.keys(settings))
    t.ok(existsSync(`/proc/sys/${key.replaceAll('.', '/')}`), `${key} exists in this kernel`)
})
