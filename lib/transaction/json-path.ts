import { UsageError } from '../errors.js'

/**
 * A small, well-defined subset of JSONPath: `$` (optional), `.name`, `['name']` or
 * `["name"]`, and `[n]` (a non-negative index; `[-1]` the last element). No wildcards,
 * filters or recursive descent: an extraction takes one value, and a path that could
 * match several would be a question, not an answer.
 */
export type PathSegment = string | number

export function compileJsonPath(path: string): PathSegment[] {
  const fail = (why: string): never => {
    throw new UsageError(`JSON path "${path}": ${why}`)
  }
  const segments: PathSegment[] = []
  let i = 0
  if (path.startsWith('$')) i = 1
  else if (path !== '' && path[0] !== '.' && path[0] !== '[') path = `.${path}`
  while (i < path.length) {
    const c = path[i]
    if (c === '.') {
      const match = /^[A-Za-z_$][\w$-]*/.exec(path.slice(i + 1))
      if (!match) fail(`expected a name after "." at character ${i + 1}`)
      segments.push(match![0])
      i += 1 + match![0].length
    } else if (c === '[') {
      const rest = path.slice(i)
      const index = /^\[(-?\d+)\]/.exec(rest)
      const quoted = /^\[(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")\]/.exec(rest)
      if (index) {
        segments.push(Number(index[1]))
        i += index[0].length
      } else if (quoted) {
        segments.push((quoted[1] ?? quoted[2]!).replace(/\\(.)/g, '$1'))
        i += quoted[0].length
      } else fail(`expected [number] or ['name'] at character ${i + 1}`)
    } else fail(`unexpected "${c}" at character ${i + 1}`)
  }
  if (segments.length === 0 && path !== '$') fail('empty path')
  return segments
}

/** The value at `segments`, or undefined when the document has none there. */
export function evaluateJsonPath(document: unknown, segments: readonly PathSegment[]): unknown {
  let value = document
  for (const segment of segments) {
    if (typeof segment === 'number') {
      if (!Array.isArray(value)) return undefined
      value = value[segment < 0 ? value.length + segment : segment]
    } else {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined
      if (!Object.hasOwn(value, segment)) return undefined
      value = (value as Record<string, unknown>)[segment]
    }
    if (value === undefined) return undefined
  }
  return value
}
