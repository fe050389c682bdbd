import fc from 'fast-check'
import t from 'tap'
import { nestShare, type Share } from '../../../lib/pattern.js'
import { RowPicker } from '../../../lib/transaction/rows.js'

const never = () => {
  throw new Error('no random draw expected')
}

t.test(
  'unique rows: across any region → engine → process split, each row is used at most once and all are used',
  async () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 300 }),
        fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 3 }),
        (rows, levels) => {
          // Every leaf of a tree with `levels[i]` children per node at depth i.
          let shares: Share[] = [{ index: 0, of: 1 }]
          for (const width of levels) {
            shares = shares.flatMap((outer) =>
              Array.from({ length: width }, (_, index) => nestShare(outer, { index, of: width })),
            )
          }
          const used = new Array(rows).fill(0)
          for (const share of shares) {
            const picker = new RowPicker(rows, share, 'unique')
            let taken = 0
            for (let row = picker.next(never); row >= 0; row = picker.next(never)) {
              used[row]++
              taken++
            }
            if (taken !== picker.owned) return false
            if (picker.next(never) !== -1) return false
          }
          return used.every((count) => count === 1)
        },
      ),
    )
  },
)

t.test('sequential rows wrap around, random rows stay in range', async (t) => {
  const picker = new RowPicker(3, { index: 1, of: 2 }, 'sequential')
  t.same(
    Array.from({ length: 5 }, () => picker.next(never)),
    [1, 0, 2, 1, 0],
  )
  let draw = 0
  const random = () => [0, 0.99, 0.5][draw++ % 3]!
  const randomPicker = new RowPicker(10, { index: 0, of: 1 }, 'random')
  t.same([randomPicker.next(random), randomPicker.next(random), randomPicker.next(random)], [0, 9, 5])
  t.equal(new RowPicker(0, { index: 0, of: 1 }, 'sequential').next(never), -1)
})
