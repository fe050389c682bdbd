import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { UsageError } from '../lib/errors.js'
import { parseDurationSeconds } from '../lib/pattern.js'
import { validateTransaction } from '../lib/transaction/compile.js'
import { parseDataFile } from '../lib/transaction/data-file.js'
import type { ExtractSpec } from '../lib/transaction/extract.js'
import { ROW_MODES, type RowMode } from '../lib/transaction/rows.js'
import type { StepSpec, TransactionSpec } from '../lib/transaction/spec.js'
import { type CommandSpec, listOption, type OptionSpec, type ParsedOptions, stringOption } from './options.js'
import { REQUEST_OPTIONS, requestSpecFromOptions } from './request-options.js'
import { loadScenario } from './scenario.js'

/** Options that belong to one step: they apply to the next URL on the command line. */
export const STEP_OPTIONS: OptionSpec[] = [
  {
    name: 'step',
    type: 'string',
    value: 'NAME',
    description: 'name of the step the next URL closes (default stepN)',
  },
  {
    name: 'extract-cookie',
    type: 'string',
    multiple: true,
    value: 'NAME',
    description: "take the cookie NAME the step's response sets into variable NAME (blitz: -x:c NAME)",
  },
  {
    name: 'extract-header',
    type: 'string',
    multiple: true,
    value: 'VAR=HEADER',
    description: 'take a response header into VAR (short: -x:h VAR=HEADER)',
  },
  {
    name: 'extract-json',
    type: 'string',
    multiple: true,
    value: 'VAR=PATH',
    description: 'take a value of the JSON body into VAR, e.g. token=$.data.token (short: -x:j)',
  },
  {
    name: 'extract-regex',
    type: 'string',
    multiple: true,
    value: 'VAR=REGEX',
    description: 'take the first match (its first group, if any) of the body into VAR (short: -x:r)',
  },
  {
    name: 'think',
    type: 'string',
    value: 'DURATION[-DURATION]',
    description: 'pause after the step, fixed or a range',
  },
  { name: 'follow', type: 'string', value: 'N', description: 'follow up to N redirects (default: none)' },
]

/** Options of a whole transaction. */
export const TRANSACTION_OPTIONS: OptionSpec[] = [
  {
    name: 'variable',
    type: 'string',
    multiple: true,
    value: 'NAME=SPEC',
    description:
      'variable for #{NAME}: list[a,b], alpha[min,max,count], number[min,max,count], uuid, udid (blitz: -v:NAME SPEC)',
  },
  {
    name: 'rows',
    type: 'string',
    value: 'FILE',
    description: 'data file: CSV with a header row, or JSON lines (.jsonl); columns become variables',
  },
  {
    name: 'rows-mode',
    type: 'string',
    value: 'MODE',
    description: 'sequential (default), random, or unique (each row once in the whole rush)',
  },
  {
    name: 'scenario',
    type: 'string',
    value: 'FILE',
    description: 'a transaction (and its load) from a YAML or JSON file (docs/scenario.schema.json)',
  },
]

export const TRANSACTION_NOTES = [
  'Transactions: several URLs in a row make a transaction; each URL closes a step with the',
  'request and step options given before it (after the previous URL). A user runs the steps in',
  'order, keeping its cookies and variables, then starts again. #{NAME} in a URL path or query,',
  'a header value or a body is replaced by a variable, a data column or an extracted value.',
  'Blitz forms: -v:NAME SPEC (= --variable NAME=SPEC), -x:c NAME (= --extract-cookie NAME),',
  '-x:h VAR=HEADER, -x:j VAR=PATH, -x:r VAR=REGEX. Thresholds may name a step: login.p95<300ms.',
  '  stampede rush -p 1-100:60 --rows users.csv --rows-mode unique \\',
  "    -X POST -d 'u=#{user}&p=#{pass}' -x:c session -x:j token=$.token https://h/login \\",
  "    -H 'authorization: Bearer #{token}' https://h/items",
].join('\n')

