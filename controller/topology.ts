import { readFileSync } from 'node:fs'
import { parseCouchUrl } from '../lib/couch/credentials.js'
import { DEFAULT_PREFIX, isDbPrefix, isRegionName } from '../lib/couch/names.js'
import { UsageError } from '../lib/errors.js'

/** Where each region's CouchDB is: `{"prefix"?: "stampede", "regions": [{"name", "url"}]}`. */
export interface Topology {
  prefix: string
  regions: { name: string; url: string }[]
}

export function parseTopology(value: unknown, where = 'topology'): Topology {
  if (!value || typeof value !== 'object')
    throw new UsageError(`${where}: must be a JSON object with "regions"`)
  const { prefix = DEFAULT_PREFIX, regions } = value as { prefix?: unknown; regions?: unknown }
  if (!isDbPrefix(prefix)) {
    throw new UsageError(`${where}: "prefix" must be lower-case letters, digits, _ or -`)
  }
  if (!Array.isArray(regions) || regions.length === 0)
    throw new UsageError(`${where}: "regions" must be a non-empty list`)
  const seen = new Set<string>()
  const out = regions.map((region: unknown, i: number) => {
    const { name, url } = (region ?? {}) as { name?: unknown; url?: unknown }
    if (!isRegionName(name)) {
      throw new UsageError(`${where}: regions[${i}].name must be a region name such as us-east-1`)
    }
    if (seen.has(name)) throw new UsageError(`${where}: region ${name} is listed twice`)
    seen.add(name)
    if (typeof url !== 'string')
      throw new UsageError(`${where}: regions[${i}].url must be the region's CouchDB URL`)
    return { name, url: parseCouchUrl(url, `${where}: region ${name}`).href.replace(/\/+$/, '') }
  })
  return { prefix, regions: out }
}

export function readTopology(file: string): Topology {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new UsageError(
      `cannot read topology ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    )
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (err) {
    throw new UsageError(`topology ${file} is not JSON: ${(err as Error).message}`)
  }
  return parseTopology(parsed, `topology ${file}`)
}
