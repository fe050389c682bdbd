import { execFileSync } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { runCli } from '../harness/cli.js'

/**
 * Link-local targets (the cloud metadata service) are refused before any connect. These
 * runs happen inside a fresh network namespace with no interface up, so that even a
 * broken refusal could not send a packet anywhere.
 */
function isolationAvailable(): boolean {
  try {
    execFileSync('unshare', ['-n', '-m', 'true'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

const isolated = isolationAvailable()
const dir = mkdtempSync(join(tmpdir(), 'stampede-safety-'))
const hosts = join(dir, 'hosts')
writeFileSync(hosts, '127.0.0.1 localhost\n169.254.169.254 metadata.test\nfe80::1 metadata6.test\n')

/** Runs the CLI in a new network and mount namespace whose /etc/hosts is ours. */
function runIsolated(args: string[]) {
  return runCli(args, {
    prefix: ['unshare', '-n', '-m', 'sh', '-c', `mount --bind ${hosts} /etc/hosts && exec "$@"`, 'sh'],
  })
}

t.test(
  'link-local targets are refused before any connect',
  { skip: isolated ? false : 'needs unshare (root)' },
  async (t) => {
    const cases: [string, string[]][] = [
      ['an IPv4 link-local literal', ['sprint', 'http://169.254.169.254/latest/meta-data/']],
      ['an IPv4-mapped IPv6 literal', ['sprint', 'http://[::ffff:169.254.169.254]/']],
      ['an IPv6 link-local literal', ['rush', 'http://[fe80::1]/', '-p', '1:1', '-w', '0']],
      ['a name that resolves there', ['rush', 'http://metadata.test/', '-p', '1:1', '-w', '0']],
      ['a name that resolves there, in a sprint', ['sprint', 'http://metadata6.test/']],
      [
        'a --resolve override',
        ['rush', 'http://example.test/', '--resolve', 'example.test:169.254.169.254', '-p', '1:1'],
      ],
    ]
    for (const [what, args] of cases) {
      const run = await runIsolated(args)
      t.equal(run.code, 2, `${what}: exit 2 (stderr: ${run.stderr.trim()})`)
      t.match(
        run.stderr,
        /^stampede: refusing to connect to [0-9a-f.:]+: link-local/m,
        `${what}: one clear line`,
      )
      t.notMatch(run.stderr, /\n\s+at /, `${what}: no stack trace`)
    }
  },
)

t.test(
  'loopback stays allowed on the local command line',
  { skip: isolated ? false : 'needs unshare (root)' },
  async (t) => {
    // In the empty namespace loopback is down: the run gets as far as a connect error, not a refusal.
    const run = await runIsolated(['sprint', 'http://127.0.0.1:9/'])
    t.equal(run.code, 1)
    t.notMatch(run.stderr + run.stdout, /refusing/)
  },
)
