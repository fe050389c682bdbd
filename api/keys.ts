import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'

/**
 * API keys: 160 random bits, shown once, stored only as their SHA-256. A fast unsalted
 * hash is enough here (unlike passwords): a key has 160 bits of entropy, so there is
 * nothing to guess from its hash; it also lets a Bearer key find its tenant by id.
 */
export const KEY_PREFIX = 'stk_'

export function newApiKey(): string {
  return `${KEY_PREFIX}${randomBytes(20).toString('base64url')}`
}

export function hashKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex')
}

/** Compares a presented key with a stored hash in constant time. */
export function keyMatches(key: string, storedHash: string): boolean {
  const presented = Buffer.from(hashKey(key), 'hex')
  const stored = Buffer.from(storedHash, 'hex')
  return presented.length === stored.length && timingSafeEqual(presented, stored)
}

/** A token a tenant publishes to prove it controls a host. */
export function newProofToken(): string {
  return randomBytes(16).toString('hex')
}
