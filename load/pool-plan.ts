/**
 * The decisions of the pre-forked load-process pool (`load/pool.ts`), as pure functions over
 * counts and times: how many processes to fork, how a shard's request for processes is met,
 * whether a process coming back is kept, and how long to wait before forking again after
 * processes died young.
 */

/** What the pool holds now. */
export interface PoolCounts {
  /** Processes the pool keeps: idle + warming + lent. */
  size: number
  /** Loaded and waiting for a job. */
  idle: number
  /** Forked, not yet loaded. */
  warming: number
  /** Handed to a run. */
  lent: number
  /** Closing: nothing is forked or kept any more. */
  closing: boolean
}

/**
 * Processes to fork now so that the pool holds `size` in all. Lent ones count: they come
 * back after their run, so a pool never holds more than `size` processes (the memory of
 * `size` idle Node processes) — a second shard running at the same time on the same engine
 * forks its own (`planTake`) as before the pool.
 */
export function forksToMake(counts: PoolCounts): number {
  if (counts.closing) return 0
  return Math.max(0, counts.size - counts.idle - counts.warming - counts.lent)
}

/**
 * A run asking for `count` processes takes what is idle (loaded: no fork on the start's
 * path) and forks the rest there and then, as without a pool. Warming ones are not waited
 * for: a fresh fork is no slower than one already under way.
 */
export function planTake(count: number, idle: number): { warm: number; cold: number } {
  const warm = Math.min(Math.max(0, count), idle)
  return { warm, cold: Math.max(0, count) - warm }
}

/**
 * A process handed back after a run: kept when it ended its job cleanly and the pool has
 * room (`size` counted without it); retired otherwise (a failed job may have left anything
 * behind; a cold extra is surplus once its run is over).
 */
export function keepReturned(counts: PoolCounts, clean: boolean): boolean {
  if (counts.closing || !clean) return false
  return counts.idle + counts.warming + counts.lent - 1 < counts.size
}

/** Deaths of processes that never loaded, within this window, count towards a back-off. */
export const YOUNG_DEATH_WINDOW_MS = 10_000
/** Deaths within the window tolerated before forking is delayed. */
export const YOUNG_DEATHS_TOLERATED = 2
export const RESPAWN_MAX_DELAY_MS = 30_000

/**
 * How long to wait before forking replacements, given when processes died before loading
 * (epoch ms). A process killed now and then is replaced at once; one that cannot start at
 * all (a broken install, memory exhausted) would be forked in a tight loop: after
 * `YOUNG_DEATHS_TOLERATED` such deaths in `YOUNG_DEATH_WINDOW_MS`, each further one doubles
 * the wait, from 1 s up to 30 s.
 */
export function respawnDelayMs(youngDeaths: readonly number[], now: number): number {
  const recent = youngDeaths.filter((at) => now - at < YOUNG_DEATH_WINDOW_MS).length
  const over = recent - YOUNG_DEATHS_TOLERATED
  if (over <= 0) return 0
  return Math.min(RESPAWN_MAX_DELAY_MS, 1000 * 2 ** (over - 1))
}
