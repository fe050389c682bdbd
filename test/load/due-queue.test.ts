import t from 'tap'
import { DueQueue } from '../../load/due-queue.js'

t.test('due times come out oldest first, across wrap-arounds and growth', async (t) => {
  const queue = new DueQueue()
  const pushed: number[] = []
  const shifted: number[] = []
  const sizes: [number, number][] = []
  let next = 0.5
  // Interleaved pushes and shifts wrap the ring many times; bursts past 64 make it grow.
  for (let round = 0; round < 50; round++) {
    const burst = round % 7 === 0 ? 300 : 40
    for (let i = 0; i < burst; i++) {
      queue.push(next)
      pushed.push(next)
      next += 1.25
    }
    for (let i = 0; i < 35; i++) shifted.push(queue.shift())
    sizes.push([queue.size, pushed.length - shifted.length])
  }
  while (queue.size > 0) shifted.push(queue.shift())
  t.same(shifted, pushed, 'every due time came out once, in order')
  t.ok(
    sizes.every(([size, held]) => size === held),
    'the size is what was pushed and not shifted',
  )
})

t.test('clear empties the queue and says how many it held', async (t) => {
  const queue = new DueQueue()
  for (let i = 0; i < 100; i++) queue.push(i + 0.1)
  queue.shift()
  t.equal(queue.clear(), 99)
  t.equal(queue.size, 0)
  queue.push(7.5)
  t.equal(queue.shift(), 7.5, 'usable after a clear')
})
