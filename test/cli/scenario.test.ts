import { readFileSync } from 'node:fs'
import Ajv2020 from 'ajv/dist/2020.js'
import t from 'tap'
import { parse } from 'yaml'
import { parseScenario } from '../../cli/scenario.js'
import { validateTransaction } from '../../lib/transaction/compile.js'

const schema = JSON.parse(readFileSync(new URL('../../docs/scenario.schema.json', import.meta.url), 'utf8'))
const example = parse(readFileSync(new URL('../../docs/examples/shop.yaml', import.meta.url), 'utf8'))
const csv = readFileSync(new URL('../../docs/examples/users.csv', import.meta.url), 'utf8')
// ajv comes with Fastify; the test uses it as a standard JSON Schema validator.
const validate = new (Ajv2020 as unknown as typeof Ajv2020.default)({
  strict: false,
  allErrors: true,
}).compile(schema)

t.test('the published schema and the code agree on the example and on mistakes', async (t) => {
  t.ok(validate(example), JSON.stringify(validate.errors))
  const scenario = parseScenario(example, 'shop.yaml', () => csv)
  validateTransaction(scenario.transaction)
  t.equal(scenario.transaction.steps.length, 4)
  t.equal(scenario.pattern, '1-50:30,50:30')

  const broken: [string, (doc: typeof example) => void][] = [
    ['unknown top key', (doc) => (doc.stages = [])],
    ['no steps', (doc) => (doc.steps = [])],
    ['unknown step key', (doc) => (doc.steps[0].verb = 'GET')],
    ['extraction without as', (doc) => (doc.steps[0].extract[1] = { json: '$.a' })],
    ['two extractions in one', (doc) => (doc.steps[0].extract[1] = { json: '$.a', regex: 'x', as: 'a' })],
    ['bad data mode', (doc) => (doc.data.mode = 'once')],
    ['bad think', (doc) => (doc.steps[1].think = 'soon')],
  ]
  for (const [what, change] of broken) {
    const doc = structuredClone(example)
    change(doc)
    t.notOk(validate(doc), `schema refuses: ${what}`)
    t.throws(
      () => validateTransaction(parseScenario(doc, 'shop.yaml', () => csv).transaction),
      `code refuses: ${what}`,
    )
  }
})
