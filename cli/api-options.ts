import { UsageError } from '../lib/errors.js'
import type { OptionSpec, ParsedOptions } from './options.js'

/** `--api URL`: through the tenant API instead of CouchDB (the key never on the command line). */
export const API_OPTION: OptionSpec = {
  name: 'api',
  type: 'string',
  value: 'URL',
  description: 'through the tenant API at URL (default $STAMPEDE_API_URL; key from $STAMPEDE_API_KEY)',
}

export const API_NOTES = [
  'Through the tenant API (--api URL or STAMPEDE_API_URL): the key comes from STAMPEDE_API_KEY or the',
  'file ~/.config/stampede/api-key (STAMPEDE_API_KEY_FILE), never from the command line.',
].join('\n')

/**
 * The API URL to use, if any: --api, else STAMPEDE_API_URL unless --couch was given.
 * Both flags at once is a usage error.
 */
export function remoteApi(values: ParsedOptions): string | undefined {
  const flag = typeof values.api === 'string' ? values.api : undefined
  const couch = typeof values.couch === 'string' ? values.couch : undefined
  if (flag !== undefined && couch !== undefined) throw new UsageError('give --api or --couch, not both')
  if (flag !== undefined) return flag
  if (couch !== undefined) return undefined
  return process.env.STAMPEDE_API_URL || undefined
}
