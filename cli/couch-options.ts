import { type Couch, connectCouch } from '../lib/couch/client.js'
import { loadCredentials, parseCouchUrl } from '../lib/couch/credentials.js'
import { DEFAULT_PREFIX } from '../lib/couch/names.js'
import { UsageError } from '../lib/errors.js'
import { type OptionSpec, type ParsedOptions, stringOption } from './options.js'

/** Where the appliance's CouchDB is: the operator's way in to the job plane. */
export const COUCH_OPTIONS: OptionSpec[] = [
  {
    name: 'couch',
    type: 'string',
    value: 'URL',
    description: "the appliance's CouchDB (any region); default $STAMPEDE_COUCH_URL",
  },
  {
    name: 'prefix',
    type: 'string',
    value: 'NAME',
    description: `database name prefix (default ${DEFAULT_PREFIX})`,
  },
]

export const COUCH_NOTES = [
  'CouchDB credentials come from the environment, never from the command line:',
  'STAMPEDE_COUCH_USER and STAMPEDE_COUCH_PASSWORD, or STAMPEDE_COUCH_CREDENTIALS_FILE (user:password).',
].join('\n')

/** The CouchDB URL given by flag or environment, if any. */
export function couchUrlOption(values: ParsedOptions): string | undefined {
  return stringOption(values, 'couch') ?? (process.env.STAMPEDE_COUCH_URL || undefined)
}

export function connectFromOptions(values: ParsedOptions, required = true): Couch | undefined {
  const url = couchUrlOption(values)
  if (url === undefined) {
    if (required) throw new UsageError('no CouchDB: give --couch URL or set STAMPEDE_COUCH_URL')
    return undefined
  }
  const prefix = stringOption(values, 'prefix')
  return connectCouch(parseCouchUrl(url, '--couch'), {
    credentials: loadCredentials(),
    ...(prefix !== undefined && { prefix }),
  })
}
