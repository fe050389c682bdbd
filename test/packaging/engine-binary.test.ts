import { spawn } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { arch } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { getDoc } from '../../lib/couch/client.js'
import { readRush, submitRush } from '../../lib/couch/rushes.js'
import type { EngineDoc, ShardDoc } from '../../lib/documents.js'
import { startCouch, waitFor } from '../harness/couch.js'
import { migrateRegions } from '../harness/plane.js'
import { startTarget } from '../harness/target.js'
import { ensureBinary, isolatedCopy, runIsolated } from './binary.js'

if (process.platform !== 'linux' || arch() !== 'x64') {
  t.plan(0, `the engine binary is built for and run on linux-x64; this is ${process.platform}-${arch()}`)
} else {
  const built = ensureBinary()
  const copy = isolatedCopy(built)
  t.teardown(copy.remove)
  // What `env -i` leaves: nothing. No PATH, so no node to find; no node_modules above the copy.
  const bare: Record<string, string> = {}

  t.test('--version and --help work with an empty environment and no node_modules', async (t) => {
    const version = await runIsolated(copy.path, ['--version'], bare, copy.dir)
    t.equal(version.code, 0, version.stderr)
    t.match(
      version.stdout,
      /^stampede-engine \d+\.\d+\.\d+ \(node v24\.\d+\.\d+, linux-x64, single executable\)\n$/,
    )
    t.equal(version.stderr, '', 'no experimental-feature warning')
    const help = await runIsolated(copy.path, ['--help'], bare, copy.dir)
    t.equal(help.code, 0, help.stderr)
    t.match(help.stdout, /^Usage: stampede-engine \[options\]/)
    t.match(help.stdout, /--couch URL/)
  })

  t.test('Node and V8 flags reach the binary through --node-options, not as its own options', async (t) => {
    // How the engine gives its load processes their V8 flags (packaging/sea-main.ts): a flag
    // there is Node's to parse, so one it does not know is Node's "bad option", exit 9.
    const versionWith = (nodeOptions: string) =>
      runIsolated(copy.path, [`--node-options=${nodeOptions}`, '--version'], bare, copy.dir)
    const bogus = await versionWith('--no-such-node-flag')
    t.equal(bogus.code, 9, bogus.stderr)
    t.match(bogus.stderr, /bad option: --no-such-node-flag/)
    const reducerOff = await versionWith('--no-memory-reducer')
    t.equal(reducerOff.code, 0, reducerOff.stderr)
    t.equal(reducerOff.stderr, '', 'accepted without a warning (the code cache still loads)')
  })

  t.test('bad usage is one line on stderr and exit 2', async (t) => {
    const missing = await runIsolated(copy.path, [], bare, copy.dir)
    t.equal(missing.code, 2)
    t.match(missing.stderr, /^stampede-engine: the CouchDB URL is required .*\n$/)
    const unknown = await runIsolated(copy.path, ['--no-such-flag'], bare, copy.dir)
    t.equal(unknown.code, 2)
    t.equal(unknown.stderr.trim().split('\n').length, 1, unknown.stderr)
    const role = await runIsolated(copy.path, ['--version'], { STAMPEDE_ROLE: 'nonsense' }, copy.dir)
    t.equal(role.code, 2)
    t.match(role.stderr, /unknown STAMPEDE_ROLE "nonsense"/)
  })

  t.test('the binary alone runs a real shard with forked load workers, then drains on SIGTERM', async (t) => {
    const server = await startCouch()
    t.teardown(() => server.stop())
    const target = await startTarget(2)
    t.teardown(() => target.close())
    await migrateRegions({ 'us-east-1': server }, server.prefix)
    // The credentials from a file, as the systemd unit hands them over (the other way the
    // engine takes them; the rest of the suite uses STAMPEDE_COUCH_USER/PASSWORD).
    const credentialsFile = join(copy.dir, 'couch-credentials')
    if (server.credentials)
      writeFileSync(credentialsFile, `${server.credentials.username}:${server.credentials.password}\n`, {
        mode: 0o600,
      })

    const started = performance.now()
    const engine = spawn(copy.path, [], {
      cwd: copy.dir,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        STAMPEDE_COUCH_URL: server.url,
        ...(server.credentials && { STAMPEDE_COUCH_CREDENTIALS_FILE: credentialsFile }),
        STAMPEDE_DB_PREFIX: server.prefix,
        STAMPEDE_INSTANCE_ID: 'i-0binary',
        STAMPEDE_REGION: 'us-east-1',
        STAMPEDE_AZ: 'us-east-1a',
        STAMPEDE_ALLOW_LOOPBACK: '1',
        // Two load processes: the binary forks itself as workers and they talk over IPC.
        STAMPEDE_WORKERS: '2',
        STAMPEDE_HEARTBEAT_MS: '1000',
      },
    })
    let stdout = ''
    let stderr = ''
    engine.stdout.on('data', (chunk) => (stdout += chunk))
    engine.stderr.on('data', (chunk) => (stderr += chunk))
    const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
      engine.on('exit', (code, signal) => resolve({ code, signal })),
    )
    t.teardown(() => {
      if (engine.exitCode === null && engine.signalCode === null) engine.kill('SIGKILL')
    })

    const logLines = () =>
      stdout
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as { msg: string; [key: string]: unknown })
    await waitFor('the engine following its dispatch feed', () => {
      if (engine.exitCode !== null) throw new Error(`engine exited ${engine.exitCode}: ${stderr}`)
      return logLines().some((line) => line.msg === 'engine following dispatch')
    })
    const readyMs = performance.now() - started
    t.comment(`start to ready (spawn → registered and following its feed): ${readyMs.toFixed(0)} ms`)
    // Its load processes are this binary with their V8 flags in --node-options (no memory reducer).
    const pool = await waitFor('the load processes ready', () =>
      logLines().find((line) => line.msg === 'load processes ready'),
    )
    const pids = pool.pids as number[]
    t.equal(pids.length, 2, 'two load processes, as asked')
    for (const pid of pids) {
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean)
      t.same(argv.slice(-1), ['--node-options=--no-memory-reducer'], `load process ${pid}: ${argv.join(' ')}`)
    }
    const registered = await getDoc<EngineDoc>(server.couch.db(server.couch.names.fleet), 'engine:i-0binary')
    t.equal(registered?.state, 'idle', 'registered in fleet')

    const id = await submitRush(server.couch, {
      model: 'rush',
      request: { method: 'GET', url: target.url, headers: {}, timeoutMs: 2000 },
      pattern: [{ start: 4, end: 4, duration: 2 }],
      regions: ['us-east-1'],
      shardsPerRegion: 1,
      startLeadMs: 500,
    })
    const rush = await readRush(server.couch, id)
    const dispatch = server.couch.db(server.couch.names.dispatch('us-east-1'))
    const shard = await waitFor(
      'the shard finished',
      async () => {
        if (engine.exitCode !== null) throw new Error(`engine exited ${engine.exitCode}: ${stderr}`)
        const doc = await getDoc<ShardDoc>(dispatch, rush.shards[0]!.id)
        return doc && ['done', 'failed', 'lost', 'aborted'].includes(doc.state) && doc
      },
      30_000,
    )
    t.equal(shard.state, 'done', `shard state (${shard.reason ?? ''})`)
    t.equal(shard.engine, 'i-0binary')
    t.ok(shard.totals!.hits > 0, `${shard.totals!.hits} hits`)
    t.equal(shard.totals!.hits, target.count, 'every request the target saw is counted')

    engine.kill('SIGTERM')
    const exit = await exited
    t.same(exit, { code: 0, signal: null }, stderr)
    const gone = await getDoc<EngineDoc>(server.couch.db(server.couch.names.fleet), 'engine:i-0binary')
    t.equal(gone?.state, 'gone', 'says it is gone after the drain')
    // Only Node's own warnings may appear (Node 24 warns of a negative timer delay, see
    // docs/packaging.md); no error from the engine.
    const foreign = stderr
      .split('\n')
      .filter((line) => line && !/^\(node:\d+\) |^Timeout duration|^\(Use `/.test(line))
    t.same(foreign, [], 'nothing else on stderr')
    if (stderr) t.comment(`stderr: ${stderr.trim()}`)
  })
}
