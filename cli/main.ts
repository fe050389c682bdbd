#!/usr/bin/env node
import { StampedeError, UsageError } from '../lib/errors.js'
import { VERSION } from '../lib/version.js'
import { COMMANDS, mainHelp } from './commands.js'
import { parseCommandLine, renderHelp } from './options.js'
import { rewriteBlitzArgs } from './transaction-options.js'

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
    if (!command) {
      throw new UsageError(
        `unknown command "${name}" (commands: ${COMMANDS.map(([spec]) => spec.name).join(', ')})`,
      )
    }
    const [spec, handler] = command
    // blitz's -v:NAME SPEC and -x:c NAME become ordinary options, in place.
    const args = rewriteBlitzArgs(rest)
    const { values, positionals } = parseCommandLine(spec, args)
    if (values.help) {
      process.stdout.write(renderHelp(spec))
      return 0
    }
    return await handler(positionals, values, args)
  } catch (err) {
    // Usage errors and refusals may come back from a worker process as plain coded errors.
    const badInput =
      err instanceof StampedeError &&
      (err.code === 'STAMPEDE_USAGE' || err.code === 'STAMPEDE_ADDRESS_REFUSED')
    if (err instanceof UsageError || badInput) {
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

process.exitCode = await main(process.argv.slice(2))
