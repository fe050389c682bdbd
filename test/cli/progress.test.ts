import t from 'tap'
import { Progress } from '../../cli/progress.js'
import { createHistogram, recordMicros } from '../../lib/histogram.js'
import { emptyPoint } from '../../lib/timeline.js'

/** Carriage return, then ANSI "erase the whole line". */
const CLEAR_LINE = '\r\u001b[2K'

function fakeStream(isTTY: boolean) {
  const writes: string[] = []
  const stream = { isTTY, write: (text: string) => writes.push(text) } as unknown as NodeJS.WriteStream
  return { stream, writes }
}

function second(t: number, hits: number, errors = 0) {
  const point = emptyPoint(t)
  point.hits = hits
  point.concurrency = 10
  point.errors.connect = errors
  const histogram = createHistogram()
  for (let i = 1; i <= 100; i++) recordMicros(histogram, i * 1000)
  return [point, histogram] as const
}

t.test('on a terminal one line is redrawn every second and cleared at the end', async (t) => {
  const { stream, writes } = fakeStream(true)
  const progress = new Progress(stream, 10)
  progress.second(...second(0, 500))
  progress.second(...second(1, 600, 6))
  t.equal(writes.length, 2)
  t.equal(writes[1], `${CLEAR_LINE} 2/10 s  concurrency 10  hits/s 600  p95 95.04 ms  errors 6 (0.54%)`)
  progress.done()
  t.equal(writes[2], CLEAR_LINE)
})

t.test('in a log a plain line is printed every few seconds', async (t) => {
  const { stream, writes } = fakeStream(false)
  const progress = new Progress(stream, 10, 5)
  for (let s = 0; s < 10; s++) progress.second(...second(s, 100))
  t.equal(writes.length, 2, 'seconds 5 and 10')
  t.match(writes[0], /^ 5\/10 s .*\n$/)
  t.match(writes[1], /^10\/10 s .*\n$/)
  progress.done()
  t.equal(writes.length, 2, 'nothing to clear')
})
