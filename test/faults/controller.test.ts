/**
 * Faults of the control plane: an EC2 API that throttles (RequestLimitExceeded) and fails half
 * of its calls with 500s — half of those after doing what was asked (the answer lost) — and two
 * controllers started at once (a cron overlap). Afterwards: the fleet converges within a bounded
 * number of runs, and nothing is launched twice (one reservation per client token, exactly the
 * instances the demand needs).
 */
import { spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { AwsCloudProvider } from '../../controller/cloud/aws.js'
import { reconcileOnce } from '../../controller/reconcile/reconcile.js'
import { type Ec2Emulator, startEc2 } from '../../emulators/ec2.js'
import { ManualClock } from '../../lib/clock.js'
import { dummyCredentials } from '../harness/aws.js'
import { cleanups, connectTestCouch, couchEnv, startCouch, uniquePrefix } from '../harness/couch.js'
import { figures } from '../harness/figures.js'
import { queueRush, reconcileDeps, S, testPolicy } from '../harness/fleet.js'
import { migrateRegions } from '../harness/plane.js'
import { startProxy } from '../harness/proxy.js'

const record = figures(t, 'controller')
const REGIONS = ['us-east-1', 'eu-west-1']
/** Runs allowed to converge: each call is tried 3 times at most, and half of the tries fail. */
const MAX_RUNS = 12
const CONTROLLER = fileURLToPath(new URL('../../dist/controller/main.js', import.meta.url))

const later = cleanups(t)
const server = await startCouch()
later(() => server.stop())

async function setup(clock: ManualClock, now = clock.now()) {
  const prefix = uniquePrefix()
  await migrateRegions(Object.fromEntries(REGIONS.map((r) => [r, { ...server, prefix }])), prefix)
  const couch = connectTestCouch(server.url, prefix)
  const ec2 = await startEc2({ clock, pendingMs: 5 * S, shuttingDownMs: 5 * S })
  later(() => ec2.close())
  // 4,000 users over two regions, two shards per region: 1,000 connections each, an engine each.
  await queueRush(couch, {
    regions: REGIONS,
    users: 4000,
    seconds: 3600,
    startAt: now + 10 * 60 * S,
    shardsPerRegion: 2,
  })
  return { prefix, couch, ec2 }
}

/** One reservation per client token, and the instances per region the demand asked. */
function launchedOnce(ec2: Ec2Emulator) {
  const byToken = new Map<string, Set<string>>()
  for (const instance of ec2.instances()) {
    const token = instance.clientToken ?? `none:${instance.id}`
    const reservations = byToken.get(token) ?? new Set<string>()
    reservations.add(instance.reservationId)
    byToken.set(token, reservations)
  }
  return {
    perRegion: REGIONS.map((r) => ec2.instances(r).length),
    tokensLaunchedTwice: [...byToken.values()].filter((r) => r.size > 1).length,
  }
}

t.test(
  'EC2 throttles and fails half its calls with 500s: converges in bounded runs, launches nothing twice',
  async (t) => {
    const clock = new ManualClock()
    const { couch, ec2 } = await setup(clock)
    const cloud = new AwsCloudProvider({
      endpoint: ec2.url,
      credentials: dummyCredentials,
      maxAttempts: 3,
      backoffMs: () => 5,
    })
    later(() => cloud.close())
    ec2.failRate({ fraction: 0.5, seed: 7 })
    const policy = testPolicy(REGIONS)
    let runs = 0
    let converged = false
    const outcomes: string[] = []
    while (runs < MAX_RUNS && !converged) {
      runs++
      // Throttling at the start of every run (the SDK retries it), a 500 on half of the rest.
      ec2.throttleNext(1)
      const report = await reconcileOnce(reconcileDeps({ cloud, couch, policy, clock })).catch(
        (err: Error) => ({ outcome: 'failed', reason: err.message, plan: undefined }),
      )
      outcomes.push(`${report.outcome}: ${report.reason}`)
      const { perRegion } = launchedOnce(ec2)
      converged =
        report.outcome === 'converged' &&
        (report.plan?.actions.length ?? 1) === 0 &&
        perRegion.every((n) => n === 2)
      clock.advance(5 * S)
    }
    t.comment(outcomes.join('\n'))
    const calls = ec2.calls.length
    const failed = ec2.calls.filter((c) => c.status >= 500).length
    t.ok(converged, `converged within ${MAX_RUNS} runs (took ${runs})`)
    t.ok(
      ec2.calls.some((c) => c.error === 'RequestLimitExceeded'),
      'it was throttled',
    )
    t.ok(failed / calls > 0.4, `${failed} of ${calls} calls failed`)
    const once = launchedOnce(ec2)
    t.same(once.perRegion, [2, 2], 'exactly the engines the demand needs')
    t.equal(once.tokensLaunchedTwice, 0, 'no client token launched twice')
    t.equal(ec2.callsOf('TerminateInstances').length, 0, 'nothing launched in excess had to be terminated')

    // The lost answers: RunInstances done by EC2 while the controller saw a 500.
    ec2.resetCalls()
    ec2.failRate({ fraction: 1, applied: true, actions: ['RunInstances'] })
    await queueRush(couch, {
      regions: ['us-east-1'],
      users: 1000,
      seconds: 3600,
      startAt: clock.now() + 10 * 60 * S,
      shardsPerRegion: 1,
    })
    let lostRuns = 0
    for (; lostRuns < 3; lostRuns++) {
      await reconcileOnce(reconcileDeps({ cloud, couch, policy, clock })).catch(() => undefined)
      clock.advance(5 * S)
    }
    ec2.failRate(undefined)
    const after = await reconcileOnce(reconcileDeps({ cloud, couch, policy, clock }))
    const lost = launchedOnce(ec2)
    t.same(
      lost.perRegion,
      [3, 2],
      'a launch whose answer was lost, repeated with its token: one more engine, once',
    )
    t.equal(lost.tokensLaunchedTwice, 0)
    t.equal(after.outcome, 'converged', after.reason)
    record({
      fault: 'EC2 throttles and fails half its calls with 500s',
      strikes:
        'every call, from the first run: a RequestLimitExceeded per run, then a 500 on half the calls (seeded); then every RunInstances done but answered 500',
      outcome: `converged in ${runs} runs (bound ${MAX_RUNS}); one reservation per client token; nothing terminated`,
      extra: {
        'runs to converge': runs,
        'EC2 calls failed': `${failed} of ${calls}`,
        'client tokens launched twice': once.tokensLaunchedTwice + lost.tokensLaunchedTwice,
      },
      shardsRunTwice: 0,
      documentsLost: 0,
    })
  },
)

t.test(
  'two controllers started at once: one holds the lease, the other exits 3; no double launch',
  async (t) => {
    // The controller process reads the real clock: the demand is on it too.
    const { prefix, ec2 } = await setup(new ManualClock(), Date.now())
    // The EC2 side of the first controller is held while the second starts: they overlap for sure.
    const proxy = await startProxy(ec2.url)
    later(() => proxy.close())
    const topology = join(tmpdir(), `stampede-topology-${prefix}.json`)
    writeFileSync(
      topology,
      JSON.stringify({
        prefix,
        regions: REGIONS.map((name) => ({ name, url: server.url })),
        fleet: { regions: Object.fromEntries(REGIONS.map((r) => [r, { min: 0, max: 10 }])) },
      }),
    )
    const controller = () => {
      const child = spawn(
        process.execPath,
        [
          CONTROLLER,
          'reconcile',
          '--topology',
          topology,
          '--once',
          '--fleet',
          'test-fleet',
          '--capacity',
          '1000',
          '--image-kind',
          'baked',
          '--ec2-endpoint',
          proxy.url,
          '--log-level',
          'warn',
        ],
        {
          env: {
            ...process.env,
            ...couchEnv(),
            AWS_ACCESS_KEY_ID: dummyCredentials.accessKeyId,
            AWS_SECRET_ACCESS_KEY: dummyCredentials.secretAccessKey,
            AWS_REGION: 'us-east-1',
          },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      )
      let output = ''
      child.stdout!.on('data', (chunk) => (output += chunk))
      child.stderr!.on('data', (chunk) => (output += chunk))
      const exited = new Promise<{ code: number | null; output: string }>((resolve) =>
        child.once('exit', (code) => resolve({ code, output })),
      )
      later(() => {
        child.kill('SIGKILL')
        return exited
      })
      return exited
    }
    const hold = proxy.hold((request) => request.body.includes('Action=DescribeInstances'))
    const startedAt = Date.now()
    const first = controller()
    const early = await Promise.race([hold.arrived.then(() => undefined), first])
    if (early) {
      t.fail(`the first controller ended before DescribeInstances: ${early.code} ${early.output.trim()}`)
      return
    }
    const second = await controller()
    hold.release()
    const firstDone = await first
    t.equal(second.code, 3, `the second controller finds the lease held: ${second.output.trim()}`)
    t.match(second.output, /lease held by/)
    t.equal(firstDone.code, 0, `the first converges: ${firstDone.output.trim()}`)
    const once = launchedOnce(ec2)
    t.same(once.perRegion, [2, 2], 'launched once')
    t.equal(once.tokensLaunchedTwice, 0)
    t.equal(ec2.callsOf('RunInstances').length, 2, 'one RunInstances per region, from one controller')
    record({
      fault: 'two controllers started at once (cron overlap)',
      strikes: 'the second starts while the first holds the lease (its DescribeInstances held by a proxy)',
      outcome: 'the second exits 3 ("lease held by …"); the first converges; one RunInstances per region',
      recoverMs: Date.now() - startedAt,
      extra: { 'double launches': once.tokensLaunchedTwice },
      shardsRunTwice: 0,
      documentsLost: 0,
    })
  },
)