const SHORT_EXTRACT: Record<string, string> = {
  c: 'extract-cookie',
  h: 'extract-header',
  j: 'extract-json',
  r: 'extract-regex',
}

/**
 * Rewrites blitz's flags into ordinary options, keeping their place: `-v:NAME SPEC` →
 * `--variable NAME=SPEC`, `-x:c NAME` → `--extract-cookie NAME` (and `-x:h|j|r`).
 */
export function rewriteBlitzArgs(argv: string[]): string[] {
  const out: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === '--') {
      out.push(...argv.slice(i))
      break
    }
    const variable = /^-v:(.+)$/.exec(arg)
    const extract = /^-x:([a-z])$/.exec(arg)
    if (variable) {
      if (i + 1 >= argv.length) throw new UsageError(`${arg} needs a SPEC, e.g. ${arg} list[a,b]`)
      out.push('--variable', `${variable[1]}=${argv[++i]}`)
    } else if (extract) {
      const name = SHORT_EXTRACT[extract[1]!]
      if (!name) throw new UsageError(`unknown extraction ${arg} (use -x:c, -x:h, -x:j or -x:r)`)
      if (i + 1 >= argv.length) throw new UsageError(`${arg} needs a value`)
      out.push(`--${name}`, argv[++i]!)
    } else out.push(arg)
  }
  return out
}

const STEP_NAMES = new Set([...REQUEST_OPTIONS, ...STEP_OPTIONS].map((option) => option.name))
/** Connection options hold for every step wherever given. */
const EVERY_STEP = new Set(['insecure', 'resolve'])

/** True when the command line asks for a transaction rather than one request. */
export function isTransaction(positionals: string[], values: ParsedOptions): boolean {
  return (
    positionals.length > 1 ||
    [...STEP_OPTIONS, ...TRANSACTION_OPTIONS].some(
      (option) => option.name !== 'rows-mode' && values[option.name] !== undefined,
    )
  )
}

/**
 * The transaction a command line describes, or a scenario file's. A scenario may also
 * give the load (pattern or rate) and thresholds: they go into `values` unless the
 * command line gave them.
 */
export function transactionFromOptions(
  command: CommandSpec,
  argv: string[],
  positionals: string[],
  values: ParsedOptions,
): TransactionSpec {
  const scenarioFile = stringOption(values, 'scenario')
  if (scenarioFile !== undefined) {
    if (positionals.length > 0) throw new UsageError('give URLs or --scenario, not both')
    const scenario = loadScenario(scenarioFile)
    if (scenario.pattern !== undefined && values.pattern === undefined && values.rate === undefined)
      values.pattern = scenario.pattern
    if (scenario.rate !== undefined && values.pattern === undefined && values.rate === undefined)
      values.rate = scenario.rate
    if (scenario.thresholds) values.threshold = [...scenario.thresholds, ...listOption(values, 'threshold')]
    return validateTransaction(scenario.transaction)
  }
  if (positionals.length === 0) throw new UsageError('missing URL')
  const options: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {}
  for (const option of command.options) {
    options[option.name] = { type: option.type, multiple: option.multiple ?? false }
    if (option.short) options[option.name]!.short = option.short
  }
  const { tokens } = parseArgs({ args: argv, options, allowPositionals: true, strict: false, tokens: true })
  const everyStep: ParsedOptions = {}
  for (const name of EVERY_STEP) if (values[name] !== undefined) everyStep[name] = values[name]
  const steps: StepSpec[] = []
  let bag: ParsedOptions = {}
  let pending: string[] = []
  for (const token of tokens ?? []) {
    if (token.kind === 'positional') {
      steps.push(stepFromOptions(token.value, { ...bag, ...everyStep }, steps.length))
      bag = {}
      pending = []
    } else if (token.kind === 'option' && STEP_NAMES.has(token.name) && !EVERY_STEP.has(token.name)) {
      const value = token.value ?? true
      const spec = options[token.name]!
      if (spec.multiple) bag[token.name] = [...listOption(bag, token.name), String(value)]
      else bag[token.name] = spec.type === 'boolean' ? true : value
      pending.push(`--${token.name}`)
    }
  }
  if (pending.length > 0)
    throw new UsageError(
      `${pending.join(', ')} after the last URL: each URL closes a step with the options before it`,
    )
  const transaction: TransactionSpec = { steps }
  const variables = listOption(values, 'variable')
  if (variables.length > 0) {
    transaction.variables = {}
    for (const text of variables) {
      const [name, spec] = splitPair(text, '--variable', 'NAME=SPEC')
      transaction.variables[name] = spec
    }
  }
  const rows = stringOption(values, 'rows')
  const mode = stringOption(values, 'rows-mode')
  if (mode !== undefined && rows === undefined) throw new UsageError('--rows-mode goes with --rows')
  if (rows !== undefined) transaction.data = readRows(rows, mode ?? 'sequential')
  return validateTransaction(transaction)
}

