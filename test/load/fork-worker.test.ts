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
