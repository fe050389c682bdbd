import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { ApiStore } from '../../api/store.js'
import { couchEnv, startCouch } from '../harness/couch.js'

const API = fileURLToPath(new URL('../../dist/api/main.js', import.meta.url))

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    // The operator's CouchDB login comes from the environment, as in a deployment.
    execFile(
      process.execPath,
      [API, ...args],
      { env: { ...process.env, ...couchEnv() } },
      (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    )
  })
}

t.test(
  'the operator commands: tenants create|list|disable|authorize, keys rotate; bad usage exits 2',
  async (t) => {
    const server = await startCouch()
    t.teardown(() => server.stop())
    const couch = ['--couch', server.url, '--prefix', server.prefix]
    const created = await run([
      'tenants',
      'create',
      'Acme',
      '--max-users',
      '50',
      '--max-duration',
      '2m',
      '--regions',
      'us-east-1',
      ...couch,
    ])
    t.equal(created.code, 0, created.stderr)
    const key = /^key (stk_\S+)$/m.exec(created.stdout)?.[1]
    t.ok(key, 'the key is printed once')
    t.match(created.stdout, /^user acme$/m)
    const store = new ApiStore(server.couch)
    t.ok(await store.authenticate(key!, 'acme'), 'and works')
    t.match((await store.tenant('acme'))!.quotas, { maxUsers: 50, maxDuration: 120, regions: ['us-east-1'] })

    const again = await run(['tenants', 'create', 'acme', ...couch])
    t.equal(again.code, 2)
    t.match(again.stderr, /^stampede-api: tenant acme already exists\n$/)

    const list = await run(['tenants', 'list', ...couch])
    t.match(list.stdout, /^acme +active +users 50, 120 s, 2 at once, 100\/day, regions us-east-1$/m)
    t.notMatch(list.stdout, new RegExp(key!), 'no key in the list')

    t.equal((await run(['tenants', 'disable', 'acme', ...couch])).code, 0)
    t.equal((await store.tenant('acme'))!.disabled, true)
    t.equal((await run(['tenants', 'authorize', 'acme', 'WWW.Example.test', ...couch])).code, 0)
    t.match(await store.host('acme', 'www.example.test'), { operator: true, provenBy: 'operator' })

    const rotated = await run(['keys', 'rotate', 'acme', ...couch])
    const fresh = /^key (stk_\S+)$/m.exec(rotated.stdout)?.[1]
    t.ok(fresh && fresh !== key)
    t.notOk(await store.authenticate(key!, 'acme'), 'the old key is gone')
    t.ok(await store.authenticate(fresh!), 'the new one works, with or without the user')

    const bads = [
      ['tenants', 'create', 'a b', ...couch],
      ['tenants', 'create', 'x', '--max-users', '-1', ...couch],
      ['tenants'],
      ['nonsense'],
      ['--bogus'],
      ['keys', 'rotate', 'nobody', ...couch],
    ]
    // Independent processes, started at once: each mostly starts Node, and each answer is its own.
    const answers = await Promise.all(bads.map((bad) => run(bad)))
    for (const [i, bad] of bads.entries()) {
      const answer = answers[i]!
      t.equal(answer.code, 2, `${bad.join(' ')}: exit 2`)
      t.match(answer.stderr, /^stampede-api: [^\n]+\n$/, 'one line')
    }
    const help = await run(['--help'])
    t.equal(help.code, 0)
    t.match(help.stdout, /^Usage: stampede-api/)
  },
)
