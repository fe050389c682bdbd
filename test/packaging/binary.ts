import { spawn, spawnSync } from 'node:child_process'
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const ROOT = fileURLToPath(new URL('../../', import.meta.url))
export const BINARY = join(ROOT, 'dist/stampede-engine-linux-x64')

/**
 * Builds the engine binary when its inputs changed (the build keeps a stamp: a fresh binary
 * costs half a second to confirm), and returns its path. Only x64 hosts can run it.
 */
export function ensureBinary(): string {
  const build = spawnSync(process.execPath, [join(ROOT, 'packaging/build-binary.mjs'), '--quiet'], {
    cwd: ROOT,
    encoding: 'utf8',
  })
  if (build.status !== 0) throw new Error(`npm run build:binary failed:\n${build.stderr}`)
  if (!existsSync(BINARY)) throw new Error(`${BINARY} was not built`)
  return BINARY
}

/** A copy of the binary alone in a fresh directory: no node_modules anywhere above it. */
export function isolatedCopy(binary: string): { dir: string; path: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'stampede-bin-'))
  const path = join(dir, 'stampede-engine')
  copyFileSync(binary, path)
  return { dir, path, remove: () => rmSync(dir, { recursive: true, force: true }) }
}

export interface Run {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

/** Runs a program with exactly `env` (as `env -i` would), collecting its output. */
export function runIsolated(
  path: string,
  args: string[],
  env: Record<string, string>,
  cwd: string,
  timeoutMs = 20_000,
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(path, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk) => (stdout += chunk))
    child.stderr.on('data', (chunk) => (stderr += chunk))
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.on('error', reject)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr })
    })
  })
}
