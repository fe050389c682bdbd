import t from 'tap'
import { UsageError } from '../../../lib/errors.js'
import { compileTemplate, renderTemplate } from '../../../lib/transaction/template.js'

const slots: Record<string, number> = { user: 0, id: 1 }
const slotOf = (name: string) => slots[name]

t.test('a template compiles once into texts and slots, and renders by joining', async (t) => {
  const template = compileTemplate('/u/#{user}/items/#{ id }?x=#{user}', slotOf, 'step a: url')
  t.same(template.texts, ['/u/', '/items/', '?x=', ''])
  t.same(template.slots, [0, 1, 0])
  t.equal(template.constant, false)
  t.equal(renderTemplate(template, ['bob', '42']), '/u/bob/items/42?x=bob')
  const plain = compileTemplate('/plain', slotOf, 'w')
  t.equal(plain.constant, true)
  t.equal(renderTemplate(plain, []), '/plain')
  t.equal(renderTemplate(compileTemplate('#{user}', slotOf, 'w'), ['x']), 'x')
})

t.test('unknown names and unterminated #{ are one-line errors naming the place', async (t) => {
  t.throws(() => compileTemplate('/a/#{nope}', slotOf, 'step login: url'), {
    message: 'step login: url: unknown variable "nope"',
  })
  t.throws(() => compileTemplate('/a/#{user', slotOf, 'step login: body'), {
    message: 'step login: body: unterminated #{ at character 4',
  })
  t.throws(() => compileTemplate('#{}', slotOf, 'w'), UsageError)
})
