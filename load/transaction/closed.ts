import { concurrencyAt, patternDuration, shareCount } from '../../lib/pattern.js'
import type { RunningModel } from '../model.js'
import type { TransactionSetup } from './prepare.js'
import { TransactionUser } from './user.js'

const TICK_MS = 10

/**
 * The closed model for a transaction: ramped users, each running the steps in order,
 * then starting again with its own cookie jar and variables. Users are numbered as in the
 * single-request rush (this process runs those of its share), so shares add up exactly.
 */
export function startTransactionRush(setup: TransactionSetup): RunningModel {
  const { job, startAt, recorder } = setup
  const durationMs = patternDuration(job.pattern) * 1000
  const users: TransactionUser[] = []
  let running = 0
  let busy = 0
  let stopping = false
  let cutShort = false
  let settle: () => void
  const done = new Promise<void>((resolve) => {
    settle = resolve
  })

  // Unique data rows used up: no user of this process can start again.
  let rowsOut = false
  const begin = (user: TransactionUser, now: number) => {
    if (user.exhausted) return
    busy++
    if (!user.startIteration(now)) {
      busy--
      rowsOut = true
    }
  }
  /** Once the rows ran out and the last iteration ended, this share of the rush is over. */
  const endIfRowsOut = () => {
    if (rowsOut && busy === 0 && !stopping) stop(false)
  }

  const context = setup.context((user) => {
    busy--
    if (user.active && !stopping) begin(user, performance.now())
    else {
      user.close()
      if (stopping && busy === 0) finish()
    }
    endIfRowsOut()
  })

  const setUsers = (wanted: number, now: number) => {
    while (running < wanted) {
      let user = users[running]
      if (!user) {
        // Number users across the whole rush: share index + k·of, as the single path does.
        user = new TransactionUser(context, job.share.index + users.length * job.share.of)
        users.push(user)
      }
      running++
      if (!user.active) {
        user.active = true
        if (!user.busy) begin(user, now)
      }
    }
    while (running > wanted) {
      const user = users[--running]!
      user.active = false
      if (user.cancelThink()) {
        busy--
        user.close()
      } else if (!user.busy) user.close()
    }
    recorder.concurrency(running)
  }

  const tick = () => {
    const now = performance.now()
    const elapsed = now - startAt
    if (elapsed >= durationMs) {
      stop(false)
      return
    }
    recorder.roll(now)
    if (elapsed >= 0) setUsers(shareCount(concurrencyAt(job.pattern, elapsed / 1000), job.share), now)
    endIfRowsOut()
  }

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
    if (busy === 0) finish()
  }

  let timer: NodeJS.Timeout | undefined
  const first = setTimeout(
    () => {
      if (stopping) return
      tick()
      if (!stopping) timer = setInterval(tick, TICK_MS)
    },
    Math.max(0, startAt - performance.now()),
  )
  return { stop: () => stop(true), done }
}
