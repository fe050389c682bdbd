#!/usr/bin/env node
/**
 * `npm run package`: the engine's release tarball, one per architecture:
 *
 *   dist/release/stampede-engine-<version>-linux-<arch>.tar.gz   (+ .sha256 beside it)
 *     stampede-engine-<version>-linux-<arch>/
 *       stampede-engine            the single executable (no Node needed)
 *       stampede-engine.sha256     its SHA-256, checked by install.sh
 *       stampede-engine.service    the systemd unit
 *       engine-prestart            the unit's pre-start step (IMDS identity, SSM credentials)
 *       90-stampede-engine.conf    kernel settings (sysctl.d)
 *       engine.env.example         the configuration, commented
 *       install.sh                 installs all of the above
 *       README.md                  for operators
 *
 * The tarball is reproducible: sorted names, fixed owner and times (SOURCE_DATE_EPOCH, or the
 * last commit's time), gzip without a timestamp. Usage: node packaging/package.mjs [--arch x64|arm64|all]
 */
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { chmodSync, copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { basename, dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { buildBinaries } from './build-binary.mjs'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'))

const CONTENTS = [
  ['packaging/systemd/stampede-engine.service', 'stampede-engine.service', 0o644],
  ['packaging/systemd/engine-prestart', 'engine-prestart', 0o755],
  ['packaging/sysctl/90-stampede-engine.conf', '90-stampede-engine.conf', 0o644],
  ['packaging/engine.env.example', 'engine.env.example', 0o644],
  ['packaging/install.sh', 'install.sh', 0o755],
  ['packaging/README-operators.md', 'README.md', 0o644],
]

function sourceDateEpoch() {
  if (process.env.SOURCE_DATE_EPOCH) return process.env.SOURCE_DATE_EPOCH
  try {
    return execFileSync('git', ['log', '-1', '--format=%ct'], { cwd: ROOT, encoding: 'utf8' }).trim() || '0'
  } catch {
    return '0'
  }
}

export async function packageReleases(argv) {
  const { values } = parseArgs({
    args: argv,
    options: { arch: { type: 'string', default: 'x64' }, out: { type: 'string' } },
  })
  const out = resolve(values.out ?? join(ROOT, 'dist/release'))
  const binaries = await buildBinaries(['--arch', values.arch, '--quiet'])
  mkdirSync(out, { recursive: true })
  const epoch = sourceDateEpoch()
  const made = []
  for (const binary of binaries) {
    const arch = basename(binary).replace('stampede-engine-linux-', '')
    const name = `stampede-engine-${version}-linux-${arch}`
    const stage = join(out, name)
    rmSync(stage, { recursive: true, force: true })
    mkdirSync(stage, { recursive: true })
    copyFileSync(binary, join(stage, 'stampede-engine'))
    chmodSync(join(stage, 'stampede-engine'), 0o755)
    const binarySha = createHash('sha256').update(readFileSync(binary)).digest('hex')
    writeFileSync(join(stage, 'stampede-engine.sha256'), `${binarySha}  stampede-engine\n`)
    for (const [from, to, mode] of CONTENTS) {
      copyFileSync(join(ROOT, from), join(stage, to))
      chmodSync(join(stage, to), mode)
    }
    const tarball = join(out, `${name}.tar.gz`)
    const tar = execFileSync(
      'tar',
      [
        '--sort=name',
        '--owner=0',
        '--group=0',
        '--numeric-owner',
        `--mtime=@${epoch}`,
        '--format=gnu',
        '-cf',
        '-',
        '-C',
        out,
        name,
      ],
      { maxBuffer: 1 << 30 },
    )
    writeFileSync(tarball, execFileSync('gzip', ['-n', '-6'], { input: tar, maxBuffer: 1 << 30 }))
    rmSync(stage, { recursive: true, force: true })
    const sha = createHash('sha256').update(readFileSync(tarball)).digest('hex')
    writeFileSync(`${tarball}.sha256`, `${sha}  ${basename(tarball)}\n`)
    made.push({ arch, tarball, sha256: sha, binarySha256: binarySha })
  }
  return made
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  packageReleases(process.argv.slice(2)).then(
    (made) => {
      for (const release of made) process.stdout.write(`${release.sha256}  ${release.tarball}\n`)
    },
    (err) => {
      process.stderr.write(`package: ${err?.message ?? err}\n`)
      process.exitCode = 1
    },
  )
}
