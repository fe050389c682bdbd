import type { Couch } from '../lib/couch/client.js'
import { createOnce, getDoc } from '../lib/couch/client.js'
import { abortRush, newRushId, submitRush } from '../lib/couch/rushes.js'
import { type RushDoc, type SprintDoc, sprintDocId } from '../lib/documents.js'
import { StampedeError, UsageError } from '../lib/errors.js'
import { patternDuration } from '../lib/pattern.js'
import type { RequestSpec } from '../lib/request-spec.js'
import { validateRequestSpec } from '../lib/request-spec.js'
import { newRush, type RushSpec } from '../lib/split.js'
import { parseThreshold } from '../lib/thresholds.js'
import { stepName, type TransactionSpec } from '../lib/transaction/spec.js'
import type { AddressPolicy } from '../load/safety.js'
import type { Feeds, RushFeed } from './feeds.js'
import { type ProofOptions, proofPath, proofTargetOf, proofUrl, proveHost } from './proof.js'
import { checkRushShape } from './quotas.js'
import { readAgain } from './read-again.js'
import type { ApiStore, HostDoc, ProofCheck, TenantDoc } from './store.js'
import { checkHostHeaders, stepOrigins } from './transaction.js'

/**
 * What the API does, whichever protocol asked (v1 or v2): submit, read, abort, prove.
 * Failures are `ApiProblem`s; each protocol renders them its own way.
 */
export type ProblemKind =
  | 'invalid'
  | 'quota'
  | 'authorize'
  | 'not-found'
  | 'unauthorized'
  | 'forbidden'
  | 'unsupported'
  | 'unavailable'

export class ApiProblem extends Error {
  readonly kind: ProblemKind
  readonly status: number
  readonly extra: Record<string, unknown>
  constructor(kind: ProblemKind, status: number, detail: string, extra: Record<string, unknown> = {}) {
    super(detail)
    this.kind = kind
    this.status = status
    this.extra = extra
  }
}

export interface ServiceOptions {
  /** Regions the API serves (their dispatch databases exist). */
  regions: string[]
  /** blitz region names (california, …) → the topology's regions. */
  regionMap: Record<string, string>
  proof: ProofOptions
  /** A proof holds this long before it is checked again. */
  proofTtlMs: number
  /** Time between the submission and second 0 of a rush. */
  startLeadMs?: number
  clock: () => number
}

/** A slot is held until the planned end plus this, so a late finish still counts. */
const SLOT_GRACE_MS = 30_000

export function notFound(what: string, id: string): ApiProblem {
  return new ApiProblem('not-found', 404, `no ${what} ${id}`)
}

export class ApiService {
  readonly store: ApiStore
  readonly couch: Couch
  readonly feeds: Feeds
  readonly options: ServiceOptions

  constructor(store: ApiStore, feeds: Feeds, options: ServiceOptions) {
    this.store = store
    this.couch = store.couch
    this.feeds = feeds
    this.options = options
  }

  get policy(): AddressPolicy {
    return this.options.proof.policy
  }

  /** A region name as given (the topology's, or blitz's), or a problem naming the field. */
  region(name: string, field = 'regions'): string {
    const lower = name.toLowerCase()
    const region = this.options.regionMap[lower] ?? lower
    if (!this.options.regions.includes(region)) {
      throw new ApiProblem(
        'invalid',
        400,
        `unknown region "${name}" (regions: ${this.regionNames().join(', ')})`,
        {
          field,
        },
      )
    }
    return region
  }

  regionNames(): string[] {
    const blitz = Object.entries(this.options.regionMap)
      .filter(([, region]) => this.options.regions.includes(region))
      .map(([name]) => name)
    return [...this.options.regions, ...blitz]
  }

  /**
   * Submits a rush for a tenant: the spec is checked (as the CLI checks it), then the
   * quotas, then the ownership of the host, then a running slot is taken, then the
   * documents are written exactly as `stampede rush --couch` writes them.
   */
  async submit(tenant: TenantDoc, spec: RushSpec, transaction?: TransactionSpec): Promise<RushDoc> {
    const now = this.options.clock()
    const id = newRushId(now)
    let rush: RushDoc
    try {
      // A transaction's steps are checked whole (templates included) by newRush.
      if (!transaction) validateRequestSpec(spec.request)
      const names = transaction?.steps.map(stepName) ?? []
      for (const source of (spec.thresholds as string[] | undefined) ?? []) {
        const threshold = parseThreshold(source)
        if (threshold.step !== undefined && !names.includes(threshold.step))
          throw new UsageError(
            `threshold "${source}": no step named ${threshold.step}${names.length > 0 ? ` (steps: ${names.join(', ')})` : ' (this rush has no steps)'}`,
          )
      }
      rush = newRush(
        {
          ...spec,
          ...(transaction && { transaction }),
          owner: tenant.name,
          startLeadMs: this.options.startLeadMs,
        },
        id,
        now,
      )
    } catch (err) {
      if (err instanceof StampedeError) throw new ApiProblem('invalid', 400, err.message)
      throw err
    }
    const shape = checkRushShape(tenant.quotas, spec)
    if (shape) throw new ApiProblem('quota', 403, shape.detail, { quota: shape.quota, limit: shape.limit })
    checkHostHeaders(transaction ? transaction.steps.map((step) => step.request) : [spec.request])
    // Every host the rush sends to must be proven: each step's, not only the first.
    for (const url of transaction ? stepOrigins(transaction) : [new URL(spec.request.url)])
      await this.authorize(tenant, url)
    const until = rush.startAt + patternDuration(rush.pattern) * 1000 + SLOT_GRACE_MS
    const refusal = await this.store.reserve(tenant, id, until, this.options.clock)
    if (refusal)
      throw new ApiProblem('quota', 429, refusal.detail, { quota: refusal.quota, limit: refusal.limit })
    try {
      await this.store.recordOwned(tenant.name, 'rush', id, now)
      await submitRush(
        this.couch,
        { ...spec, ...(transaction && { transaction }), owner: tenant.name, startAt: rush.startAt },
        { id, now },
      )
    } catch (err) {
      await this.store.release(tenant.name, id, this.options.clock(), true).catch(() => {})
      if (err instanceof UsageError) throw new ApiProblem('invalid', 400, err.message)
      throw err
    }
    return rush
  }

