import { UsageError } from '../errors.js'
import { compileJsonPath, evaluateJsonPath, type PathSegment } from './json-path.js'
import { VARIABLE_NAME } from './variables.js'

/**
 * Taking a value out of a response into a variable for later steps:
 * - `cookie NAME`: the cookie the response set (blitz's `-x:c NAME`); the variable is NAME;
 * - `header NAME`: a response header's value;
 * - `json PATH`: a value of the JSON body (see json-path.ts); non-text values as JSON;
 * - `regex PATTERN`: the first match in the body: its first group, or the whole match.
 * A step whose extraction finds nothing fails with the error kind `extract`.
 */
export type ExtractSpec =
  | { from: 'cookie'; name: string; as?: string }
  | { from: 'header'; name: string; as: string }
  | { from: 'json'; path: string; as: string }
  | { from: 'regex'; pattern: string; as: string }

/** What an extraction reads: status, headers (lower-case names), cookies set, the body. */
export interface ResponseView {
  headers: Record<string, string | string[]>
  /** Cookies this response set (name → value). */
  cookies: ReadonlyMap<string, string>
  body: string
}

export interface CompiledExtract {
  /** Variable it writes. */
  as: string
  /** True when it needs the response body. */
  needsBody: boolean
  /** True when it reads response headers (other than the cookies set). */
  needsHeaders: boolean
  /** The value found, or undefined. */
  take(response: ResponseView, parsed: { json?: unknown; failed?: boolean }): string | undefined
  describe: string
}

export function extractTarget(spec: ExtractSpec): string {
  return spec.from === 'cookie' ? (spec.as ?? spec.name) : spec.as
}

export function compileExtract(spec: ExtractSpec, where: string): CompiledExtract {
  const as = extractTarget(spec)
  if (typeof as !== 'string' || !VARIABLE_NAME.test(as))
    throw new UsageError(`${where}: extraction needs a variable name (letters, digits, _ . -), got "${as}"`)
  switch (spec.from) {
    case 'cookie': {
      const name = spec.name
      if (!name) throw new UsageError(`${where}: cookie extraction needs a cookie name`)
      return {
        as,
        needsBody: false,
        needsHeaders: false,
        describe: `cookie ${name}`,
        take: (response) => response.cookies.get(name),
      }
    }
    case 'header': {
      const name = spec.name?.toLowerCase()
      if (!name) throw new UsageError(`${where}: header extraction needs a header name`)
      return {
        as,
        needsBody: false,
        needsHeaders: true,
        describe: `header ${name}`,
        take: (response) => {
          const value = response.headers[name]
          return Array.isArray(value) ? value[0] : value
        },
      }
    }
    case 'json': {
      let segments: PathSegment[]
      try {
        segments = compileJsonPath(spec.path ?? '')
      } catch (err) {
        throw new UsageError(`${where}: ${(err as Error).message}`)
      }
      return {
        as,
        needsBody: true,
        needsHeaders: false,
        describe: `json ${spec.path}`,
        take: (response, parsed) => {
          if (parsed.failed) return undefined
          if (!('json' in parsed)) {
            try {
              parsed.json = JSON.parse(response.body)
            } catch {
              parsed.failed = true
              return undefined
            }
          }
          const value = evaluateJsonPath(parsed.json, segments)
          if (value === undefined || value === null) return undefined
          return typeof value === 'string' ? value : JSON.stringify(value)
        },
      }
    }
    case 'regex': {
      let pattern: RegExp
      try {
        pattern = new RegExp(spec.pattern ?? '')
      } catch (err) {
        throw new UsageError(`${where}: invalid regular expression: ${(err as Error).message}`)
      }
      return {
        as,
        needsBody: true,
        needsHeaders: false,
        describe: `regex ${spec.pattern}`,
        take: (response) => {
          const match = pattern.exec(response.body)
          if (!match) return undefined
          return match.length > 1 ? (match[1] ?? '') : match[0]
        },
      }
    }
    default:
      throw new UsageError(
        `${where}: unknown extraction "${(spec as { from?: unknown }).from}" (use cookie, header, json or regex)`,
      )
  }
}
