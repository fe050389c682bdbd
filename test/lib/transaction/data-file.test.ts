import t from 'tap'
import { UsageError } from '../../../lib/errors.js'
import { parseCsv, parseDataFile, parseJsonLines } from '../../../lib/transaction/data-file.js'

t.test('RFC 4180 CSV with a header row', async (t) => {
  const text = '\ufeffuser,pass,note\r\nann,"p,1","say ""hi"""\r\nbob,p2,"two\nlines"\n\ncid,p3,\n'
  t.same(parseCsv(text), {
    columns: ['user', 'pass', 'note'],
    rows: [
      ['ann', 'p,1', 'say "hi"'],
      ['bob', 'p2', 'two\nlines'],
      ['cid', 'p3', ''],
    ],
  })
  t.same(parseCsv('a\n1'), { columns: ['a'], rows: [['1']] }, 'no final line break')
})

t.test('a ragged row and broken quoting are one-line errors with the line', async (t) => {
  t.throws(() => parseCsv('a,b\n1,2\n"x\ny",2,3\n', 'users.csv'), {
    message: 'users.csv line 3: 3 fields, the header has 2',
  })
  t.throws(() => parseCsv('a,b\n1,"2\n', 'u.csv'), { message: 'u.csv line 2: unterminated quoted field' })
  t.throws(() => parseCsv('a,b\n1,"2"x\n', 'u.csv'), { message: 'u.csv line 2: text after a closing quote' })
  t.throws(() => parseCsv('a,b\n1,2"\n', 'u.csv'), UsageError)
  t.throws(() => parseCsv('', 'u.csv'), UsageError)
  t.throws(() => parseCsv('a,a\n1,2', 'u.csv'), { message: 'u.csv: column "a" appears twice' })
  t.throws(() => parseCsv('a b\n1', 'u.csv'), UsageError)
})

t.test('JSON lines', async (t) => {
  t.same(parseJsonLines('{"user":"ann","id":1}\n\n{"user":"bob","id":{"x":2}}\n'), {
    columns: ['user', 'id'],
    rows: [
      ['ann', '1'],
      ['bob', '{"x":2}'],
    ],
  })
  t.throws(() => parseJsonLines('{"a":1}\n{"b":1}', 'u.jsonl'), {
    message: /^u\.jsonl line 2: keys b differ/,
  })
  t.throws(() => parseJsonLines('{"a":1}\n[1]', 'u.jsonl'), {
    message: 'u.jsonl line 2: expected a JSON object',
  })
  t.throws(() => parseJsonLines('{"a":', 'u.jsonl'), { message: /^u\.jsonl line 1: not JSON/ })
  t.same(parseDataFile('{"a":"1"}', 'x.ndjson').rows, [['1']])
  t.same(parseDataFile('a\n1', 'x.csv').rows, [['1']])
})
