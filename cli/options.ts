import { parseArgs } from 'node:util'
import { UsageError } from '../lib/errors.js'

/**
 * One table per command drives both the parser and `--help`, so the help (and the
 * README section generated from it) cannot drift from what is accepted.
 */
export interface OptionSpec {
  name: string
  short?: string
  type: 'string' | 'boolean'
  multiple?: boolean
  /** Placeholder for the value in help, e.g. PATTERN. */
  value?: string
  description: string
}

export interface CommandSpec {
  name: string
  usage: string
  /** One line for the command list. */
  tagline: string
  summary: string
  options: OptionSpec[]
  /** Extra help text after the options: forms, examples, exit codes. */
  notes?: string
}

export type ParsedOptions = Record<string, string | boolean | string[] | undefined>

export function parseCommandLine(
  command: CommandSpec,
  argv: string[],
): { values: ParsedOptions; positionals: string[] } {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {}
  for (const option of command.options) {
    options[option.name] = { type: option.type, multiple: option.multiple ?? false }
    if (option.short) options[option.name]!.short = option.short
  }
  try {
    const { values, positionals } = parseArgs({ args: argv, options, allowPositionals: true, strict: true })
    return { values: values as ParsedOptions, positionals }
  } catch (err) {
    const code = (err as { code?: string }).code
    const message = (err as Error).message
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      const option = /'([^']+)'/.exec(message)?.[1] ?? message
      throw new UsageError(`unknown option ${option} (see: stampede ${command.name} --help)`)
    }
    if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      throw new UsageError(
        `${message.split('\n')[0]?.replace(/\.$/, '')} (see: stampede ${command.name} --help)`,
      )
    }
    throw new UsageError(message.split('\n')[0] ?? message)
  }
}

export function renderHelp(command: CommandSpec): string {
  const rows = command.options.map((option) => {
    const flag = `${option.short ? `-${option.short}, ` : '    '}--${option.name}${option.value ? ` ${option.value}` : ''}`
    return [flag, option.description + (option.multiple ? ' (repeatable)' : '')] as const
  })
  const width = Math.max(...rows.map(([flag]) => flag.length)) + 2
  const lines = [`Usage: ${command.usage}`, '', command.summary, '', 'Options:']
  for (const [flag, description] of rows) lines.push(`  ${flag.padEnd(width)}${description}`)
  if (command.notes) lines.push('', command.notes.trimEnd())
  return `${lines.join('\n')}\n`
}

export function stringOption(values: ParsedOptions, name: string): string | undefined {
  const value = values[name]
  return typeof value === 'string' ? value : undefined
}

export function listOption(values: ParsedOptions, name: string): string[] {
  const value = values[name]
  return Array.isArray(value) ? value : typeof value === 'string' ? [value] : []
}

/** A positive whole number option, or a usage error naming the option. */
export function integerOption(values: ParsedOptions, name: string): number | undefined {
  const text = stringOption(values, name)
  if (text === undefined) return undefined
  const value = Number(text)
  if (!Number.isInteger(value) || value < 0)
    throw new UsageError(`--${name} must be a whole number, got "${text}"`)
  return value
}
