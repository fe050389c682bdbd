import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { connect } from 'node:net'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import t from 'tap'

const APPLIANCE = fileURLToPath(new URL('../../dist/appliance/main.js', import.meta.url))
const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url))

/** Whether something accepts connections on 127.0.0.1:port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}

t.test(
  'npm start: the demo rush passes through two regions; --keep serves a rush of our own; Ctrl-C stops everything',
  async (t) => {
    if (!existsSync(APPLIANCE))
      throw new Error('build first: npx tsc -p . (this test runs dist/appliance/main.js)')
    const appliance = spawn(process.execPath, [APPLIANCE, '--pattern', '2:2', '--keep'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const exited = new Promise<number | null>((resolve) => appliance.once('exit', (code) => resolve(code)))
    t.teardown(() => {
      if (appliance.exitCode === null) appliance.kill('SIGKILL')
    })
    const lines: string[] = []
    const waiters: { match: RegExp; resolve: (line: string) => void }[] = []
    createInterface({ input: appliance.stdout! }).on('line', (line) => {
      lines.push(line)
      for (const waiter of [...waiters])
        if (waiter.match.test(line)) {
          waiters.splice(waiters.indexOf(waiter), 1)
          waiter.resolve(line)
        }
    })
    let stderr = ''
    appliance.stderr!.on('data', (chunk) => {
      stderr += chunk
    })
    const line = (match: RegExp) =>
      new Promise<string>((resolve, reject) => {
        const seen = lines.find((l) => match.test(l))
        if (seen) return resolve(seen)
        waiters.push({ match, resolve })
        void exited.then(() => reject(new Error(`exited before ${match}:\n${lines.join('\n')}\n${stderr}`)))
      })

    await line(/^The appliance stays up/)
    // The hints come after that line: wait for the last of them.
    await line(/^\s+node dist\/cli\/main\.js status/)
    const out = lines.join('\n')
    const urls = [...out.matchAll(/https?:\/\/[^\s/]+/g)].map((m) => new URL(m[0]))
    t.ok(urls.length >= 4, `${urls.length} addresses printed`)
    t.ok(
      urls.every((url) => url.hostname === '127.0.0.1'),
      'everything listens on 127.0.0.1',
    )
    t.match(out, /CouchDB us-east-1 +http:\/\/127\.0\.0\.1:\d+/)
    t.match(out, /CouchDB eu-west-1 +http:\/\/127\.0\.0\.1:\d+/)
    t.match(out, /engine:i-\w+ +us-east-1a +registered, idle/)
    t.match(out, /engine:i-\w+ +eu-west-1a +registered, idle/)
    t.match(out, /2 shards in us-east-1, eu-west-1/, 'the demo rush ran in both regions')
    t.match(out, /PASS +p95<500ms/)
    t.match(out, /PASS +errors<1%/)
    const counted = Number(/the target counted (\d+) requests/.exec(out)?.[1])
    const reported = Number(/requests +([\d,]+)/.exec(out)?.[1]?.replace(/,/g, ''))
    t.ok(
      counted > 0 && counted === reported,
      `the rush reported what the target counted (${reported}, ${counted})`,
    )

    // The hint works as printed: our own rush through the appliance.
    t.match(out, /tenant API +http:\/\/127\.0\.0\.1:\d+/)
    t.match(out, /export STAMPEDE_API_URL=http:\S+ STAMPEDE_API_KEY=stk_\S+/, 'the API URL and the key')
    const hint = lines.find(
      (l) => l.trim().startsWith('node dist/cli/main.js rush') && l.includes('--couch'),
    )!
    const home = /--couch (\S+)/.exec(hint)![1]!
    const target = /rush (\S+)/.exec(hint)![1]!
    // Its CouchDBs want the login, as a deployment's do; the hints say where it is.
    const credentialsFile = /^\s+export STAMPEDE_COUCH_CREDENTIALS_FILE=(\S+)$/m.exec(out)?.[1]
    t.ok(credentialsFile && existsSync(credentialsFile), 'the hints export the credentials file')
    const anonymous = await fetch(`${home}/_all_dbs`)
    t.equal(anonymous.status, 401, 'the CouchDB refuses anonymous requests')
    t.match(await anonymous.json(), { error: 'unauthorized' })
    const rush = spawn(
      process.execPath,
      [
        CLI,
        'rush',
        target,
        '-p',
        '3:2',
        '--couch',
        home,
        '--regions',
        'us-east-1,eu-west-1',
        '-q',
        '-T',
        'errors<1%',
      ],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, STAMPEDE_COUCH_CREDENTIALS_FILE: credentialsFile },
      },
    )
    let rushOut = ''
    rush.stdout!.on('data', (chunk) => {
      rushOut += chunk
    })
    rush.stderr!.on('data', (chunk) => {
      rushOut += chunk
    })
    const rushCode = await new Promise((resolve) => rush.once('exit', resolve))
    t.equal(rushCode, 0, 'our own rush passed', { output: rushOut })
    t.match(rushOut, /2 shards in us-east-1, eu-west-1/)

    appliance.kill('SIGINT')
    t.equal(await exited, 0, "Ctrl-C ends --keep normally, with the demo's exit status")
    const after = lines.join('\n')
    t.match(after, /engines \(drained, gone\) and the EC2 emulator: stopped/)
    t.match(after, /engine logs: removed/)
    t.match(after, /CouchDB credentials: removed/)
    t.notOk(existsSync(credentialsFile!), 'the credentials file is gone')
    const ports = [...new Set(urls.map((url) => Number(url.port)))]
    const still = (
      await Promise.all(ports.map(async (port) => ((await listening(port)) ? port : undefined)))
    ).filter((port) => port !== undefined)
    t.same(still, [], 'nothing listens any more')
    t.notMatch(stderr, /Warning/, 'no warnings on stderr')
  },
)
