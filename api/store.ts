import type Nano from 'nano'
import { type Couch, couchFailure, createOnce, getDoc, statusOf, tryWrite } from '../lib/couch/client.js'
import { StampedeError, UsageError } from '../lib/errors.js'
import { hashKey, keyMatches, newApiKey, newProofToken } from './keys.js'
import {
  DEFAULT_QUOTAS,
  EMPTY_USAGE,
  type QuotaRefusal,
  type Quotas,
  release,
  reserve,
  type Usage,
} from './quotas.js'
import { readAgain } from './read-again.js'

/**
 * The API's own documents, in `<prefix>-api` (one database next to fleet and results; the
 * API creates it when missing). The API keeps nothing else: any number of instances share
 * these documents, and CouchDB revisions arbitrate between them.
 *
 *   tenant:<name>              profile, quotas, the hash of its key, disabled
 *   key:<sha256 of the key>    → tenant (a Bearer key finds its tenant by id)
 *   usage:<name>               running slots and today's count (its _rev is the quota lock)
 *   own:<name>:<kind>:<id>     the tenant's rushes and sprints, listed in id (= time) order
 *   host:<name>:<host>         the proof token for a host, and when it was last proven
 */
export interface TenantDoc {
  _id: string
  _rev?: string
  type: 'tenant'
  name: string
  keyHash: string
  quotas: Quotas
  disabled: boolean
  createdAt: number
  rotatedAt?: number
}

export interface HostDoc {
  _id: string
  _rev?: string
  type: 'host'
  tenant: string
  host: string
  token: string
  createdAt: number
  /** Epoch ms of the last successful proof. */
  provenAt?: number
  provenBy?: 'http' | 'dns' | 'operator'
  /** Pre-authorized by the operator (`tenants authorize`): never expires. */
  operator?: boolean
  lastCheck?: { at: number; ok: boolean; checks: ProofCheck[] }
}

export interface ProofCheck {
  method: 'http' | 'dns'
  url: string
  /** HTTP status, or 0 when no answer came (refused address, DNS, timeout). */
  code: number
  bytes: number
  error?: string
}

const TENANT_NAME = /^[a-z0-9][a-z0-9._@+-]{0,63}$/

export function checkTenantName(name: string): string {
  const lower = name.toLowerCase()
  if (!TENANT_NAME.test(lower))
    throw new UsageError(`invalid tenant name "${name}" (letters, digits and . _ @ + -, up to 64)`)
  return lower
}

export class ApiStore {
  readonly couch: Couch
  readonly dbName: string
  readonly #db: Nano.DocumentScope<unknown>

  constructor(couch: Couch) {
    this.couch = couch
    this.dbName = `${couch.names.prefix}-api`
    this.#db = couch.db(this.dbName)
  }

  /** Creates the database when it is missing (412: another instance just did). */
  async ensure(): Promise<void> {
    try {
      await this.couch.server.db.create(this.dbName)
    } catch (err) {
      if (statusOf(err) !== 412) throw couchFailure(err, `creating ${this.dbName}`)
    }
  }

