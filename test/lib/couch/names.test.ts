import t from 'tap'
import { dbNames, isDbPrefix, isRegionName } from '../../../lib/couch/names.js'

t.test('one region pattern: names that can be part of a database name', async (t) => {
  for (const name of ['us-east-1', 'eu-west-1', 'local', 'a'])
    t.ok(isRegionName(name), `${name} is a region name`)
  for (const name of ['US-EAST-1', '1-east', 'us_east_1', 'us east', '', 'a'.repeat(64), undefined, 7])
    t.notOk(isRegionName(name), `${String(name)} is not`)
  t.ok(isRegionName('a'.repeat(63)))
  t.equal(dbNames('stampede').dispatch('us-east-1'), 'stampede-dispatch-us-east-1')
  t.ok(isDbPrefix('test_1-a'))
  t.notOk(isDbPrefix('Stampede'))
  t.throws(() => dbNames('Bad'), /invalid database prefix/)
})
