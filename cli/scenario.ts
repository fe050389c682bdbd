import { readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { parse as parseYaml } from 'yaml'
import { UsageError } from '../lib/errors.js'
import { parseDurationSeconds } from '../lib/pattern.js'
import { DEFAULT_TIMEOUT_MS, type RequestSpec } from '../lib/request-spec.js'
import { parseDataFile } from '../lib/transaction/data-file.js'
import type { ExtractSpec } from '../lib/transaction/extract.js'
import { ROW_MODES, type RowMode } from '../lib/transaction/rows.js'
import type { StepSpec, TransactionSpec } from '../lib/transaction/spec.js'
import { VERSION } from '../lib/version.js'

/**
 * A scenario file (YAML or JSON) as docs/scenario.schema.json describes it: steps,
 * variables, a data file, think time, and optionally the load and thresholds. The checks
 * here follow the schema and name the place of a mistake (`steps[2].extract[0]`).
 */
export interface Scenario {
  transaction: TransactionSpec
  pattern?: string
  rate?: string
  thresholds?: string[]
}

const TOP = new Set(['$schema', 'pattern', 'rate', 'thresholds', 'variables', 'data', 'timeout', 'steps'])
const STEP = new Set([
  'name',
  'method',
  'url',
  'headers',
  'body',
  'timeout',
  'expect',
  'think',
  'follow',
  'extract',
])
const EXTRACT = new Set(['cookie', 'header', 'json', 'regex'])

type Json = Record<string, unknown>

export function loadScenario(file: string): Scenario {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new UsageError(`cannot read --scenario ${file}: ${(err as NodeJS.ErrnoException).code ?? err}`)
  }
  let document: unknown
  try {
    document = /\.json$/i.test(file) ? JSON.parse(text) : parseYaml(text)
  } catch (err) {
    throw new UsageError(
      `${file}: not valid ${/\.json$/i.test(file) ? 'JSON' : 'YAML'}: ${(err as Error).message.split('\n')[0]}`,
    )
  }
  return parseScenario(document, file, (name) => readFileSync(resolve(dirname(file), name), 'utf8'))
}

/** Checks and converts a scenario document; `readData` reads its data file. */
export function parseScenario(document: unknown, file: string, readData: (name: string) => string): Scenario {
  const fail = (where: string, why: string): never => {
    throw new UsageError(`${file}: ${where}: ${why}`)
  }
  if (!isObject(document)) return fail('top level', 'expected a mapping with steps')
  for (const key of Object.keys(document)) if (!TOP.has(key)) fail(key, 'unknown key')
  const scenario: Scenario = { transaction: { steps: [] } }
  if (document.pattern !== undefined) scenario.pattern = text(document.pattern, 'pattern', fail)
  if (document.rate !== undefined) scenario.rate = text(document.rate, 'rate', fail)
  if (scenario.pattern !== undefined && scenario.rate !== undefined)
    fail('rate', 'give pattern or rate, not both')
  if (document.thresholds !== undefined) {
    if (!Array.isArray(document.thresholds)) fail('thresholds', 'expected a list')
    scenario.thresholds = (document.thresholds as unknown[]).map((item, i) =>
      text(item, `thresholds[${i}]`, fail),
    )
  }
  if (document.variables !== undefined) {
    if (!isObject(document.variables)) fail('variables', 'expected a mapping NAME: SPEC')
    scenario.transaction.variables = {}
    for (const [name, spec] of Object.entries(document.variables as Json))
      scenario.transaction.variables[name] = text(spec, `variables.${name}`, fail)
  }
  if (document.data !== undefined) {
    const data = document.data
    if (!isObject(data)) return fail('data', 'expected {file, mode}')
    for (const key of Object.keys(data))
      if (key !== 'file' && key !== 'mode') fail(`data.${key}`, 'unknown key')
    const name = text(data.file, 'data.file', fail)
    const mode = data.mode === undefined ? 'sequential' : text(data.mode, 'data.mode', fail)
    if (!ROW_MODES.includes(mode as RowMode)) fail('data.mode', `one of ${ROW_MODES.join(', ')}`)
    let content: string
    try {
      content = readData(name)
    } catch (err) {
      return fail('data.file', `cannot read ${name}: ${(err as NodeJS.ErrnoException).code ?? err}`)
    }
    scenario.transaction.data = { name, mode: mode as RowMode, table: parseDataFile(content, name) }
  }
  const defaultTimeout =
    document.timeout === undefined ? DEFAULT_TIMEOUT_MS : duration(document.timeout, 'timeout', fail)
  if (!Array.isArray(document.steps) || document.steps.length === 0)
    fail('steps', 'expected a list of at least one step')
  scenario.transaction.steps = (document.steps as unknown[]).map((raw, index) =>
    parseStep(raw, `steps[${index}]`, defaultTimeout, fail),
  )
  return scenario
}

