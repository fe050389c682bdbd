/**
 * Fault: engines whose clocks are off by ±2 s (libfaketime under a real engine process: its
 * Date.now() and performance.timeOrigin both move; no product hook). The rush's clock is the
 * `startAt` in its documents; each engine reads it on its own clock. So:
 *
 * - the seconds line up by label: every engine reports seconds 0…N−1 of the rush, and the
 *   merged timeline adds the same labels together, each second once;
 * - in real time, an engine whose clock is `s` ahead starts (and ends each second) `s` early:
 *   second t of engine e covers [startAt + t − s_e, startAt + t + 1 − s_e). The bound on the
 *   misalignment between engines is the spread of their clocks (here 4 s): Stampede does not
 *   correct clocks, it relies on the hosts' time sync (chrony / Amazon Time Sync, sub-ms).
 *
 * Tested: each skewed engine's first answer lands within [−s, −s + 1 s] of startAt (never
 * earlier than its skew allows; up to 1 s late on a busy machine), and a two-engine rush over
 * both merges every second once with the hits the target answered.
 */
import { existsSync } from 'node:fs'
import t from 'tap'
import { submitRush } from '../../lib/couch/rushes.js'
import { cleanups, startCouch } from '../harness/couch.js'
import {
  auditSamples,
  type EngineProc,
  engineFlags,
  range,
  runsPerShard,
  spawnEngine,
  twice,
  watchToEnd,
} from '../harness/faults.js'
import { figures } from '../harness/figures.js'
import { type GatedTarget, startGatedTarget } from '../harness/gated-target.js'
import { expectedSeconds, migrateRegions } from '../harness/plane.js'

const SKEW_MS = 2000
const LATE_ALLOWANCE_MS = 1000
const AHEAD_REGION = 'us-east-1'
const BEHIND_REGION = 'us-west-1'

/**
 * libfaketime preloaded into the engine itself (not the `faketime` wrapper, which would stand
 * between the test and the engine and take its signals).
 */
const LIBFAKETIME = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1'
const faketime = existsSync(LIBFAKETIME)

const record = figures(t, 'clock-skew')

