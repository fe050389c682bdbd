// biome-ignore-all lint/suspicious/noExplicitAny: JSON answers of the API, read field by field
import type { AddressInfo } from 'node:net'
import type { Quotas } from '../../api/quotas.js'
import { type Api, type ApiOptions, buildApi } from '../../api/server.js'
import { cleanups, startCouch, type TestCouch } from '../harness/couch.js'
import { migrateRegions, startEngine, type TestEngine } from '../harness/plane.js'
import { startTarget, type Target } from '../harness/target.js'

/**
 * An API on 127.0.0.1 over a migrated test CouchDB (one server holds every region's
 * databases, as the appliance does), with engines per region when asked, a target,
 * and tenants made through the store the operator commands use.
 */
export interface ApiPlane {
  server: TestCouch
  api: Api
  url: string
  target: Target
  engines: TestEngine[]
  later: (fn: () => unknown) => void
  tenant(name: string, quotas?: Partial<Quotas>, authorize?: string[]): Promise<{ user: string; key: string }>
  /** Another API process-equivalent on the same databases. */
  another(overrides?: Partial<ApiOptions>): Promise<{ api: Api; url: string }>
}

export async function apiPlane(
  t: { teardown(fn: () => unknown): void },
  options: { regions?: string[]; engines?: number; api?: Partial<ApiOptions> } = {},
): Promise<ApiPlane> {
  const later = cleanups(t)
  const regions = options.regions ?? ['us-east-1']
  const server = await startCouch()
  later(() => server.stop())
  const target = await startTarget(2)
  later(() => target.close())
  await migrateRegions(Object.fromEntries(regions.map((region) => [region, server])), server.prefix)
  const engines: TestEngine[] = []
  for (const region of regions) {
    for (let i = 0; i < (options.engines ?? 0); i++) {
      const engine = await startEngine(server.url, server.prefix, `i-${region}-${i}`, region)
      later(() => engine.engine.stop())
      engines.push(engine)
    }
  }
  const start = async (overrides: Partial<ApiOptions> = {}) => {
    const api = await buildApi({
      couch: server.couch,
      regions,
      regionMap: { virginia: 'us-east-1', ireland: 'eu-west-1' },
      proof: { policy: { allowLoopback: true, allowPrivate: false }, timeoutMs: 2000 },
      proofTtlMs: 60_000,
      startLeadMs: 500,
      mergePollMs: 100,
      ...options.api,
      ...overrides,
    })
    await api.app.listen({ host: '127.0.0.1', port: 0 })
    later(() => api.app.close())
    const { port } = api.app.server.address() as AddressInfo
    return { api, url: `http://127.0.0.1:${port}` }
  }
  const first = await start()
  return {
    server,
    api: first.api,
    url: first.url,
    target,
    engines,
    later,
    another: start,
    async tenant(name, quotas = {}, authorize = ['127.0.0.1']) {
      const { tenant, key } = await createTenant(first.api, name, quotas)
      for (const host of authorize) {
        const doc = await first.api.store.hostOrNew(tenant.name, host, Date.now())
        await first.api.store.saveHost({ ...doc, operator: true, provenAt: Date.now(), provenBy: 'operator' })
      }
      return { user: tenant.name, key }
    },
  }
}

/**
 * Creates a tenant as the operator command does. On a loaded machine PouchDB Server closes
 * idle keep-alive sockets under nano ("other side closed"); the set-up tries again then
 * (a tenant left half-made by the first try is the same name: reuse is refused, so a
 * fresh store read decides).
 */
async function createTenant(api: Api, name: string, quotas: Partial<Quotas>) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await api.store.createTenant(name, quotas, Date.now())
    } catch (err) {
      if (attempt >= 3 || !/other side closed|ECONNRESET/.test((err as Error).message)) throw err
      const half = await api.store.tenant(name)
      if (half) return { tenant: half, key: await api.store.rotateKey(name, Date.now()) }
    }
  }
}

/** fetch with a key; JSON in, status + parsed body out. */
export async function call(
  base: string,
  method: string,
  path: string,
  options: {
    key?: string
    user?: string
    body?: unknown
    headers?: Record<string, string>
    raw?: string
  } = {},
): Promise<{ status: number; body: any; headers: Headers }> {
  const headers: Record<string, string> = { ...options.headers }
  if (options.key !== undefined && options.user === undefined) headers.authorization = `Bearer ${options.key}`
  if (options.key !== undefined && options.user !== undefined) {
    headers['x-api-user'] = options.user
    headers['x-api-key'] = options.key
  }
  let body: string | undefined = options.raw
  if (options.body !== undefined) {
    body = JSON.stringify(options.body)
    headers['content-type'] ??= 'application/json'
  }
  const response = await fetch(`${base}${path}`, { method, headers, ...(body !== undefined && { body }) })
  const text = await response.text()
  let parsed: unknown = text
  try {
    parsed = JSON.parse(text)
  } catch {}
  return { status: response.status, body: parsed, headers: response.headers }
}
