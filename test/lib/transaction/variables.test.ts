import t from 'tap'
import { UsageError } from '../../../lib/errors.js'
import { seededRandom } from '../../../lib/transaction/random.js'
import { compileVariable, formatVariable, parseVariable } from '../../../lib/transaction/variables.js'

t.test('blitz syntax parses into each kind', async (t) => {
  t.same(parseVariable('list[a,b,c]'), { kind: 'list', values: ['a', 'b', 'c'] })
  t.same(parseVariable('alpha[3,8,100]'), { kind: 'alpha', min: 3, max: 8, count: 100 })
  t.same(parseVariable('number[1, 9]'), { kind: 'number', min: 1, max: 9, count: 1000 })
  t.same(parseVariable('uuid'), { kind: 'uuid' })
  t.same(parseVariable('udid'), { kind: 'udid' })
  t.equal(formatVariable(parseVariable('number[1,9,5]')), 'number[1,9,5]')
})

t.test('bad variables are one-line usage errors naming the variable', async (t) => {
  for (const text of [
    'list[]',
    'alpha[5,2,3]',
    'number[1]',
    'number[a,b]',
    'uuid[3]',
    'blob[1,2]',
    'alpha[0,2]',
    'list[a',
  ]) {
    t.throws(() => parseVariable(text, 'who'), UsageError, text)
    try {
      parseVariable(text, 'who')
    } catch (err) {
      t.match((err as Error).message, /^variable who: /)
      t.notMatch((err as Error).message, /\n/)
    }
  }
})

t.test('draws stay inside the kind and pools are the same in every process', async (t) => {
  const random = seededRandom(7)
  const list = compileVariable('l', parseVariable('list[a,b,c]'))
  const seen = new Set<string>()
  for (let i = 0; i < 200; i++) seen.add(list(random))
  t.same([...seen].sort(), ['a', 'b', 'c'])

  const alpha = compileVariable('name', parseVariable('alpha[3,5,10]'))
  const alphas = new Set<string>()
  for (let i = 0; i < 500; i++) {
    const value = alpha(random)
    t.ok(/^[A-Za-z]{3,5}$/.test(value), value)
    alphas.add(value)
  }
  t.ok(alphas.size <= 10, 'at most count distinct values')
  // Another process compiling the same variable draws from the same pool.
  const again = compileVariable('name', parseVariable('alpha[3,5,10]'))
  for (let i = 0; i < 50; i++) t.ok(alphas.has(again(random)))

  const number = compileVariable('n', parseVariable('number[10,12,100]'))
  for (let i = 0; i < 200; i++) {
    const value = Number(number(random))
    t.ok(value >= 10 && value <= 12 && Number.isInteger(value))
  }
  const uuid = compileVariable('u', parseVariable('uuid'))
  t.match(uuid(random), /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
  t.not(uuid(random), uuid(random))
  t.match(compileVariable('d', parseVariable('udid'))(random), /^[0-9a-f]{40}$/)
})
