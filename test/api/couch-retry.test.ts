import t from 'tap'
import { connectCouch } from '../../lib/couch/client.js'
import { startProxy } from '../harness/proxy.js'
import { apiPlane, call } from './harness.js'

/**
 * The API's CouchDB reads are made again when one fails in transit (api/read-again.ts): a
 * connection dropped under one of them answered the tenant 503 at once. Through a proxy that
 * drops the first matching request on its way to CouchDB.
 */
t.test("a CouchDB read dropped in transit is made again: the tenant's requests succeed", async (t) => {
  const plane = await apiPlane(t)
  const { key } = await plane.tenant('alice')
  const proxy = await startProxy(plane.server.url)
  plane.later(() => proxy.close())
  const { url } = await plane.another({ couch: plane.server.connect() })
  const viaProxy = await plane.another({
    couch: connectCouch(proxy.url, { prefix: plane.server.prefix, credentials: plane.server.credentials }),
  })
  t.equal((await call(url, 'GET', '/api/v2/hosts', { key })).status, 200, 'the direct API answers')

  const dropOnce = (match: (path: string) => boolean) => {
    const hold = proxy.hold((request) => request.method === 'GET' && match(request.url))
    return hold.arrived.then((request) => {
      hold.drop()
      return request.url
    })
  }
  // The key's lookup, which every request starts with.
  const keyRead = dropOnce((path) => path.includes('/key%3A'))
  const hosts = await call(viaProxy.url, 'GET', '/api/v2/hosts', { key })
  t.match(await keyRead, /key%3A/, 'the key lookup was dropped once')
  t.equal(hosts.status, 200, `answered as without the drop: ${JSON.stringify(hosts.body)}`)
  t.same(hosts.body, (await call(url, 'GET', '/api/v2/hosts', { key })).body, 'the same answer')

  // A list of the tenant's documents (the hosts), dropped once.
  const listRead = dropOnce((path) => path.includes('_all_docs'))
  const again = await call(viaProxy.url, 'GET', '/api/v2/hosts', { key })
  await listRead
  t.equal(again.status, 200, 'the list is read again too')
})
