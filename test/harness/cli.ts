import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { couchEnv } from './couch.js'

export const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url))

export interface CliRun {
  code: number | null
  stdout: string
  stderr: string
}

/**
 * Runs the built `stampede` command (tests run against dist/, as users do) and collects
 * its output. `prefix` runs it under another command, e.g. `unshare -n`. It gets the test
 * CouchDB's credentials in its environment, as an operator's shell would hold them, unless
 * `couchCredentials: false`. Local runs skip their warm-up (STAMPEDE_WARM_UP=0: ~1.5 s of
 * CPU per load process that only a test of the warm-up needs) unless `warmUp: true`.
 */
export function runCli(
  args: string[],
  options: { prefix?: string[]; timeoutMs?: number; couchCredentials?: boolean; warmUp?: boolean } = {},
): Promise<CliRun> {
  const argv = [...(options.prefix ?? []), process.execPath, CLI, ...args]
  const env = {
    ...process.env,
    STAMPEDE_WARM_UP: options.warmUp ? '1' : '0',
    ...(options.couchCredentials !== false && couchEnv()),
  }
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk) => (stdout += chunk))
    child.stderr.on('data', (chunk) => (stderr += chunk))
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })
}

/**
 * Runs several independent `stampede` commands, at most `limit` at a time, results in the
 * order given. Why: a CLI process spends most of its life starting Node (~0.5 s of CPU),
 * and files that check a dozen usage errors one process after another held a test job for
 * 15–20 s; each command's exit code and output are still its own.
 */
export async function runClis(
  runs: string[][],
  options: Parameters<typeof runCli>[1] & { limit?: number } = {},
): Promise<CliRun[]> {
  const { limit = 4, ...runOptions } = options
  const results: CliRun[] = new Array(runs.length)
  let next = 0
  const worker = async () => {
    while (next < runs.length) {
      const index = next++
      results[index] = await runCli(runs[index]!, runOptions)
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, runs.length) }, worker))
  return results
}