export function readRows(file: string, mode: string): TransactionSpec['data'] {
  if (!ROW_MODES.includes(mode as RowMode))
    throw new UsageError(`--rows-mode must be one of ${ROW_MODES.join(', ')}, got "${mode}"`)
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new UsageError(`cannot read data file ${file}: ${(err as NodeJS.ErrnoException).code ?? err}`)
  }
  const name = file.split('/').pop() ?? file
  return { name, mode: mode as RowMode, table: parseDataFile(text, name) }
}

function stepFromOptions(url: string, bag: ParsedOptions, index: number): StepSpec {
  const name = stringOption(bag, 'step') ?? `step${index + 1}`
  try {
    const step: StepSpec = { request: requestSpecFromOptions(url, bag) }
    if (stringOption(bag, 'step') !== undefined) step.name = name
    const extract: ExtractSpec[] = []
    for (const cookie of listOption(bag, 'extract-cookie')) extract.push({ from: 'cookie', name: cookie })
    for (const text of listOption(bag, 'extract-header')) {
      const [as, header] = splitPair(text, '--extract-header', 'VAR=HEADER')
      extract.push({ from: 'header', name: header, as })
    }
    for (const text of listOption(bag, 'extract-json')) {
      const [as, path] = splitPair(text, '--extract-json', 'VAR=PATH')
      extract.push({ from: 'json', path, as })
    }
    for (const text of listOption(bag, 'extract-regex')) {
      const [as, pattern] = splitPair(text, '--extract-regex', 'VAR=REGEX')
      extract.push({ from: 'regex', pattern, as })
    }
    if (extract.length > 0) step.extract = extract
    const think = stringOption(bag, 'think')
    if (think !== undefined) step.think = parseThink(think)
    const follow = stringOption(bag, 'follow')
    if (follow !== undefined) {
      const hops = Number(follow)
      if (!Number.isInteger(hops) || hops < 0 || hops > 20) throw new UsageError('--follow takes 0..20')
      step.followRedirects = hops
    }
    return step
  } catch (err) {
    if (err instanceof UsageError && !err.message.startsWith('step '))
      throw new UsageError(`step ${name}: ${err.message}`)
    throw err
  }
}

export function parseThink(text: string): { minMs: number; maxMs: number } {
  const dash = text.indexOf('-')
  const low = parseDurationSeconds(dash < 0 ? text : text.slice(0, dash)) * 1000
  const high = dash < 0 ? low : parseDurationSeconds(text.slice(dash + 1)) * 1000
  if (high < low) throw new UsageError(`think time "${text}": the range ends before it starts`)
  return { minMs: low, maxMs: high }
}

function splitPair(text: string, option: string, form: string): [string, string] {
  const eq = text.indexOf('=')
  if (eq <= 0) throw new UsageError(`${option} takes ${form}, got "${text}"`)
  return [text.slice(0, eq), text.slice(eq + 1)]
}
