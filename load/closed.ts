import { StampedeError } from '../lib/errors.js'
import { concurrencyAt, patternDuration, shareCount } from '../lib/pattern.js'
import { type LoadExchange, newExchange } from './exchange.js'
import type { ModelSetup, RunningModel } from './model.js'
import { PipelineExchange } from './pipeline-exchange.js'

const TICK_MS = 10

/**
 * The closed model: a ramped number of virtual users, each on its own connection,
 * looping request → response (or timeout) → next request. Users are numbered; this
 * process runs those of its share, so shares of one rush add up to the asked level at
 * every moment. Its name in jobs and documents is `rush` (`LoadModelName`), kept as it is:
 * documents replicate between regions, and engines of another version read it.
 */
export function startClosed(setup: ModelSetup): RunningModel {
  const { job, startPerf, recorder } = setup
  const durationMs = patternDuration(job.pattern) * 1000
  const users: LoadExchange[] = []
  const depth = job.pipelining ?? 1
  if (depth > 1 && !setup.context(() => {}).wire)
    // Refused before a job is made (lib/pipelining.ts); here for STAMPEDE_HTTP_CLIENT=undici.
    throw new StampedeError('STAMPEDE_USAGE', 'pipelining needs the lean HTTP/1.1 path (plain http:)')
  let running = 0
  let inFlight = 0
  let stopping = false
  let settle: () => void
  const done = new Promise<void>((resolve) => {
    settle = resolve
  })

  // Pipelining: a user keeps `depth` requests in flight on its connection, one sent for
  // every one that ends, instead of one at a time.
  const outstanding = (user: LoadExchange) => user.outstanding ?? (user.inFlight ? 1 : 0)

  const context = setup.context((user) => {
    inFlight--
    if (user.active && !stopping) {
      inFlight++
      user.send(performance.now())
    } else {
      user.close()
      if (stopping && inFlight === 0) finish()
    }
  })

  const setUsers = (wanted: number, now: number) => {
    while (running < wanted) {
      let user = users[running]
      if (!user) {
        user = depth > 1 ? new PipelineExchange(context) : newExchange(context)
        users.push(user)
      }
      running++
      if (!user.active) {
        user.active = true
        for (let more = depth - outstanding(user); more > 0; more--) {
          inFlight++
          user.send(now)
        }
      }
    }
    while (running > wanted) {
      const user = users[--running]!
      user.active = false
      if (outstanding(user) === 0) user.close()
    }
    recorder.concurrency(running)
  }

  const tick = () => {
    const now = performance.now()
    const elapsed = now - startPerf
    if (elapsed >= durationMs) {
      stop(false)
      return
    }
    recorder.roll(now)
    if (elapsed >= 0) setUsers(shareCount(concurrencyAt(job.pattern, elapsed / 1000), job.share), now)
  }

  let cutShort = false
  const finish = () => {
    clearTimeout(first)
    clearInterval(timer)
    recorder.finish(cutShort)
    for (const user of users) user.destroy()
    settle()
  }

  const stop = (early: boolean) => {
    if (stopping) return
    stopping = true
    cutShort = early
    clearTimeout(first)
    clearInterval(timer)
    setUsers(0, performance.now())
    recorder.concurrency(0)
    if (inFlight === 0) finish()
  }

  let timer: NodeJS.Timeout | undefined
  const first = setTimeout(
    () => {
      if (stopping) return
      tick()
      if (!stopping) timer = setInterval(tick, TICK_MS)
    },
    Math.max(0, startPerf - performance.now()),
  )
  return { stop: () => stop(true), done }
}
