import { writeFileSync } from 'node:fs'
import { UsageError } from '../lib/errors.js'
import { stepName } from '../lib/transaction/spec.js'
import { LOCAL_POLICY } from '../load/safety.js'
import { sprintTransaction } from '../load/transaction/sprint.js'
import { type CommandSpec, type ParsedOptions, stringOption } from './options.js'
import { transactionFromOptions } from './transaction-options.js'
import { formatTransactionSprint, transactionSprintJson } from './transaction-report.js'

/**
 * `stampede sprint` of a transaction. Exit 0 when every step answered as expected, 99 when
 * a step failed its status or extraction, 1 when a step got no answer.
 */
export async function sprintTransactionCommand(
  command: CommandSpec,
  positionals: string[],
  values: ParsedOptions,
  argv: string[],
): Promise<number> {
  const transaction = transactionFromOptions(command, argv, positionals, values)
  const records = await sprintTransaction(transaction, LOCAL_POLICY)
  const refused = records.find((record) => record.error?.startsWith('refused'))
  if (refused && records.length === 1) throw new UsageError(refused.error!.replace(/^refused: /, ''))
  const text = formatTransactionSprint(records)
  const jsonFile = stringOption(values, 'json')
  const json = `${JSON.stringify(transactionSprintJson(records), null, 2)}\n`
  if (jsonFile === '-') {
    process.stderr.write(text)
    process.stdout.write(json)
  } else {
    process.stdout.write(text)
    if (jsonFile !== undefined) {
      try {
        writeFileSync(jsonFile, json)
      } catch (err) {
        throw new UsageError(`cannot write --json ${jsonFile}: ${(err as NodeJS.ErrnoException).code ?? err}`)
      }
    }
  }
  const last = records.at(-1)
  const lastStep = stepName(transaction.steps.at(-1)!, transaction.steps.length - 1)
  const complete = records.length > 0 && !last?.error && last?.step === lastStep
  if (complete) return 0
  if (last?.response) return 99
  return 1
}
