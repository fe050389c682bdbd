#!/usr/bin/env node
import { StampedeError, UsageError } from '../lib/errors.js'
import { VERSION } from '../lib/version.js'
import { type CommandSpec, parseCommandLine, type ParsedOptions, renderHelp } from './options.js'
import { RUSH, rushCommand } from './rush.js'
import { SPRINT, sprintCommand } from './sprint.js'

type Handler = (positionals: string[], values: ParsedOptions) => Promise<number>
export const COMMANDS: [CommandSpec, Handler][] = [
  [RUSH, rushCommand],
  [SPRINT, sprintCommand],
]

export function mainHelp(): string {
  const width = Math.max(...COMMANDS.map(([spec]) => spec.name.length)) + 2
  return [
    'Usage: stampede <command> [options]',
    '',
    'Stampede loads HTTP targets and measures them: a rush ramps concurrent users or an arrival',
    'rate and reports a per-second timeline, exact percentiles and a pass/fail verdict; a sprint',
    'sends one request and shows every detail.',
    '',
    'Commands:',
    ...COMMANDS.map(([spec]) => `  ${spec.name.padEnd(width)}${spec.tagline}`),
    '',
    'Run "stampede <command> --help" for its options; "stampede --version" prints the version.',
    '',
  ].join('\n')
}

/** Runs the command line and returns the exit code; errors become one line, never a stack. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    const topic = COMMANDS.find(([spec]) => spec.name === rest[0])
    process.stdout.write(topic ? renderHelp(topic[0]) : mainHelp())
    return 0
  }
  if (name === '--version' || name === '-V') {
    process.stdout.write(`stampede ${VERSION}\n`)
    return 0
  }
  const command = COMMANDS.find(([spec]) => spec.name === name)
  try {
    if (!command) throw new UsageError(`unknown command "${name}" (commands: ${COMMANDS.map(([spec]) => spec.name).join(', ')})`)
    const [spec, handler] = command
    const { values, positionals } = parseCommandLine(spec, rest)
    if (values.help) {
      process.stdout.write(renderHelp(spec))
      return 0
    }
    return await handler(positionals, values)
  } catch (err) {
    if (err instanceof UsageError || (err instanceof StampedeError && err.code === 'STAMPEDE_ADDRESS_REFUSED')) {
      process.stderr.write(`stampede: ${err.message}\n`)
      return 2
    }
    if (err instanceof StampedeError) {
      process.stderr.write(`stampede: ${err.message}\n`)
      return 1
    }
    process.stderr.write(`stampede: unexpected failure: ${(err as Error)?.stack ?? err}\n`)
    return 1
  }
}

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code
})
