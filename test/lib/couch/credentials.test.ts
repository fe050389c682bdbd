import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { loadCredentials, parseCouchUrl } from '../../../lib/couch/credentials.js'
import { UsageError } from '../../../lib/errors.js'

const dir = mkdtempSync(join(tmpdir(), 'stampede-credentials-'))
const file = (name: string, text: string) => {
  const path = join(dir, name)
  writeFileSync(path, text)
  return path
}

t.test('credentials come from the environment or a file, with a clear error when unusable', async (t) => {
  t.equal(loadCredentials({}), undefined, 'none: an admin-party server')
  t.same(loadCredentials({ STAMPEDE_COUCH_USER: 'u', STAMPEDE_COUCH_PASSWORD: 'p:w' }), {
    username: 'u',
    password: 'p:w',
  })
  t.same(loadCredentials({ STAMPEDE_COUCH_CREDENTIALS_FILE: file('plain', 'u:p:w\n') }), {
    username: 'u',
    password: 'p:w',
  })
  t.same(
    loadCredentials({ STAMPEDE_COUCH_CREDENTIALS_FILE: file('json', '{"username":"u","password":"p"}') }),
    {
      username: 'u',
      password: 'p',
    },
  )
  t.throws(() => loadCredentials({ STAMPEDE_COUCH_USER: 'u' }), UsageError)
  t.throws(() => loadCredentials({ STAMPEDE_COUCH_CREDENTIALS_FILE: file('broken', '{"username": ') }), {
    message: /is not valid JSON/,
  })
  t.throws(() => loadCredentials({ STAMPEDE_COUCH_CREDENTIALS_FILE: join(dir, 'missing') }), UsageError)
})

t.test('a CouchDB URL carries no credentials', async (t) => {
  t.throws(() => parseCouchUrl('http://admin:secret@127.0.0.1:5984', '--couch'), {
    message: /not in the URL/,
  })
  t.equal(parseCouchUrl('http://127.0.0.1:5984', '--couch').port, '5984')
})
