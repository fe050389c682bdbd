import type { AddressInfo } from 'node:net'
import { BLITZ_REGIONS } from '../api/regions.js'
import { buildApi } from '../api/server.js'
import { connectCouch } from '../lib/couch/client.js'
import type { Credentials } from '../lib/couch/credentials.js'

/**
 * The tenant API of the local appliance, on 127.0.0.1: its proofs may fetch loopback
 * addresses (the demo target lives there), and a `local` tenant is created with the demo
 * target's host pre-authorized, as an operator would with `tenants authorize`.
 */
export async function startLocalApi(options: {
  couchUrl: string
  prefix: string
  regions: string[]
  /** The CouchDB login: the API holds it, tenants never see it. */
  credentials: Credentials
}) {
  const couch = connectCouch(options.couchUrl, { prefix: options.prefix, credentials: options.credentials })
  const regionMap = Object.fromEntries(
    Object.entries(BLITZ_REGIONS).filter(([, region]) => options.regions.includes(region)),
  )
  const api = await buildApi({
    couch,
    regions: options.regions,
    regionMap,
    proof: { policy: { allowLoopback: true, allowPrivate: true }, timeoutMs: 5000 },
    proofTtlMs: 86_400_000,
    rateLimit: 0,
  })
  await api.app.listen({ host: '127.0.0.1', port: 0 })
  const url = `http://127.0.0.1:${(api.app.server.address() as AddressInfo).port}`
  const now = Date.now()
  const { tenant, key } = await api.store.createTenant('local', { maxUsers: 10_000, maxDuration: 3600 }, now)
  const host = await api.store.hostOrNew(tenant.name, '127.0.0.1', now)
  await api.store.saveHost({ ...host, operator: true, provenAt: now, provenBy: 'operator' })
  return { url, user: tenant.name, key, close: () => api.app.close() }
}
