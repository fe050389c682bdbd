import type { RequestSpec } from '../../lib/request-spec.js'
import type { ExtractSpec } from '../../lib/transaction/extract.js'
import type { StepSpec, TransactionSpec } from '../../lib/transaction/spec.js'
import { ApiProblem } from '../service.js'
import { checkApiTransaction } from '../transaction.js'

/**
 * blitz.io's transactions (v1): several `steps`, per-step `variables` and `xtracts`, mapped
 * into lib/transaction's TransactionSpec. The wire shapes are those blitz's own clients
 * send (read from their sources):
 * - blitz-ruby (lib/blitz/curl.rb, `parse_cli`) and blitz-node (lib/blitz/parser.js) put
 *   variables on the step: `-v:NAME SPEC` becomes `step.variables[NAME]` =
 *   `{type: 'list', entries: [...]}`, `{type: 'alpha'|'number'}` with optional `min`, `max`,
 *   `count` (count 1,000 when omitted), or `{type: 'udid'}`; `#{NAME}` then appears in the
 *   step's url, headers, cookies, data, user-agent or referer.
 * - blitz-ruby turns `-x:c NAME` into `step.xtracts[NAME] = {type: 'cookie'}`: the cookie
 *   NAME the step's response sets is kept for the following steps.
 * - blitz-java (io.blitz.curl.TestEntity) sends one step at the top level with `variables`
 *   beside `url` (its Alpha/NumberVariable serialize `min: 0, max: 0` when unset), the
 *   referer as `referrer`, cookies as `name=value` and headers as `Name: value` strings.
 * Stampede's variables belong to the whole transaction and take one value per iteration:
 * a name defined by several steps with the same definition is one variable; a step that
 * redefines a name differently gets its own (renamed `NAME.sN` in that step's templates),
 * so each step still draws from its own definition, as on blitz.
 */

function invalid(reason: string): ApiProblem {
  return new ApiProblem('invalid', 400, reason)
}