t.test(
  'engines skewed by ±2 s: the seconds line up by label; each engine is off by its own skew',
  { skip: faketime || process.env.CI ? false : 'libfaketime is not installed (apt-get install faketime)' },
  async (t) => {
    // Two regions on one test server, an engine in each: every shard's engine is known by its
    // region, so the engines run their lone rushes at the same time and the two-shard rush puts
    // one shard on each (one region and one engine at a time took twice as long).
    const later = cleanups(t)
    const server = await startCouch()
    later(() => server.stop())
    await migrateRegions({ [AHEAD_REGION]: server, [BEHIND_REGION]: server }, server.prefix)
    const skewed = (id: string, offsetMs: number, region: string): EngineProc => {
      const flags = engineFlags(server.url, server.prefix, id)
      flags[flags.indexOf('--region') + 1] = region
      const engine = spawnEngine(flags, {
        env: { LD_PRELOAD: LIBFAKETIME, FAKETIME: `${offsetMs >= 0 ? '+' : ''}${offsetMs / 1000}` },
      })
      later(() => engine.stop())
      return engine
    }
    const rush = (target: GatedTarget, regions: string[], seconds: number) =>
      submitRush(server.couch, {
        model: 'rush',
        request: { method: 'GET', url: target.url, headers: {}, timeoutMs: 2000 },
        pattern: [{ start: 2 * regions.length, end: 2 * regions.length, duration: seconds }],
        regions,
        shardsPerRegion: 1,
        startLeadMs: 3000,
      })

    const ahead = skewed('ahead', SKEW_MS, AHEAD_REGION)
    const behind = skewed('behind', -SKEW_MS, BEHIND_REGION)
    await Promise.all([ahead, behind].map((e) => e.when((l) => l.msg === 'engine following dispatch')))

    // Each skewed engine alone on its rush: where its load lands in real time.
    const offsets: Record<string, number> = {}
    const alone = async (name: string, skew: number, region: string) => {
      const target = await startGatedTarget()
      later(() => target.stop())
      const id = await rush(target, [region], 3)
      const { startAt } = (await server.couch.db(server.couch.names.fleet).get(`rush:${id}`)) as unknown as {
        startAt: number
      }
      const seen = await watchToEnd(server.couch, id)
      // A shard whose load was ready late (a busy machine) runs its pattern whole seconds later,
      // the seconds before reported empty (docs/job-plane.md, "A late start"): counted here.
      const shift = (await expectedSeconds(server.couch, id, 3)) - 3
      return {
        name,
        skew,
        seen,
        shift,
        target,
        offset: Math.min(...target.answeredAt) - startAt - shift * 1000,
      }
    }
    const lone = await Promise.all([
      alone('ahead', SKEW_MS, AHEAD_REGION),
      alone('behind', -SKEW_MS, BEHIND_REGION),
    ])
    for (const { name, skew, seen, shift, target, offset } of lone) {
      t.equal(seen.state, 'done', `${name}: done`)
      t.same(seen.seconds, range(3 + shift), `${name}: seconds 0…${2 + shift}, once`)
      t.equal(seen.hits, target.answered, `${name}: hits equal what the target answered`)
      offsets[name] = offset
      t.ok(
        offset >= -skew - 50 && offset <= -skew + LATE_ALLOWANCE_MS,
        `${name} (${skew > 0 ? '+' : ''}${skew} ms): first answer ${offset} ms from startAt, within [${-skew}, ${-skew + LATE_ALLOWANCE_MS}]`,
      )
    }

    // Both at once: one shard each, merged by label.
    const target = await startGatedTarget()
    later(() => target.stop())
    const id = await rush(target, [AHEAD_REGION, BEHIND_REGION], 4)
    const seen = await watchToEnd(server.couch, id)
    t.equal(seen.state, 'done')
    t.same(
      seen.seconds,
      range(await expectedSeconds(server.couch, id, 4)),
      'every second once, both engines merged by label',
    )
    t.equal(seen.hits, target.answered, 'merged hits equal what the target answered')
    const runs = new Map(
      [...runsPerShard(ahead, behind)].filter(([shard]) => shard.startsWith(`shard:${id}:`)),
    )
    t.equal(runs.size, 2, 'both shards ran')
    t.ok(
      [ahead, behind].every((e) =>
        e.lines.some((l) => l.msg === 'shard running' && String(l.shard).startsWith(`shard:${id}:`)),
      ),
      'one on each skewed engine',
    )
    const audit = await auditSamples(server.couch, id)
    t.same([audit.duplicates, audit.gaps], [0, 0], 'no sample lost or written twice')
    const answered = [...target.answeredAt].sort((a, b) => a - b)
    const spreadMs = answered[answered.length - 1]! - answered[0]!
    t.ok(
      spreadMs > 4000,
      `the load spanned ${spreadMs} ms of real time for a 4-s rush: the 4-s spread of the clocks`,
    )
    record({
      fault: 'engines with clocks skewed by +2 s and −2 s (libfaketime)',
      strikes: 'from boot: each engine reads the rush start on its own clock',
      outcome: `seconds line up by label (0…N−1 on every engine, merged once); in real time each engine is off by its skew: +2 s engine started ${offsets.ahead} ms, −2 s engine ${offsets.behind} ms from startAt (bound: −skew to −skew + ${LATE_ALLOWANCE_MS} ms)`,
      secondsReported: seen.seconds.length,
      secondsPlanned: 4,
      shardsRunTwice: twice(runs),
      documentsLost: audit.gaps,
      extra: {
        'offset +2 s engine ms': offsets.ahead!,
        'offset −2 s engine ms': offsets.behind!,
        'real time spanned by a 4-s rush ms': spreadMs,
      },
    })
  },
)
