import t from 'tap'
import { ERROR_CODES, hasCode, isErrorCode, StampedeError, UsageError } from '../../lib/errors.js'

t.test('codes are one list: known codes pass, anything else does not', async (t) => {
  t.ok(isErrorCode('STAMPEDE_COUCH'))
  t.notOk(isErrorCode('STAMPEDE_COUCHDB'), 'a misspelt code')
  t.notOk(isErrorCode('ECONNREFUSED'), 'a system error code')
  t.notOk(isErrorCode('toString'), 'not an inherited property')
  for (const [code, meaning] of Object.entries(ERROR_CODES)) {
    t.match(code, /^STAMPEDE_[A-Z_]+$/)
    t.ok(meaning.length > 10, `${code} says what it means`)
  }
})

t.test('hasCode reads the code of ours on any error, also one that crossed a process', async (t) => {
  t.ok(hasCode(new UsageError('bad flag'), 'STAMPEDE_USAGE'))
  t.ok(hasCode({ code: 'STAMPEDE_TIMEOUT', message: 'from a worker' }, 'STAMPEDE_TIMEOUT'))
  t.notOk(hasCode(new StampedeError('STAMPEDE_COUCH', 'x'), 'STAMPEDE_CONFLICT'))
  t.notOk(hasCode(undefined, 'STAMPEDE_COUCH'))
  // @ts-expect-error a misspelt code does not compile (npm run lint type-checks the tests)
  t.ok(new StampedeError('STAMPEDE_COUCHH', 'x'))
})
