/**
 * The entry of the single-executable engine (`stampede-engine-linux-<arch>`): one file that
 * is both the engine daemon and its load workers.
 *
 * - Started by a person or systemd, it is the engine (`daemon/main.ts`), with `--version`
 *   answered here first.
 * - Started by the engine as a load worker, it runs `load/worker-main.ts`. The engine forks
 *   workers with `child_process.fork(process.execPath)` (see `workerEntry` below) and sets
 *   `STAMPEDE_ROLE=load-worker` in the child's environment; `fork` also opens the IPC channel
 *   (`NODE_CHANNEL_FD`), which Node's start-up wires to `process.send` in a single executable
 *   exactly as in plain Node.
 *
 * esbuild bundles this file (CommonJS, every dependency inlined) and the build injects the
 * bundle into a copy of the `node` binary; see packaging/build-binary.mjs.
 */

import { VERSION } from '../lib/version.js'
import { LOAD_PROCESS_V8_FLAGS, workerEntry } from '../load/run.js'

/** The environment variable that makes the binary start as a load worker. */
export const ROLE_ENV = 'STAMPEDE_ROLE'
export const WORKER_ROLE = 'load-worker'

declare const STAMPEDE_NODE_VERSION: string | undefined

async function main(): Promise<void> {
  const role = process.env[ROLE_ENV]
  if (role === WORKER_ROLE) {
    // Not inherited further: a worker's own children (none today) are not workers.
    delete process.env[ROLE_ENV]
    await import('../load/worker-main.js')
    return
  }
  if (role !== undefined && role !== '' && role !== 'engine') {
    process.stderr.write(
      `stampede-engine: unknown ${ROLE_ENV} "${role}" (expected engine or ${WORKER_ROLE})\n`,
    )
    process.exitCode = 2
    return
  }
  const args = process.argv.slice(2)
  if (args.includes('--version') || args.includes('-v')) {
    const node = typeof STAMPEDE_NODE_VERSION === 'string' ? STAMPEDE_NODE_VERSION : process.version
    process.stdout.write(
      `stampede-engine ${VERSION} (node ${node}, ${process.platform}-${process.arch}, single executable)\n`,
    )
    return
  }
  // Load workers are this same binary, told by the environment what to be.
  workerEntry.path = process.execPath
  // A single executable takes no Node or V8 flag before its script (there is none); it reads
  // them from `--node-options="…"` (the build's execArgvExtension "cli"), so the load
  // processes get theirs there, and only they: the engine keeps V8's defaults.
  workerEntry.args = LOAD_PROCESS_V8_FLAGS.length ? [`--node-options=${LOAD_PROCESS_V8_FLAGS.join(' ')}`] : []
  workerEntry.env = { [ROLE_ENV]: WORKER_ROLE }
  workerEntry.execArgv = []
  await import('../daemon/main.js')
}

main().catch((err: unknown) => {
  process.stderr.write(`stampede-engine: ${(err as Error).stack ?? String(err)}\n`)
  process.exitCode = 1
})