function parseStep(
  raw: unknown,
  where: string,
  defaultTimeout: number,
  fail: (where: string, why: string) => never,
): StepSpec {
  if (!isObject(raw)) return fail(where, 'expected a mapping with url')
  for (const key of Object.keys(raw)) if (!STEP.has(key)) fail(`${where}.${key}`, 'unknown key')
  const headers: Record<string, string> = { 'user-agent': `stampede/${VERSION}` }
  if (raw.headers !== undefined) {
    if (!isObject(raw.headers)) fail(`${where}.headers`, 'expected a mapping Name: value')
    for (const [name, value] of Object.entries(raw.headers as Json))
      headers[name.toLowerCase()] = text(value, `${where}.headers.${name}`, fail)
  }
  const body = raw.body === undefined ? undefined : text(raw.body, `${where}.body`, fail)
  const request: RequestSpec = {
    method:
      raw.method === undefined
        ? body !== undefined
          ? 'POST'
          : 'GET'
        : text(raw.method, `${where}.method`, fail).toUpperCase(),
    url: text(raw.url, `${where}.url`, fail),
    headers,
    timeoutMs: raw.timeout === undefined ? defaultTimeout : duration(raw.timeout, `${where}.timeout`, fail),
  }
  if (body !== undefined) request.bodyBase64 = Buffer.from(body).toString('base64')
  if (raw.expect !== undefined) request.expectStatus = String(raw.expect)
  const step: StepSpec = { request }
  if (raw.name !== undefined) step.name = text(raw.name, `${where}.name`, fail)
  if (raw.think !== undefined) {
    const think = String(raw.think)
    const dash = think.indexOf('-')
    const low = duration(dash < 0 ? think : think.slice(0, dash), `${where}.think`, fail)
    const high = dash < 0 ? low : duration(think.slice(dash + 1), `${where}.think`, fail)
    step.think = { minMs: low, maxMs: high }
  }
  if (raw.follow !== undefined) {
    if (!Number.isInteger(raw.follow)) fail(`${where}.follow`, 'expected a whole number of redirects')
    step.followRedirects = raw.follow as number
  }
  if (raw.extract !== undefined) {
    if (!Array.isArray(raw.extract)) fail(`${where}.extract`, 'expected a list')
    step.extract = (raw.extract as unknown[]).map((item, i) =>
      parseExtract(item, `${where}.extract[${i}]`, fail),
    )
  }
  return step
}

function parseExtract(raw: unknown, where: string, fail: (where: string, why: string) => never): ExtractSpec {
  if (!isObject(raw)) return fail(where, 'expected {cookie|header|json|regex: …, as: VAR}')
  const kinds = Object.keys(raw).filter((key) => EXTRACT.has(key))
  if (kinds.length !== 1) return fail(where, 'give exactly one of cookie, header, json, regex')
  for (const key of Object.keys(raw))
    if (key !== 'as' && !EXTRACT.has(key)) fail(`${where}.${key}`, 'unknown key')
  const kind = kinds[0]!
  const value = text(raw[kind], `${where}.${kind}`, fail)
  const as = raw.as === undefined ? undefined : text(raw.as, `${where}.as`, fail)
  if (kind === 'cookie')
    return as === undefined ? { from: 'cookie', name: value } : { from: 'cookie', name: value, as }
  if (as === undefined) return fail(`${where}.as`, 'the variable to extract into is missing')
  if (kind === 'header') return { from: 'header', name: value, as }
  if (kind === 'json') return { from: 'json', path: value, as }
  return { from: 'regex', pattern: value, as }
}

function isObject(value: unknown): value is Json {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

function text(value: unknown, where: string, fail: (where: string, why: string) => never): string {
  if (typeof value === 'number') return String(value)
  if (typeof value !== 'string') return fail(where, 'expected a text')
  return value
}

function duration(value: unknown, where: string, fail: (where: string, why: string) => never): number {
  try {
    return parseDurationSeconds(String(value)) * 1000
  } catch {
    return fail(where, `invalid duration "${value}" (use e.g. 500ms, 2s)`)
  }
}
