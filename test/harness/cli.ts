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
 * `couchCredentials: false`.
 */
export function runCli(
  args: string[],
  options: { prefix?: string[]; timeoutMs?: number; couchCredentials?: boolean } = {},
): Promise<CliRun> {
  const argv = [...(options.prefix ?? []), process.execPath, CLI, ...args]
  const env = { ...process.env, ...(options.couchCredentials !== false && couchEnv()) }
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
