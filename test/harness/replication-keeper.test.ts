/**
 * The partition test's watchdog (test/harness/replication-keeper.ts): a replication that stops
 * delivering is restarted, and the data flows again once the link is back.
 */
import t from 'tap'
import { getDoc } from '../../lib/couch/client.js'
import { cleanups, waitFor } from './couch.js'
import { regionsBehindProxies } from './plane.js'
import { keepReplicating } from './replication-keeper.js'

if (process.env.COUCHDB_URL) {
  t.plan(0, 'a real CouchDB restarts its replications itself: the watchdog does nothing there')
} else {
  t.test('a replication that stops delivering is restarted; after the heal the data arrives', async (t) => {
    const later = cleanups(t)
    const {
      prefix,
      servers: [east, west],
      links: [eastLink, westLink],
    } = await regionsBehindProxies(later, ['us-east-1', 'us-west-1'])
    const keeper = await keepReplicating({ 'us-east-1': east, 'us-west-1': west }, prefix, {
      everyMs: 100,
      graceMs: 1000,
    })
    later(() => keeper.stop())
    // Two regions, each pulling every database from the other: one restart of each at once.
    const pulls = keeper.restarted
    t.ok(pulls >= 2 && pulls % 2 === 0, `every replication restarted once at the start (${pulls})`)

    eastLink.cut('drop')
    westLink.cut('drop')
    await waitFor('a replication restarted for not delivering', () => keeper.restarted > pulls)
    t.pass('a replication that stopped delivering was restarted')

    eastLink.heal()
    westLink.heal()
    const fleet = east.couch.names.fleet
    await east.couch.db(fleet).insert({ _id: 'after-the-heal' } as never)
    await waitFor('the document written in the east reaches the west', () =>
      getDoc(west.couch.db(fleet), 'after-the-heal'),
    )
    t.pass('replication delivers again after the heal')
  })
}