export interface BlitzStep {
  url?: unknown
  request?: unknown
  headers?: unknown
  content?: { data?: unknown }
  cookies?: unknown
  user?: unknown
  'user-agent'?: unknown
  referer?: unknown
  referrer?: unknown
  timeout?: unknown
  status?: unknown
  variables?: unknown
  xtracts?: unknown
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

function whole(value: unknown, what: string): number | undefined {
  if (value === undefined || value === null) return undefined
  if (typeof value !== 'number' || !Number.isSafeInteger(value))
    throw invalid(`${what} must be a whole number`)
  return value
}

/** Letters of an `alpha` variable whose bounds the client left out. */
const ALPHA_DEFAULT = [4, 12] as const
/** Range of a `number` variable whose bounds the client left out. */
const NUMBER_DEFAULT = [0, 1_000_000] as const
const COUNT_DEFAULT = 1000

/** One of blitz's variable objects in Stampede's (blitz's command-line) syntax. */
export function variableOfBlitz(raw: unknown, where: string): string {
  if (!isObject(raw) || typeof raw.type !== 'string')
    throw invalid(`${where} must be {type: list|alpha|number|uuid|udid, …}`)
  switch (raw.type) {
    case 'list': {
      const entries = raw.entries
      if (
        !Array.isArray(entries) ||
        entries.length === 0 ||
        entries.some((entry) => typeof entry !== 'string')
      )
        throw invalid(`${where}.entries must be a list of strings`)
      if (entries.some((entry: string) => entry.includes(',')))
        throw invalid(`${where}.entries: an entry may not hold a comma`)
      return `list[${entries.join(',')}]`
    }
    case 'alpha':
    case 'number': {
      let min = whole(raw.min, `${where}.min`)
      let max = whole(raw.max, `${where}.max`)
      const count = whole(raw.count, `${where}.count`) ?? COUNT_DEFAULT
      // Unset bounds: absent, or blitz-java's zeros for an alpha (no string has 0 letters).
      if ((min === undefined && max === undefined) || (raw.type === 'alpha' && !min && !max))
        [min, max] = raw.type === 'alpha' ? ALPHA_DEFAULT : NUMBER_DEFAULT
      if (min === undefined || max === undefined) throw invalid(`${where} needs both min and max`)
      return `${raw.type}[${min},${max},${count}]`
    }
    case 'uuid':
    case 'udid':
      return raw.type
    default:
      throw invalid(`${where}.type "${raw.type}" is not one of list, alpha, number, uuid, udid`)
  }
}

/** blitz's `xtracts` of a step: `{NAME: {type: 'cookie'}}` (blitz-ruby's `-x:c NAME`). */
export function extractsOfBlitz(raw: unknown, where: string): ExtractSpec[] {
  if (raw === undefined || raw === null) return []
  if (!isObject(raw)) throw invalid(`${where} must be an object {NAME: {type: "cookie"}}`)
  return Object.entries(raw).map(([name, spec]) => {
    if (!isObject(spec) || spec.type !== 'cookie')
      throw invalid(`${where}.${name}: only cookie extraction ({type: "cookie"}) is blitz's`)
    return { from: 'cookie', name }
  })
}

/** Replaces `#{from}` by `#{to}` in every text of a blitz step that may hold a variable. */
function renameVariable(step: BlitzStep, from: string, to: string): BlitzStep {
  const swap = (value: unknown): unknown =>
    typeof value === 'string'
      ? value.split(`#{${from}}`).join(`#{${to}}`)
      : Array.isArray(value)
        ? value.map(swap)
        : value
  return {
    ...step,
    url: swap(step.url),
    headers: swap(step.headers),
    cookies: swap(step.cookies),
    'user-agent': swap(step['user-agent']),
    referer: swap(step.referer),
    referrer: swap(step.referrer),
    ...(isObject(step.content) && { content: { ...step.content, data: swap(step.content.data) } }),
  }
}

/** True when a blitz job needs a transaction (not the single request's fast path). */
export function isBlitzTransaction(steps: BlitzStep[], topVariables: unknown): boolean {
  const some = (value: unknown) => isObject(value) && Object.keys(value).length > 0
  return (
    steps.length > 1 ||
    some(topVariables) ||
    steps.some((step) => isObject(step) && (some(step.variables) || some(step.xtracts)))
  )
}

/**
 * blitz's steps as a TransactionSpec; `requestOf` is v1's mapping of one step's request
 * (headers, cookies, content, user, timeout, status). `topVariables` are blitz-java's,
 * beside a top-level step.
 */
export function transactionOfBlitz(
  steps: BlitzStep[],
  topVariables: unknown,
  requestOf: (step: BlitzStep) => RequestSpec,
): TransactionSpec {
  const variables: Record<string, string> = {}
  const define = (raw: unknown, where: string, suffix: string): Map<string, string> => {
    const renames = new Map<string, string>()
    if (raw === undefined || raw === null) return renames
    if (!isObject(raw)) throw invalid(`${where} must be an object {NAME: {type, …}}`)
    for (const [name, spec] of Object.entries(raw)) {
      const text = variableOfBlitz(spec, `${where}.${name}`)
      if (variables[name] === undefined || variables[name] === text) variables[name] = text
      else {
        const own = `${name}.${suffix}`
        variables[own] = text
        renames.set(name, own)
      }
    }
    return renames
  }
  define(topVariables, 'variables', 'top')
  const out = steps.map((raw, index): StepSpec => {
    if (!isObject(raw)) throw invalid(`steps[${index}] must be an object`)
    let step = raw as BlitzStep
    for (const [from, to] of define(step.variables, `steps[${index}].variables`, `s${index + 1}`))
      step = renameVariable(step, from, to)
    if (typeof step.user === 'string' && step.user.includes('#{'))
      throw invalid(`steps[${index}].user: variables are not supported in user (it is sent base64-encoded)`)
    let request: RequestSpec
    try {
      request = requestOf(step)
    } catch (err) {
      if (err instanceof ApiProblem) throw invalid(`steps[${index}]: ${err.message}`)
      throw err
    }
    const spec: StepSpec = { request }
    const extract = extractsOfBlitz(step.xtracts, `steps[${index}].xtracts`)
    if (extract.length > 0) spec.extract = extract
    return spec
  })
  const transaction: TransactionSpec = { steps: out }
  if (Object.keys(variables).length > 0) transaction.variables = variables
  return checkApiTransaction(transaction, '/steps')
}
