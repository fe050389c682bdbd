import { patternDuration } from '../lib/pattern.js'
import type { RushSpec } from '../lib/split.js'
import { peakConnections } from '../lib/workload.js'

/**
 * Per-tenant quotas and the decisions over them, pure: the store reads and writes the
 * usage document; these functions say yes or no and why. A rush over a quota is refused
 * with the quota named, never trimmed to fit.
 */
export interface Quotas {
  /** Most concurrent users (closed model) or requests in flight (open model) of one rush. */
  maxUsers: number
  /** Longest rush, seconds. */
  maxDuration: number
  /** Rushes running at once. */
  maxRunning: number
  rushesPerDay: number
  /** Regions the tenant may load from; empty: every region the API serves. */
  regions: string[]
}

export const DEFAULT_QUOTAS: Quotas = {
  maxUsers: 1000,
  maxDuration: 600,
  maxRunning: 2,
  rushesPerDay: 100,
  regions: [],
}

export type QuotaName = 'max-users' | 'max-duration' | 'max-running' | 'rushes-per-day' | 'regions'

export interface QuotaRefusal {
  quota: QuotaName
  limit: number | string[]
  asked: number | string[]
  detail: string
}

/** What a tenant has running and has started today: the `usage:` document's content. */
export interface Usage {
  /** Rushes holding a running slot, until their planned end (epoch ms). */
  running: { rush: string; until: number }[]
  /** UTC day (YYYY-MM-DD) that `today` counts. */
  day: string
  today: number
}

export const EMPTY_USAGE: Usage = { running: [], day: '', today: 0 }

export function utcDay(now: number): string {
  return new Date(now).toISOString().slice(0, 10)
}

/** The limits of one rush on its own (no usage needed). */
export function checkRushShape(
  quotas: Quotas,
  spec: Pick<RushSpec, 'model' | 'pattern' | 'maxInFlight' | 'regions' | 'pipelining'>,
): QuotaRefusal | undefined {
  const users = peakConnections(spec)
  // A pipelining user keeps N requests in flight: to the target that is N users' load, so the
  // limit counts requests in flight (an arrival rate's limit already does).
  const pipelining = spec.model === 'rush' ? (spec.pipelining ?? 1) : 1
  const asked = users * pipelining
  if (asked > quotas.maxUsers) {
    const what =
      pipelining > 1
        ? `${asked} requests in flight (${users} users × pipelining ${pipelining})`
        : `${users} ${spec.model === 'rush' ? 'users' : 'requests in flight'}`
    return {
      quota: 'max-users',
      limit: quotas.maxUsers,
      asked,
      detail: `the rush holds up to ${what}; this tenant's limit is ${quotas.maxUsers}`,
    }
  }
  const duration = patternDuration(spec.pattern)
  if (duration > quotas.maxDuration) {
    return {
      quota: 'max-duration',
      limit: quotas.maxDuration,
      asked: duration,
      detail: `the rush lasts ${duration} s; this tenant's limit is ${quotas.maxDuration} s`,
    }
  }
  if (quotas.regions.length > 0) {
    const outside = spec.regions.filter((region) => !quotas.regions.includes(region))
    if (outside.length > 0) {
      return {
        quota: 'regions',
        limit: quotas.regions,
        asked: spec.regions,
        detail: `region${outside.length > 1 ? 's' : ''} ${outside.join(', ')} not allowed for this tenant (allowed: ${quotas.regions.join(', ')})`,
      }
    }
  }
  return undefined
}

/**
 * Takes a running slot and a daily count for `rush` (until `until`), or says which quota
 * refuses it. Slots past their end are dropped first. Pure: the caller writes the new usage
 * with the revision it read, so two API instances cannot both take the last slot.
 */
export function reserve(
  quotas: Quotas,
  usage: Usage,
  rush: string,
  until: number,
  now: number,
): { usage: Usage } | { refusal: QuotaRefusal } {
  const running = usage.running.filter((slot) => slot.until > now && slot.rush !== rush)
  const day = utcDay(now)
  const today = usage.day === day ? usage.today : 0
  if (running.length >= quotas.maxRunning) {
    return {
      refusal: {
        quota: 'max-running',
        limit: quotas.maxRunning,
        asked: running.length + 1,
        detail: `${running.length} rush${running.length === 1 ? ' is' : 'es are'} running; this tenant's limit is ${quotas.maxRunning} at once`,
      },
    }
  }
  if (today >= quotas.rushesPerDay) {
    return {
      refusal: {
        quota: 'rushes-per-day',
        limit: quotas.rushesPerDay,
        asked: today + 1,
        detail: `${today} rushes started today (UTC); this tenant's limit is ${quotas.rushesPerDay} a day`,
      },
    }
  }
  return { usage: { running: [...running, { rush, until }], day, today: today + 1 } }
}

/** Gives a slot back (an abort, or a submission that failed after the reservation). */
export function release(usage: Usage, rush: string, now: number, refundToday = false): Usage {
  return {
    running: usage.running.filter((slot) => slot.until > now && slot.rush !== rush),
    day: usage.day,
    today: refundToday && usage.day === utcDay(now) ? Math.max(0, usage.today - 1) : usage.today,
  }
}
