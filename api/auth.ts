import type { FastifyRequest } from 'fastify'
import { hashKey } from './keys.js'
import { ApiProblem } from './service.js'
import type { ApiStore, TenantDoc } from './store.js'

/**
 * Who is asking: blitz's `X-API-User` + `X-API-Key`, or `Authorization: Bearer KEY`
 * (header names in any case: Node lower-cases them). Tenants found are cached for a few
 * seconds per key hash, so a client polling status does not cost two reads per request;
 * a disabled tenant or a rotated key stops working within that time.
 */
export interface Credentials {
  key: string
  user?: string
}

export function credentialsOf(request: Pick<FastifyRequest, 'headers'>): Credentials | undefined {
  const headers = request.headers
  const authorization = headers.authorization
  if (typeof authorization === 'string') {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization)
    if (match) return { key: match[1]! }
  }
  const key = headers['x-api-key']
  if (typeof key === 'string' && key.length > 0) {
    const user = headers['x-api-user']
    return { key, ...(typeof user === 'string' && user.length > 0 && { user }) }
  }
  return undefined
}

export class Authenticator {
  readonly #store: ApiStore
  readonly #ttlMs: number
  readonly #clock: () => number
  readonly #cache = new Map<string, { tenant: TenantDoc | undefined; until: number }>()

  constructor(store: ApiStore, ttlMs: number, clock: () => number) {
    this.#store = store
    this.#ttlMs = ttlMs
    this.#clock = clock
  }

  /** The tenant, or a 401 problem (the same whatever was wrong: no hint for guessing). */
  async tenant(credentials: Credentials | undefined): Promise<TenantDoc> {
    if (!credentials || credentials.key.length > 200 || (credentials.user?.length ?? 0) > 200) {
      throw new ApiProblem(
        'unauthorized',
        401,
        'an API key is required (X-API-User and X-API-Key, or Authorization: Bearer KEY)',
      )
    }
    const cacheKey = `${hashKey(credentials.key)}\u0000${credentials.user?.toLowerCase() ?? ''}`
    const now = this.#clock()
    let entry = this.#cache.get(cacheKey)
    if (!entry || entry.until <= now) {
      const tenant = await this.#store.authenticate(credentials.key, credentials.user)
      entry = { tenant, until: now + this.#ttlMs }
      if (this.#cache.size > 10_000) this.#cache.clear()
      this.#cache.set(cacheKey, entry)
    }
    if (!entry.tenant) throw new ApiProblem('unauthorized', 401, 'unknown user or wrong API key')
    if (entry.tenant.disabled)
      throw new ApiProblem('forbidden', 403, `tenant ${entry.tenant.name} is disabled`)
    return entry.tenant
  }
}
