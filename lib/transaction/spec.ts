import { UsageError } from '../errors.js'
import { parseTargetUrl, type RequestSpec, validateRequestSpec } from '../request-spec.js'
import { type DataTable, validateDataTable } from './data-file.js'
import type { ExtractSpec } from './extract.js'
import { ROW_MODES, type RowMode } from './rows.js'
import { VARIABLE_NAME, validateVariable } from './variables.js'

/**
 * A transaction as plain data: it crosses process boundaries and CouchDB like a request
 * spec. Each step's URL (after the origin), header values and body may use `#{name}`.
 */
export interface StepSpec {
  /** Name used in the summary and in thresholds (`login.p95<300ms`); default `stepN`. */
  name?: string
  request: RequestSpec
  extract?: ExtractSpec[]
  /** Pause after this step before the next request, milliseconds: fixed (min = max) or a range. */
  think?: { minMs: number; maxMs: number }
  /** Redirects to follow, at most this many hops (absent or 0: none, the 3xx is the answer). */
  followRedirects?: number
}

export interface DataSpec {
  /** Where the rows came from (a file name), for messages. */
  name: string
  mode: RowMode
  table: DataTable
}

export interface TransactionSpec {
  steps: StepSpec[]
  /** Variable name → blitz syntax (`list[a,b]`, `number[1,9,50]`, `uuid` …). */
  variables?: Record<string, string>
  data?: DataSpec
  /**
   * Host names (lower case) a followed redirect may go to; absent: any the address policy
   * allows. The tenant API sets it to the hosts the tenant proved (the steps' hosts), so a
   * hop cannot carry the load to a site nobody proved.
   */
  redirectHosts?: string[]
}

export const MAX_STEPS = 50
const STEP_NAME = /^[A-Za-z_][A-Za-z0-9_-]*$/
const MAX_THINK_MS = 3_600_000

export function stepName(step: StepSpec, index: number): string {
  return step.name ?? `step${index + 1}`
}

/**
 * Checks a transaction's shape (templates are checked when compiled, see compile.ts):
 * every error is one line naming the step and the problem.
 */
export function checkTransaction(spec: TransactionSpec): TransactionSpec {
  if (!Array.isArray(spec.steps) || spec.steps.length === 0)
    throw new UsageError('a transaction needs at least one step')
  if (spec.steps.length > MAX_STEPS) throw new UsageError(`a transaction has at most ${MAX_STEPS} steps`)
  const names = new Set<string>()
  const known = new Set<string>()
  for (const [name, text] of Object.entries(spec.variables ?? {})) {
    if (!VARIABLE_NAME.test(name))
      throw new UsageError(`variable name "${name}" is not valid (letters, digits, _ . -)`)
    validateVariable(text, name)
    known.add(name)
  }
  if (spec.data) {
    if (!ROW_MODES.includes(spec.data.mode))
      throw new UsageError(`data mode "${spec.data.mode}" is not one of ${ROW_MODES.join(', ')}`)
    validateDataTable(spec.data.table, spec.data.name)
    for (const column of spec.data.table.columns) {
      if (known.has(column)) throw new UsageError(`data column "${column}" has the name of a variable`)
      known.add(column)
    }
  }
  if (
    spec.redirectHosts !== undefined &&
    !(Array.isArray(spec.redirectHosts) && spec.redirectHosts.every((host) => typeof host === 'string'))
  )
    throw new UsageError('redirect hosts must be a list of host names')
  spec.steps.forEach((step, index) => {
    const name = stepName(step, index)
    const where = `step ${name}`
    if (!STEP_NAME.test(name)) throw new UsageError(`${where}: a step name takes letters, digits, _ and -`)
    if (names.has(name)) throw new UsageError(`${where}: two steps have this name`)
    names.add(name)
    checkUrl(step.request.url, where)
    try {
      validateRequestSpec({ ...step.request, url: placeholderUrl(step.request.url) })
    } catch (err) {
      throw new UsageError(`${where}: ${(err as Error).message}`)
    }
    if (step.think) {
      const { minMs, maxMs } = step.think
      if (!(minMs >= 0 && maxMs >= minMs && maxMs <= MAX_THINK_MS))
        throw new UsageError(`${where}: think time must be 0..1h, min not above max`)
    }
    if (
      step.followRedirects !== undefined &&
      !(Number.isInteger(step.followRedirects) && step.followRedirects >= 0 && step.followRedirects <= 20)
    )
      throw new UsageError(`${where}: redirects to follow must be 0..20`)
  })
  return spec
}

/**
 * The origin must be fixed (it is resolved and checked against the address policy once,
 * before any load): variables may appear in the path and query only.
 */
function checkUrl(url: string, where: string): void {
  if (typeof url !== 'string') throw new UsageError(`${where}: the URL must be a text`)
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url)
  if (!scheme) throw new UsageError(`${where}: invalid URL "${url}"`)
  const originEnd = url.slice(scheme[0].length).search(/[/?]/)
  const origin = originEnd < 0 ? url : url.slice(0, scheme[0].length + originEnd)
  if (origin.includes('#{'))
    throw new UsageError(`${where}: variables may not appear in the scheme or host of "${url}"`)
  for (let open = url.indexOf('#{'); open >= 0; open = url.indexOf('#{', open + 2)) {
    if (url.indexOf('}', open) < 0) throw new UsageError(`${where}: unterminated #{ in url`)
  }
  try {
    parseTargetUrl(placeholderUrl(url))
  } catch (err) {
    throw new UsageError(`${where}: ${(err as Error).message}`)
  }
}

function placeholderUrl(url: string): string {
  return url.replace(/#\{[^}]*\}/g, 'x')
}
