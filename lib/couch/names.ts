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

/**
 * A region name (`us-east-1`): the one pattern every entry point checks (the CLI, the engine,
 * the topology, user-data, the appliance), because it becomes part of a database name
 * (`<prefix>-dispatch-<region>`), which CouchDB limits to lower-case letters, digits and a few
 * signs. (The document validators keep their own copy: they are self-contained ES5.)
 */
export const REGION_NAME = /^[a-z][a-z0-9-]{0,62}$/

export function isRegionName(name: unknown): name is string {
  return typeof name === 'string' && REGION_NAME.test(name)
}

/** A database prefix (`stampede`): lower-case letters, digits, _ and -. */
export function isDbPrefix(prefix: unknown): prefix is string {
  return typeof prefix === 'string' && PREFIX.test(prefix)
}

export function dbNames(prefix = DEFAULT_PREFIX): DbNames {
  if (!isDbPrefix(prefix)) throw new TypeError(`invalid database prefix "${prefix}"`)
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
