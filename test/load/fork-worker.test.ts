import { fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { forkWorker, LOAD_PROCESS_V8_FLAGS, workerEntry } from '../../load/run.js'

t.test("a forked load process starts with the load process's V8 flags", async (t) => {
  const saved = { ...workerEntry }
  workerEntry.path = fileURLToPath(new URL('../fixtures/echo-exec-argv.mjs', import.meta.url))
  t.teardown(() => Object.assign(workerEntry, saved))
  const child = forkWorker()
  const message = await new Promise<{ execArgv: string[] }>((resolve, reject) => {
    child.once('message', (m) => resolve(m as { execArgv: string[] }))
    child.once('exit', (code) => reject(new Error(`the load process exited (${code}) before it answered`)))
  })
  t.ok(LOAD_PROCESS_V8_FLAGS.includes('--no-memory-reducer'), 'the memory reducer is off in load processes')
  for (const flag of LOAD_PROCESS_V8_FLAGS) t.ok(message.execArgv.includes(flag), `started with ${flag}`)
  const code = await new Promise((resolve) =>
    child.exitCode === null ? child.once('exit', resolve) : resolve(child.exitCode),
  )
  t.equal(code, 0, 'Node accepted the flags')
})

t.test('a job stopped before its load process has loaded: its done arrives, then a clean exit', async (t) => {
  // Both messages wait in the channel until the module's listener exists; Node then replays
  // them in one loop, which threw (exit 1) when the stop's handler disconnected inside it.
  const child = fork(workerEntry.path, [], {
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    execArgv: process.execArgv,
  })
  let stderr = ''
  child.stderr?.on('data', (chunk) => {
    stderr += chunk
  })
  const got: string[] = []
  child.on('message', (m) => got.push((m as { type: string }).type))
  child.send({ type: 'job', job: { never: 'prepared' } })
  child.send({ type: 'stop' })
  const code = await new Promise((resolve) => child.once('exit', resolve))
  t.same(got, ['warm', 'done'], 'loaded, then done for the stopped job')
  t.equal(stderr, '', 'nothing on stderr')
  t.equal(code, 0, 'a clean exit')
})
