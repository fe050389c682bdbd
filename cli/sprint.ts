import { hasCode, UsageError } from '../lib/errors.js'
import { LOCAL_POLICY } from '../load/safety.js'
import { sprint } from '../load/sprint.js'
import { apiSprint } from './api-commands.js'
import { API_OPTION, remoteApi } from './api-options.js'
import { type CommandSpec, type ParsedOptions, stringOption } from './options.js'
import { formatSprint } from './report.js'
import { REQUEST_OPTIONS, requestSpecFromOptions } from './request-options.js'
import { isTransaction, STEP_OPTIONS, TRANSACTION_OPTIONS } from './transaction-options.js'
import { sprintTransactionCommand } from './transaction-sprint.js'

export const SPRINT: CommandSpec = {
  name: 'sprint',
  usage: 'stampede sprint URL [options]',
  tagline: 'send one request and show every detail, each phase timed',
  summary:
    'Send one request on a fresh connection and show every detail: the address connected to,\n' +
    'status line, headers, body size and its first bytes, TLS details, and the time each phase\n' +
    'took (DNS, connect, TLS, first byte, download).',
  options: [
    ...REQUEST_OPTIONS,
    ...STEP_OPTIONS,
    ...TRANSACTION_OPTIONS,
    {
      name: 'json',
      type: 'string',
      value: 'FILE',
      description: 'write the details as JSON to FILE (- for stdout)',
    },
    API_OPTION,
    {
      name: 'region',
      type: 'string',
      value: 'NAME',
      description: 'with --api: the region whose engine sends it',
    },
    { name: 'help', short: 'h', type: 'boolean', description: 'show this help' },
  ],
  notes:
    'With --api the request is sent by an engine of --region, not by this machine.\n' +
    'Several URLs (or --scenario) make a transaction, as for rush: one pass by one user, every\n' +
    "step's request and response in full, with the variables it used and what it extracted.\n\n" +
    'Exit status: 0 a response with an expected status, 99 another status, 1 no response, 2 bad usage\nor a refused target.',
}

export async function sprintCommand(
  positionals: string[],
  values: ParsedOptions,
  argv: string[] = [],
): Promise<number> {
  if (isTransaction(positionals, values)) {
    if (remoteApi(values) !== undefined)
      throw new UsageError(
        'a sprint of a transaction runs here, not on an engine: drop --api (rush --api takes transactions)',
      )
    return sprintTransactionCommand(SPRINT, positionals, values, argv)
  }
  if (positionals.length > 1) throw new UsageError(`expected one URL, got ${positionals.length}`)
  const spec = requestSpecFromOptions(positionals[0], values)
  const api = remoteApi(values)
  if (api === undefined && values.region !== undefined) throw new UsageError('--region goes with --api')
  const result =
    api !== undefined
      ? await apiSprint(api, spec, stringOption(values, 'region'))
      : await sprint(spec, LOCAL_POLICY)
  if (result.error && hasCode(result.error, 'STAMPEDE_ADDRESS_REFUSED'))
    throw new UsageError(result.error.message)
  const jsonFile = stringOption(values, 'json')
  const text = formatSprint(result)
  if (jsonFile === '-') {
    process.stderr.write(text)
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`)
  } else {
    process.stdout.write(text)
    if (jsonFile !== undefined) {
      const { writeFileSync } = await import('node:fs')
      try {
        writeFileSync(jsonFile, `${JSON.stringify(result, null, 2)}\n`)
      } catch (err) {
        throw new UsageError(`cannot write --json ${jsonFile}: ${(err as NodeJS.ErrnoException).code ?? err}`)
      }
    }
  }
  if (result.error) return 1
  return result.passed ? 0 : 99
}
