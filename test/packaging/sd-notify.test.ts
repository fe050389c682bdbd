import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { notifyFields, SdNotify, SYSTEMD_NOTIFY_PATHS } from '../../daemon/sd-notify.js'
import { waitFor } from '../harness/couch.js'

/**
 * A real AF_UNIX datagram socket, the way systemd listens: python3 binds it, prints each
 * message as a JSON line, and closes any file descriptor passed with it (systemd-notify's
 * BARRIER=1 carries one and waits for it to be closed, as systemd does).
 */
const RECEIVER = `
import array, json, os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
path = sys.argv[1]
s.bind("\\0" + path[1:] if path.startswith("@") else path)
print(json.dumps({"listening": True}), flush=True)
while True:
    msg, anc, flags, addr = s.recvmsg(65536, socket.CMSG_SPACE(64 * 4))
    fds = array.array("i")
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[: len(data) - len(data) % fds.itemsize])
    for fd in fds:
        os.close(fd)
    print(json.dumps({"message": msg.decode(), "fds": len(fds)}), flush=True)
`

interface Receiver {
  socket: string
  messages: string[]
  stop(): void
}

const haveTools =
  spawnSync('python3', ['--version']).status === 0 &&
  SYSTEMD_NOTIFY_PATHS.some((path) => spawnSync(path, ['--version']).status === 0)

