/**
 * Database names. Every database exists in every region and replicates to the others;
 * each region's engines follow only `dispatch-<their region>`, which holds nothing but
 * that region's shards and aborts, so the followed feed stays quiet.
 */
export interface DbNames {
  prefix: string
  dispatch(region: string): string
  fleet: string
  results: string
  /** Every database a topology of these regions holds, in every region. */
  all(regions: string[]): string[]
}

export const DEFAULT_PREFIX = 'stampede'
const PREFIX = /^[a-z][a-z0-9_-]{0,40}$/

export function dbNames(prefix = DEFAULT_PREFIX): DbNames {
  if (!PREFIX.test(prefix)) throw new TypeError(`invalid database prefix "${prefix}"`)
  const dispatch = (region: string) => `${prefix}-dispatch-${region}`
  return {
    prefix,
    dispatch,
    fleet: `${prefix}-fleet`,
    results: `${prefix}-results`,
    all: (regions) => [`${prefix}-fleet`, `${prefix}-results`, ...regions.map(dispatch)],
  }
}

/** The one design document every Stampede database carries. */
export const DESIGN_ID = '_design/stampede'
export const DESIGN_NAME = 'stampede'
