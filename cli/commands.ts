import { HOSTS, hostsCommand } from './api-commands.js'
import { DEMO, demoCommand } from './demo.js'
import type { CommandSpec, ParsedOptions } from './options.js'
import { RUSH, rushCommand } from './rush.js'
import { SPRINT, sprintCommand } from './sprint.js'
import { ABORT, abortCommand, STATUS, statusCommand } from './status.js'

/** `argv`: the command's arguments in order (a transaction's steps depend on it). */
export type Handler = (positionals: string[], values: ParsedOptions, argv: string[]) => Promise<number>

export const COMMANDS: [CommandSpec, Handler][] = [
  [RUSH, rushCommand],
  [SPRINT, sprintCommand],
  [STATUS, statusCommand],
  [ABORT, abortCommand],
  [HOSTS, hostsCommand],
  [DEMO, demoCommand],
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