async function startReceiver(t: Test): Promise<Receiver> {
  const dir = mkdtempSync(join(tmpdir(), 'stampede-notify-'))
  const socket = join(dir, 'notify.sock')
  const child: ChildProcess = spawn('python3', ['-c', RECEIVER, socket], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const messages: string[] = []
  let listening = false
  let buffered = ''
  child.stdout!.on('data', (chunk) => {
    buffered += chunk
    const lines = buffered.split('\n')
    buffered = lines.pop()!
    for (const line of lines) {
      const parsed = JSON.parse(line) as { listening?: boolean; message?: string }
      if (parsed.listening) listening = true
      // The barrier is systemd-notify's handshake, not a message of ours.
      else if (parsed.message !== undefined && parsed.message !== 'BARRIER=1') messages.push(parsed.message)
    }
  })
  const stop = () => {
    child.kill()
    rmSync(dir, { recursive: true, force: true })
  }
  t.teardown(stop)
  await waitFor('the datagram receiver', () => listening || child.exitCode !== null)
  if (!listening) throw new Error('python3 receiver did not start')
  return { socket, messages, stop }
}

t.test('fields become KEY=value arguments, one line each', async (t) => {
  t.same(notifyFields({ READY: 1, STATUS: 'following\ndispatch' }), ['READY=1', 'STATUS=following dispatch'])
  t.throws(() => notifyFields({ 'bad key': 1 }), /invalid field name/)
})

t.test('without NOTIFY_SOCKET every call is a no-op', async (t) => {
  const notify = new SdNotify({ env: {} })
  t.equal(notify.enabled, false)
  t.equal(await notify.ready('hello'), false)
  t.equal(notify.watchdogIntervalMs(), undefined)
  const watchdog = notify.startWatchdog({ healthy: () => true })
  watchdog.stop()
  t.equal(watchdog.sent, 0)
})

t.test('a missing systemd-notify is a clear error, not a crash', async (t) => {
  const errors: Error[] = []
  const notify = new SdNotify({
    env: { NOTIFY_SOCKET: '/nonexistent/notify' },
    command: '/nonexistent/systemd-notify',
    onError: (e) => errors.push(e),
  })
  t.equal(await notify.ready(), false)
  t.match(errors[0]?.message, /cannot run \/nonexistent\/systemd-notify/)
})

t.test('the watchdog interval is half of WatchdogSec, and only for the process it names', async (t) => {
  const env = { NOTIFY_SOCKET: '/run/x', WATCHDOG_USEC: '30000000' }
  t.equal(new SdNotify({ env }).watchdogIntervalMs(), 15_000)
  t.equal(new SdNotify({ env: { ...env, WATCHDOG_PID: String(process.pid) } }).watchdogIntervalMs(), 15_000)
  t.equal(new SdNotify({ env: { ...env, WATCHDOG_PID: '1' } }).watchdogIntervalMs(), undefined)
})

t.test(
  'messages reach a real datagram socket, in order',
  { skip: !haveTools && 'needs python3 and systemd-notify (apt-get install systemd)' },
  async (t) => {
    const receiver = await startReceiver(t)
    const errors: Error[] = []
    // Only NOTIFY_SOCKET: no PATH, as under a bare service environment.
    const notify = new SdNotify({ env: { NOTIFY_SOCKET: receiver.socket }, onError: (e) => errors.push(e) })
    t.equal(notify.enabled, true)
    const results = await Promise.all([
      notify.ready('registered as i-1; following dispatch-us-east-1'),
      notify.status('running 1 shard (250 connections)'),
      notify.watchdog(),
      notify.stopping('draining: 1 shard, 30 s'),
    ])
    t.same(results, [true, true, true, true])
    t.same(errors, [])
    // systemd-notify returns once the receiver has the message; its printout may trail.
    await waitFor('four messages', () => receiver.messages.length >= 4)
    t.same(receiver.messages, [
      'READY=1\nSTATUS=registered as i-1; following dispatch-us-east-1',
      'STATUS=running 1 shard (250 connections)',
      'WATCHDOG=1',
      'STOPPING=1\nSTATUS=draining: 1 shard, 30 s',
    ])
  },
)

t.test(
  'an abstract NOTIFY_SOCKET (@name) works too',
  { skip: !haveTools && 'needs python3 and systemd-notify' },
  async (t) => {
    const name = `stampede-test-${process.pid}-${Date.now()}`
    const child = spawn('python3', ['-c', RECEIVER, `@${name}`], { stdio: ['ignore', 'pipe', 'inherit'] })
    t.teardown(() => child.kill())
    let out = ''
    child.stdout.on('data', (chunk) => (out += chunk))
    await waitFor('the receiver', () => out.includes('listening'))
    t.equal(await new SdNotify({ env: { NOTIFY_SOCKET: `@${name}` } }).ready(), true)
    await waitFor('READY=1 received', () => out.includes('"READY=1"'))
  },
)

t.test(
  'the watchdog pings only while healthy',
  { skip: !haveTools && 'needs python3 and systemd-notify' },
  async (t) => {
    const receiver = await startReceiver(t)
    // WatchdogSec=200ms → a ping every 100 ms.
    const notify = new SdNotify({ env: { NOTIFY_SOCKET: receiver.socket, WATCHDOG_USEC: '200000' } })
    t.equal(notify.watchdogIntervalMs(), 100)
    let health: true | string = true
    const reasons: string[] = []
    // Only the health check decides in this test; an event-loop stall has its own below.
    const watchdog = notify.startWatchdog({
      healthy: () => health,
      maxLoopDelayMs: 60_000,
      onSkip: (r) => reasons.push(r),
    })
    t.teardown(() => watchdog.stop())
    const pings = () => receiver.messages.filter((m) => m === 'WATCHDOG=1').length
    await waitFor('two pings while healthy', () => pings() >= 2)

    health = 'dispatch feed silent for 90 s'
    await waitFor('a skipped ping', () => watchdog.skipped >= 1)
    // Every ping sent before the skip is delivered and printed before this one.
    await notify.send({ STATUS: 'flush' })
    await waitFor('the flush received', () => receiver.messages.includes('STATUS=flush'))
    const before = pings()
    const sent = watchdog.sent
    await waitFor('three more skipped pings', () => watchdog.skipped >= 4)
    t.equal(watchdog.sent, sent, 'no ping sent while unhealthy')
    t.equal(pings(), before, 'none received')
    t.equal(reasons[0], 'dispatch feed silent for 90 s')

    health = true
    await waitFor('pings again once healthy', () => pings() > before)
  },
)

t.test(
  'a stalled event loop skips the ping',
  { skip: !haveTools && 'needs python3 and systemd-notify' },
  async (t) => {
    const receiver = await startReceiver(t)
    const notify = new SdNotify({ env: { NOTIFY_SOCKET: receiver.socket, WATCHDOG_USEC: '200000' } })
    const reasons: string[] = []
    const sentAtSkip: number[] = []
    const watchdog = notify.startWatchdog({
      healthy: () => true,
      maxLoopDelayMs: 150,
      onSkip: (r) => {
        reasons.push(r)
        sentAtSkip.push(watchdog.sent)
      },
    })
    t.teardown(() => watchdog.stop())
    const busyUntil = Date.now() + 400
    while (Date.now() < busyUntil) {
      // block the event loop, as a runaway computation would
    }
    await waitFor('the skip', () => watchdog.skipped >= 1)
    t.match(reasons[0], /^event loop stalled for \d+ ms$/)
    t.equal(sentAtSkip[0], 0, 'the first tick after the stall skipped its ping')
  },
)