  async createTenant(
    name: string,
    quotas: Partial<Quotas>,
    now: number,
  ): Promise<{ tenant: TenantDoc; key: string }> {
    const id = checkTenantName(name)
    const key = newApiKey()
    const tenant: TenantDoc = {
      _id: `tenant:${id}`,
      type: 'tenant',
      name: id,
      keyHash: hashKey(key),
      quotas: { ...DEFAULT_QUOTAS, ...quotas },
      disabled: false,
      createdAt: now,
    }
    if (!(await createOnce(this.#db, tenant))) throw new UsageError(`tenant ${id} already exists`)
    await this.#write({ _id: `key:${tenant.keyHash}`, type: 'key', tenant: id })
    return { tenant, key }
  }

  async tenant(name: string): Promise<TenantDoc | undefined> {
    if (!TENANT_NAME.test(name.toLowerCase())) return undefined
    return readAgain(() => getDoc<TenantDoc>(this.#db, `tenant:${name.toLowerCase()}`))
  }

  async requireTenant(name: string): Promise<TenantDoc> {
    const tenant = await this.tenant(name)
    if (!tenant) throw new UsageError(`no tenant ${name}`)
    return tenant
  }

  async listTenants(): Promise<TenantDoc[]> {
    const rows = await this.#all<TenantDoc>('tenant:', 10_000)
    return rows
  }

  async setDisabled(name: string, disabled: boolean): Promise<TenantDoc> {
    const tenant = await this.requireTenant(name)
    const next = { ...tenant, disabled }
    next._rev = await this.#write(next)
    return next
  }

  async setQuotas(name: string, quotas: Partial<Quotas>): Promise<TenantDoc> {
    const tenant = await this.requireTenant(name)
    const next = { ...tenant, quotas: { ...tenant.quotas, ...quotas } }
    next._rev = await this.#write(next)
    return next
  }

  /** A new key; the old one stops working (its key: document is deleted). */
  async rotateKey(name: string, now: number): Promise<string> {
    const tenant = await this.requireTenant(name)
    const key = newApiKey()
    const keyHash = hashKey(key)
    await this.#write({ _id: `key:${keyHash}`, type: 'key', tenant: tenant.name })
    await this.#write({ ...tenant, keyHash, rotatedAt: now })
    const old = await getDoc<{ _rev: string }>(this.#db, `key:${tenant.keyHash}`)
    if (old) await this.#db.destroy(`key:${tenant.keyHash}`, old._rev).catch(() => {})
    return key
  }

  /**
   * The tenant a key belongs to (with `user`, only if it is that tenant's key), or
   * undefined. The key is compared with the stored hash in constant time.
   */
  async authenticate(key: string, user?: string): Promise<TenantDoc | undefined> {
    let name = user?.toLowerCase()
    if (name === undefined) {
      const index = await readAgain(() => getDoc<{ tenant: string }>(this.#db, `key:${hashKey(key)}`))
      if (!index) return undefined
      name = index.tenant
    }
    const tenant = await this.tenant(name)
    if (!tenant || !keyMatches(key, tenant.keyHash)) return undefined
    return tenant
  }

  async usage(name: string): Promise<Usage> {
    const doc = await readAgain(() => getDoc<Usage & { _rev: string }>(this.#db, `usage:${name}`))
    return doc ?? EMPTY_USAGE
  }

  /**
   * Takes a quota slot for a rush. Read, decide (pure), write with the revision read; a
   * 409 means another submission (here or on another instance) wrote first: read again.
   */
  async reserve(
    tenant: TenantDoc,
    rush: string,
    until: number,
    clock: () => number,
  ): Promise<QuotaRefusal | undefined> {
    const id = `usage:${tenant.name}`
    for (let attempt = 0; attempt < 200; attempt++) {
      const current = await readAgain(() => getDoc<Usage & { _id: string; _rev?: string }>(this.#db, id))
      const decision = reserve(tenant.quotas, current ?? EMPTY_USAGE, rush, until, clock())
      if ('refusal' in decision) return decision.refusal
      const rev = await tryWrite(this.#db, { ...decision.usage, _id: id, _rev: current?._rev, type: 'usage' })
      if (rev !== undefined) return undefined
      // Spread the retries: twenty submissions at once would otherwise collide in step.
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 20 * Math.min(attempt + 1, 5)))
    }
    throw new StampedeError('STAMPEDE_CONFLICT', `quota of ${tenant.name}: too many concurrent submissions`)
  }

  async release(tenant: string, rush: string, now: number, refundToday = false): Promise<void> {
    const id = `usage:${tenant}`
    for (let attempt = 0; attempt < 50; attempt++) {
      const current = await readAgain(() => getDoc<Usage & { _id: string; _rev?: string }>(this.#db, id))
      if (!current) return
      const next = release(current, rush, now, refundToday)
      if (await tryWrite(this.#db, { ...next, _id: id, _rev: current._rev, type: 'usage' })) return
    }
  }

  async recordOwned(
    tenant: string,
    kind: 'rush' | 'sprint',
    id: string,
    at: number,
    extra: Record<string, unknown> = {},
  ): Promise<void> {
    await this.#write({ ...extra, _id: `own:${tenant}:${kind}:${id}`, type: 'own', tenant, kind, id, at })
  }

  /** The ownership record of one rush or sprint (undefined: not this tenant's). */
  async owned(
    tenant: string,
    kind: 'rush' | 'sprint',
    id: string,
  ): Promise<Record<string, unknown> | undefined> {
    return readAgain(() => getDoc(this.#db, `own:${tenant}:${kind}:${id}`))
  }

  /** The tenant's ids of one kind, newest first, `limit` at a time after `before`. */
  async listOwned(
    tenant: string,
    kind: 'rush' | 'sprint',
    limit: number,
    before?: string,
  ): Promise<string[]> {
    const prefix = `own:${tenant}:${kind}:`
    try {
      const response = await readAgain(() =>
        this.#db.list({
          descending: true,
          startkey: before !== undefined ? `${prefix}${before}` : `${prefix}\ufff0`,
          endkey: prefix,
          limit: limit + (before !== undefined ? 1 : 0),
        }),
      )
      return response.rows
        .map((row) => row.id.slice(prefix.length))
        .filter((id) => id !== before)
        .slice(0, limit)
    } catch (err) {
      throw couchFailure(err, `listing ${tenant}'s ${kind}s`)
    }
  }

  async host(tenant: string, host: string): Promise<HostDoc | undefined> {
    return readAgain(() => getDoc<HostDoc>(this.#db, hostDocId(tenant, host)))
  }

  /** The tenant's record for a host, created with a fresh token when there is none. */
  async hostOrNew(tenant: string, host: string, now: number): Promise<HostDoc> {
    const existing = await this.host(tenant, host)
    if (existing) return existing
    const doc: HostDoc = {
      _id: hostDocId(tenant, host),
      type: 'host',
      tenant,
      host,
      token: newProofToken(),
      createdAt: now,
    }
    await createOnce(this.#db, doc)
    return (await this.host(tenant, host))!
  }

  async saveHost(doc: HostDoc): Promise<HostDoc> {
    for (let attempt = 0; attempt < 10; attempt++) {
      const current = await this.host(doc.tenant, doc.host)
      const rev = await tryWrite(this.#db, { ...doc, _rev: current?._rev })
      if (rev) return { ...doc, _rev: rev }
    }
    throw new StampedeError('STAMPEDE_CONFLICT', `saving host ${doc.host} of ${doc.tenant}`)
  }

  async listHosts(tenant: string): Promise<HostDoc[]> {
    return this.#all<HostDoc>(`host:${tenant}:`, 1000)
  }

  async #all<T>(prefix: string, limit: number): Promise<T[]> {
    try {
      const response = await readAgain(() =>
        this.#db.list({
          startkey: prefix,
          endkey: `${prefix}\ufff0`,
          include_docs: true,
          limit,
        }),
      )
      return response.rows.flatMap((row) => (row.doc ? [row.doc as T] : []))
    } catch (err) {
      throw couchFailure(err, `listing ${prefix} in ${this.dbName}`)
    }
  }

  async #write(doc: { _id: string; _rev?: string; [field: string]: unknown }): Promise<string> {
    const rev = await tryWrite(this.#db, doc)
    if (rev === undefined) throw new StampedeError('STAMPEDE_CONFLICT', `writing ${doc._id}: conflict`)
    return rev
  }
}

export function hostDocId(tenant: string, host: string): string {
  return `host:${tenant}:${host.toLowerCase()}`
}
