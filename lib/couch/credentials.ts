import { readFileSync } from 'node:fs'
import { UsageError } from '../errors.js'

export interface Credentials {
  username: string
  password: string
}

/**
 * CouchDB credentials come from the environment or a file, never from the command line
 * (which lands in shell history and `ps`): `STAMPEDE_COUCH_USER` + `STAMPEDE_COUCH_PASSWORD`,
 * or `STAMPEDE_COUCH_CREDENTIALS_FILE` holding `user:password` or `{"username","password"}`.
 * None: an admin-party server (tests).
 */
export function loadCredentials(env: NodeJS.ProcessEnv = process.env): Credentials | undefined {
  const file = env.STAMPEDE_COUCH_CREDENTIALS_FILE
  if (file) {
    let text: string
    try {
      text = readFileSync(file, 'utf8').trim()
    } catch (err) {
      throw new UsageError(`cannot read credentials file ${file}: ${(err as Error).message}`)
    }
    if (text.startsWith('{')) {
      let parsed: Partial<Credentials>
      try {
        parsed = JSON.parse(text) as Partial<Credentials>
      } catch {
        throw new UsageError(`credentials file ${file} is not valid JSON`)
      }
      if (typeof parsed.username !== 'string' || typeof parsed.password !== 'string') {
        throw new UsageError(`credentials file ${file} must hold {"username", "password"}`)
      }
      return { username: parsed.username, password: parsed.password }
    }
    const at = text.indexOf(':')
    if (at <= 0) throw new UsageError(`credentials file ${file} must hold user:password`)
    return { username: text.slice(0, at), password: text.slice(at + 1) }
  }
  const username = env.STAMPEDE_COUCH_USER
  const password = env.STAMPEDE_COUCH_PASSWORD
  if (username === undefined && password === undefined) return undefined
  if (!username || password === undefined) {
    throw new UsageError('set both STAMPEDE_COUCH_USER and STAMPEDE_COUCH_PASSWORD')
  }
  return { username, password }
}

/** A server URL as given on the command line or in a topology: no credentials in it. */
export function parseCouchUrl(text: string, where: string): URL {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw new UsageError(`${where}: invalid CouchDB URL "${text}"`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new UsageError(`${where}: CouchDB URL must be http(s)`)
  if (url.username || url.password) {
    throw new UsageError(
      `${where}: put CouchDB credentials in the environment or a credentials file, not in the URL`,
    )
  }
  return url
}

export function basicAuth(credentials: Credentials | undefined): string | undefined {
  if (!credentials) return undefined
  return `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`
}
