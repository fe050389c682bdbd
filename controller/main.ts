#!/usr/bin/env node
import { parseArgs } from 'node:util'
import { loadCredentials } from '../lib/couch/credentials.js'
import { StampedeError, UsageError } from '../lib/errors.js'
import { migrate, type Validation } from './migrate.js'
import { reconcileCommand } from './reconcile/command.js'
import { readTopology } from './topology.js'

const HELP = `Usage: stampede-controller <command> [options]

Commands:
  migrate --topology FILE   create the databases of every region, install or upgrade the
                            design documents, set up replication between every pair of regions
  reconcile --topology FILE (--once | --loop)
                            match the EC2 fleet to demand and collect garbage (see reconcile --help)

migrate options:
  --topology FILE           {"prefix"?: "stampede", "regions": [{"name": "us-east-1", "url": "https://…"}]}
  --validation auto|on|off  validate_doc_update (auto: on, except on PouchDB Server with replication)
  --dry-run                 print the plan, change nothing
  -h, --help                this help

Credentials come from STAMPEDE_COUCH_USER/STAMPEDE_COUCH_PASSWORD or STAMPEDE_COUCH_CREDENTIALS_FILE,
never from the command line.
`

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(HELP)
    return command === undefined ? 2 : 0
  }
  try {
    if (command === 'reconcile') return await reconcileCommand(rest)
    if (command !== 'migrate')
      throw new UsageError(`unknown command "${command}" (commands: migrate, reconcile)`)
    let values: { topology?: string; validation?: string; 'dry-run'?: boolean; help?: boolean }
    try {
      ;({ values } = parseArgs({
        args: rest,
        strict: true,
        options: {
          topology: { type: 'string' },
          validation: { type: 'string' },
          'dry-run': { type: 'boolean' },
          help: { type: 'boolean', short: 'h' },
        },
      }))
    } catch (err) {
      throw new UsageError((err as Error).message)
    }
    if (values.help) {
      process.stdout.write(HELP)
      return 0
    }
    if (!values.topology) throw new UsageError('migrate needs --topology FILE')
    const validation = (values.validation ?? 'auto') as Validation
    if (!['auto', 'on', 'off'].includes(validation))
      throw new UsageError('--validation must be auto, on or off')
    const topology = readTopology(values.topology)
    const actions = await migrate(topology, {
      credentials: loadCredentials(),
      validation,
      dryRun: values['dry-run'] === true,
      report: (line) => process.stdout.write(`${line}\n`),
    })
    const changes = actions.filter((action) => action.kind !== 'warn').length
    process.stdout.write(
      changes === 0
        ? 'nothing to change\n'
        : `${changes} change${changes === 1 ? '' : 's'}${values['dry-run'] ? ' planned' : ' made'}\n`,
    )
    return 0
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`stampede-controller: ${err.message}\n`)
      return 2
    }
    const message = err instanceof StampedeError ? err.message : ((err as Error).stack ?? String(err))
    process.stderr.write(`stampede-controller: ${message}\n`)
    return 1
  }
}

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code
})