  /** The tenant's rush, merged; another tenant's answers exactly as an unknown id. */
  async rush(tenant: TenantDoc, id: string): Promise<RushFeed> {
    if (!/^[a-z0-9-]{1,64}$/.test(id)) throw notFound('rush', id)
    let feed: RushFeed
    try {
      feed = await this.feeds.feed(id)
    } catch (err) {
      if ((err as StampedeError).code === 'STAMPEDE_RUSH_NOT_FOUND') throw notFound('rush', id)
      throw err
    }
    if (feed.rush.owner !== tenant.name) throw notFound('rush', id)
    return feed
  }

  async abort(tenant: TenantDoc, id: string): Promise<RushFeed> {
    const feed = await this.rush(tenant, id)
    await abortRush(this.couch, id, `aborted through the API by ${tenant.name}`)
    await this.store.release(tenant.name, id, this.options.clock())
    return feed
  }

  async list(tenant: TenantDoc, limit: number, before?: string): Promise<string[]> {
    return this.store.listOwned(tenant.name, 'rush', limit, before)
  }

  /**
   * A sprint runs on an engine of `region`: a `sprint:` document in that region's dispatch
   * database, claimed by one engine, its full result written back.
   */
  async submitSprint(tenant: TenantDoc, request: RequestSpec, region: string): Promise<SprintDoc> {
    const now = this.options.clock()
    try {
      validateRequestSpec(request)
    } catch (err) {
      if (err instanceof StampedeError) throw new ApiProblem('invalid', 400, err.message)
      throw err
    }
    checkHostHeaders([request])
    await this.authorize(tenant, new URL(request.url))
    const id = `sp-${newRushId(now)}`
    const doc: SprintDoc = {
      _id: sprintDocId(id),
      type: 'sprint',
      sprint: id,
      region,
      request,
      owner: tenant.name,
      state: 'queued',
      createdAt: now,
    }
    await this.store.recordOwned(tenant.name, 'sprint', id, now, { region })
    await createOnce(this.couch.db(this.couch.names.dispatch(region)), doc)
    return doc
  }

  async sprint(tenant: TenantDoc, id: string): Promise<SprintDoc> {
    if (!/^sp-[a-z0-9-]{1,64}$/.test(id)) throw notFound('sprint', id)
    const owned = await this.store.owned(tenant.name, 'sprint', id)
    if (!owned) throw notFound('sprint', id)
    const doc = await readAgain(() =>
      getDoc<SprintDoc>(this.couch.db(this.couch.names.dispatch(String(owned.region))), sprintDocId(id)),
    )
    if (!doc || doc.owner !== tenant.name) throw notFound('sprint', id)
    return doc
  }

  /**
   * May this tenant load `url`'s host? Yes when the operator authorized it or a proof is
   * younger than the TTL; otherwise the proof is checked now, and a failure says how to
   * prove it (the token, the URL, the TXT record, what each check found).
   */
  async authorize(tenant: TenantDoc, url: URL): Promise<void> {
    const target = proofTargetOf(url)
    const now = this.options.clock()
    let host = await this.store.hostOrNew(tenant.name, target.host, now)
    if (host.operator) return
    if (host.provenAt !== undefined && now - host.provenAt < this.options.proofTtlMs) return
    host = await this.verify(tenant, target.host, url)
    if (host.provenAt !== undefined && now - host.provenAt < this.options.proofTtlMs) return
    throw authorizeProblem(host, url, host.lastCheck?.checks ?? [])
  }

  /** Checks the proof of a host now and records the outcome. */
  async verify(tenant: TenantDoc, hostName: string, url?: URL): Promise<HostDoc> {
    const now = this.options.clock()
    const host = await this.store.hostOrNew(tenant.name, hostName.toLowerCase(), now)
    const target = proofTargetOf(url ?? new URL(`http://${hostLiteral(host.host)}/`))
    const outcome = await proveHost(target, host.token, this.options.proof)
    const next: HostDoc = {
      ...host,
      lastCheck: { at: now, ok: outcome.ok, checks: outcome.checks },
      ...(outcome.ok && { provenAt: now, provenBy: outcome.method }),
    }
    return this.store.saveHost(next)
  }
}

function hostLiteral(host: string): string {
  return host.includes(':') ? `[${host}]` : host
}

export function authorizeProblem(host: HostDoc, url: URL, checks: ProofCheck[]): ApiProblem {
  const target = proofTargetOf(url)
  return new ApiProblem(
    'authorize',
    403,
    `prove that you control ${target.host}: serve ${proofUrl(target, host.token)} answering ${host.token}, ` +
      `or publish a TXT record _stampede.${target.host} holding it; then verify the host`,
    {
      scheme: target.scheme,
      host: target.host,
      port: target.port,
      uuid: host.token,
      path: proofPath(host.token),
      checks: checks.map(({ code, url: checked, bytes, error }) => ({
        code,
        url: checked,
        bytes,
        ...(error && { error }),
      })),
    },
  )
}

/** A rush document's request back in the API's terms. */
export function isUsage(err: unknown): err is UsageError {
  return err instanceof UsageError
}
