import { compileStatusMatcher } from '../request-spec.js'
import { type CompiledExtract, compileExtract, extractTarget } from './extract.js'
import { checkTransaction, type DataSpec, type StepSpec, stepName, type TransactionSpec } from './spec.js'
import { compileTemplate, type Template } from './template.js'
import { compileVariable, type Draw, validateVariable } from './variables.js'

/** A step ready to run: templates compiled once, extractions compiled once. */
export interface CompiledStep {
  index: number
  name: string
  spec: StepSpec
  method: string
  /** The fixed origin (`http://host:port`), resolved and policy-checked before any load. */
  origin: string
  /** Path and query. */
  path: Template
  headers: [string, Template][]
  /** A fixed body, or a template rendered per request (texts only). */
  body: Buffer | Template | undefined
  /**
   * The slots the request reads (URL, headers, body), each once: with the cookies, all a
   * step's rendered request depends on, so a user may reuse it while these are unchanged.
   */
  requestSlots: number[]
  statusPassed: (status: number) => boolean
  timeoutMs: number
  extracts: CompiledExtract[]
  /** Slot each extraction writes, by position. */
  extractSlots: number[]
  /** Some extraction reads the body: keep it (otherwise only count its bytes). */
  needsBody: boolean
  /** Some extraction reads a header: collect them. */
  needsHeaders: boolean
  thinkMinMs: number
  thinkMaxMs: number
  followRedirects: number
}

export interface CompiledTransaction {
  steps: CompiledStep[]
  /** Every variable's name by slot: declared variables, data columns, extracted values. */
  slotNames: string[]
  draws: { slot: number; draw: Draw }[]
  /** Slot of data column i. */
  columnSlots: number[]
  data: DataSpec | undefined
}

/**
 * Checks and compiles a transaction. A step may use a variable declared, a data column, or
 * a value extracted by an earlier step; anything else is an error naming the step.
 */
export function compileTransaction(spec: TransactionSpec): CompiledTransaction {
  checkTransaction(spec)
  const slotNames: string[] = []
  const slots = new Map<string, number>()
  const slot = (name: string): number => {
    let at = slots.get(name)
    if (at === undefined) {
      at = slotNames.length
      slotNames.push(name)
      slots.set(name, at)
    }
    return at
  }
  const draws = Object.entries(spec.variables ?? {}).map(([name, text]) => ({
    slot: slot(name),
    draw: compileVariable(name, validateVariable(text, name)),
  }))
  const columnSlots = (spec.data?.table.columns ?? []).map(slot)
  const extractedBy = new Map<string, string>()
  spec.steps.forEach((step, index) => {
    for (const extract of step.extract ?? []) {
      const as = extractTarget(extract)
      if (!extractedBy.has(as)) extractedBy.set(as, stepName(step, index))
    }
  })

  const steps = spec.steps.map((step, index): CompiledStep => {
    const name = stepName(step, index)
    const where = `step ${name}`
    const slotOf = (used: string): number | string | undefined => {
      const at = slots.get(used)
      if (at !== undefined) return at
      const later = extractedBy.get(used)
      if (later !== undefined) return `variable "${used}" is used before step ${later} extracts it`
      return undefined
    }
    const url = step.request.url
    const origin = new URL(url.replace(/#\{[^}]*\}/g, 'x')).origin
    const path = compileTemplate(pathOf(url), slotOf, `${where}: url`)
    const headers = Object.entries(step.request.headers).map(([header, value]): [string, Template] => [
      header,
      compileTemplate(value, slotOf, `${where}: header ${header}`),
    ])
    let body: Buffer | Template | undefined
    if (step.request.bodyBase64 !== undefined) {
      const bytes = Buffer.from(step.request.bodyBase64, 'base64')
      const text = bytes.toString('utf8')
      body = text.includes('#{') ? compileTemplate(text, slotOf, `${where}: body`) : bytes
    }
    const requestSlots = [
      ...new Set([
        ...path.slots,
        ...headers.flatMap(([, value]) => value.slots),
        ...(body && !Buffer.isBuffer(body) ? body.slots : []),
      ]),
    ]
    const extracts = (step.extract ?? []).map((extract) => compileExtract(extract, where))
    const extractSlots = extracts.map((extract) => slot(extract.as))
    return {
      index,
      name,
      spec: step,
      method: step.request.method,
      origin,
      path,
      headers,
      body,
      requestSlots,
      statusPassed: compileStatusMatcher(step.request.expectStatus),
      timeoutMs: step.request.timeoutMs,
      extracts,
      extractSlots,
      needsBody: extracts.some((extract) => extract.needsBody),
      needsHeaders: extracts.some((extract) => extract.needsHeaders),
      thinkMinMs: step.think?.minMs ?? 0,
      thinkMaxMs: step.think?.maxMs ?? 0,
      followRedirects: step.followRedirects ?? 0,
    }
  })
  return { steps, slotNames, draws, columnSlots, data: spec.data }
}

/** Validates a transaction as the CLI, the API and the engines take it. */
export function validateTransaction(spec: TransactionSpec): TransactionSpec {
  compileTransaction(spec)
  return spec
}

/** The URL after its origin: path and query, `/` at least; a fragment is never sent. */
function pathOf(url: string): string {
  const afterScheme = url.indexOf('://') + 3
  const end = url.slice(afterScheme).search(/[/?#]/)
  let rest = end < 0 ? '' : url.slice(afterScheme + end)
  // `#{` opens a placeholder; any other `#` starts the fragment.
  for (let at = rest.indexOf('#'); at >= 0; at = rest.indexOf('#', at + 1)) {
    if (rest[at + 1] !== '{') {
      rest = rest.slice(0, at)
      break
    }
  }
  if (rest === '' || rest[0] === '?') rest = `/${rest}`
  return rest
}
