import t from 'tap'
import { UsageError } from '../../lib/errors.js'
import {
  arrivalCount,
  arrivalTime,
  concurrencyAt,
  formatPattern,
  levelAt,
  nestShare,
  type Pattern,
  parseDurationSeconds,
  parsePattern,
  patternDuration,
  patternPeak,
  type Share,
  shareCount,
  validatePattern,
  WHOLE,
} from '../../lib/pattern.js'
import { randomInt, seededRandom } from '../helpers/random.js'

/** Arrivals due by `t` seconds: the integral of the ramped rate, computed independently. */
function cumulativeArrivals(pattern: Pattern, t: number): number {
  let offset = 0
  let total = 0
  for (const { start, end, duration } of pattern) {
    const into = Math.min(Math.max(t - offset, 0), duration)
    const rateThere = start + ((end - start) * into) / duration
    total += ((start + rateThere) / 2) * into
    offset += duration
  }
  return total
}

/** Every k for which arrivalTime gives a time, in order, following one share. */
function scheduled(pattern: Pattern, share: Share = WHOLE): number[] {
  const numbers: number[] = []
  for (let k = share.index; arrivalTime(pattern, k) !== undefined; k += share.of) numbers.push(k)
  return numbers
}

function randomPattern(random: () => number): Pattern {
  const pattern: Pattern = []
  const intervals = randomInt(random, 1, 4)
  for (let i = 0; i < intervals; i++) {
    pattern.push({
      start: randomInt(random, 0, 60),
      end: randomInt(random, 0, 60),
      duration: randomInt(random, 1, 8),
    })
  }
  return pattern
}

t.test('parseDurationSeconds', async (t) => {
  t.test('reads bare numbers as seconds and honours ms, s, m and h', async (t) => {
    t.equal(parseDurationSeconds('60'), 60)
    t.equal(parseDurationSeconds('30s'), 30)
    t.equal(parseDurationSeconds('1.5m'), 90)
    t.equal(parseDurationSeconds('250ms'), 0.25)
    t.equal(parseDurationSeconds('2h'), 7200)
    t.equal(parseDurationSeconds(' 10s '), 10, 'surrounding spaces are ignored')
  })
  t.test('rejects anything else with a UsageError that quotes the input', async (t) => {
    for (const bad of ['', 's', '-5', '5d', '1m30s', 'ten', '1e3']) {
      t.throws(
        () => parseDurationSeconds(bad),
        new UsageError(`invalid duration "${bad}" (use e.g. 60, 30s, 2m)`),
        bad,
      )
    }
  })
})

t.test('parsePattern', async (t) => {
  t.test('reads ramps and plateaus, in order', async (t) => {
    t.same(parsePattern('1-250:60,250:30s'), [
      { start: 1, end: 250, duration: 60 },
      { start: 250, end: 250, duration: 30 },
    ])
  })
  t.test('reads fractional levels, downward ramps, unit durations and spaces', async (t) => {
    t.same(parsePattern(' 0.5-2.5:1m , 100-0:500ms '), [
      { start: 0.5, end: 2.5, duration: 60 },
      { start: 100, end: 0, duration: 0.5 },
    ])
  })
  t.test('accepts a level of zero (a pause)', async (t) => {
    t.same(parsePattern('0:10'), [{ start: 0, end: 0, duration: 10 }])
  })
  t.test('rejects an empty pattern or an empty interval', async (t) => {
    for (const bad of ['', ' ', ',', '10:5,', ',10:5', '10:5,,20:5']) {
      t.throws(
        () => parsePattern(bad),
        { name: 'UsageError', message: /^invalid pattern ".*" \(expected e\.g\. 1-250:60,250:30\)$/ },
        JSON.stringify(bad),
      )
    }
  })
  t.test('rejects a malformed interval and names it', async (t) => {
    for (const bad of ['10', 'abc', '10-:5', '-5:10', '5--10:3', '1-2-3:4', ':5', 'x-10:5']) {
      t.throws(
        () => parsePattern(`1:1,${bad}`),
        new UsageError(`invalid pattern interval "${bad}" (expected START-END:SECONDS or LEVEL:SECONDS)`),
        bad,
      )
    }
  })
  t.test('rejects a bad duration through parseDurationSeconds', async (t) => {
    t.throws(() => parsePattern('10:soon'), {
      name: 'UsageError',
      message: 'invalid duration "soon" (use e.g. 60, 30s, 2m)',
    })
  })
  t.test('rejects a zero duration', async (t) => {
    for (const bad of ['10:0', '10:0s', '1-5:0ms']) {
      t.throws(
        () => parsePattern(bad),
        new UsageError(`invalid pattern interval "${bad}": duration must be positive`),
        bad,
      )
    }
  })
  t.test('names what it was parsing in its errors', async (t) => {
    t.throws(() => parsePattern('fast', 'rate'), { message: /^invalid rate interval "fast"/ })
    t.throws(() => parsePattern('', 'users'), { message: /^invalid users ""/ })
  })
  t.test('round-trips through formatPattern', async (t) => {
    for (const text of ['1-250:60,250:30', '5:1', '0-10:2.5,10-0:2.5', '0.5:3']) {
      t.equal(formatPattern(parsePattern(text)), text)
    }
  })
})

t.test('validatePattern', async (t) => {
  t.test('accepts a pattern that arrives as data', async (t) => {
    t.doesNotThrow(() => validatePattern([{ start: 0, end: 10, duration: 5 }]))
  })
  t.test('rejects what is not a non-empty list of intervals', async (t) => {
    for (const bad of [[], {}, null, 'x', undefined]) {
      t.throws(
        () => validatePattern(bad),
        new UsageError('pattern must be a non-empty list of intervals'),
        String(bad),
      )
    }
  })
  t.test('rejects negative, missing or non-finite numbers, naming the field', async (t) => {
    t.throws(
      () => validatePattern([{ start: -1, end: 0, duration: 1 }], 'rate'),
      new UsageError('rate: interval start must be a non-negative number'),
    )
    t.throws(() => validatePattern([{ start: 1, duration: 1 }]), { message: /interval end must be/ })
    t.throws(() => validatePattern([{ start: 1, end: 1, duration: Number.POSITIVE_INFINITY }]), {
      message: /interval duration must be/,
    })
    t.throws(() => validatePattern([{ start: Number.NaN, end: 1, duration: 1 }]), {
      message: /interval start must be/,
    })
    t.throws(() => validatePattern([null]), { name: 'UsageError' })
  })
  t.test('rejects a zero duration', async (t) => {
    t.throws(
      () => validatePattern([{ start: 1, end: 1, duration: 0 }]),
      new UsageError('pattern: interval duration must be positive'),
    )
  })
})

t.test('patternDuration and patternPeak', async (t) => {
  const pattern = parsePattern('1-250:60,250:30,250-10:10')
  t.equal(patternDuration(pattern), 100, 'the duration is the sum of the intervals')
  t.equal(patternPeak(pattern), 250, 'the peak is the highest level anywhere')
  t.equal(patternPeak(parsePattern('300-0:5')), 300, 'a downward ramp peaks at its start')
})

t.test('levelAt', async (t) => {
  const pattern = parsePattern('0-100:10,100:5,100-50:5')
  t.test('ramps linearly inside an interval', async (t) => {
    t.equal(levelAt(pattern, 0), 0)
    t.equal(levelAt(pattern, 2.5), 25)
    t.equal(levelAt(pattern, 5), 50)
    t.equal(levelAt(pattern, 9.9), 99)
  })
  t.test('holds a plateau and ramps down', async (t) => {
    t.equal(levelAt(pattern, 10), 100, 'an interval boundary belongs to the next interval')
    t.equal(levelAt(pattern, 14.99), 100)
    t.equal(levelAt(pattern, 15), 100)
    t.equal(levelAt(pattern, 17.5), 75)
  })
  t.test('is zero from the end of the pattern on', async (t) => {
    t.equal(levelAt(pattern, 20), 0)
    t.equal(levelAt(pattern, 1e6), 0)
  })
  t.test('treats a time before the start as the start', async (t) => {
    t.equal(levelAt(parsePattern('7-9:2'), -3), 7)
  })
})

t.test('concurrencyAt rounds the ramp to whole users', async (t) => {
  const pattern = parsePattern('1-250:60')
  t.equal(concurrencyAt(pattern, 0), 1)
  t.equal(concurrencyAt(pattern, 30), 126, '125.5 users round up to 126')
  t.equal(concurrencyAt(pattern, 0.1), 1, '1.415 users round to 1')
  t.equal(concurrencyAt(pattern, 59.999), 250)
  t.equal(concurrencyAt(pattern, 60), 0, 'no users once the pattern is over')
  t.equal(concurrencyAt(parsePattern('0-3:3'), 1.6), 2)
})

t.test('shareCount', async (t) => {
  t.test('the whole share is the total', async (t) => {
    for (const total of [0, 1, 7, 1000]) t.equal(shareCount(total, WHOLE), total)
  })
  t.test('counts the numbers below the total that are index modulo of', async (t) => {
    t.equal(shareCount(10, { index: 0, of: 3 }), 4, '0, 3, 6, 9')
    t.equal(shareCount(10, { index: 1, of: 3 }), 3, '1, 4, 7')
    t.equal(shareCount(10, { index: 2, of: 3 }), 3, '2, 5, 8')
    t.equal(shareCount(2, { index: 2, of: 3 }), 0, 'a share whose first number is past the total is empty')
    t.equal(shareCount(0, { index: 0, of: 3 }), 0)
  })
  t.test('for any total and share count the shares sum to the total and differ by at most one', async (t) => {
    for (let of = 1; of <= 17; of++) {
      for (let total = 0; total <= 300; total++) {
        const counts = Array.from({ length: of }, (_, index) => shareCount(total, { index, of }))
        const sum = counts.reduce((a, b) => a + b, 0)
        if (sum !== total) t.fail(`total ${total} in ${of} shares sums to ${sum}`)
        if (Math.max(...counts) - Math.min(...counts) > 1)
          t.fail(`total ${total} in ${of} shares is unbalanced: ${counts}`)
        // Earlier shares never get fewer: the extra items go to the lowest indexes.
        if (counts.some((count, i) => i > 0 && count > counts[i - 1]!))
          t.fail(`total ${total} in ${of}: ${counts}`)
      }
    }
    t.pass('checked totals 0..300 in 1..17 shares')
  })
  t.test('agrees with counting the numbers one by one', async (t) => {
    const random = seededRandom(7)
    for (let i = 0; i < 500; i++) {
      const of = randomInt(random, 1, 20)
      const index = randomInt(random, 0, of - 1)
      const total = randomInt(random, 0, 200)
      let expected = 0
      for (let n = 0; n < total; n++) if (n % of === index) expected++
      t.equal(shareCount(total, { index, of }), expected, `${total} by ${index}/${of}`, { diagnostic: false })
    }
  })
})

t.test('nestShare', async (t) => {
  t.test('is the share of a share, expressed as one flat share', async (t) => {
    t.same(nestShare({ index: 1, of: 3 }, { index: 2, of: 4 }), { index: 7, of: 12 })
    t.same(nestShare(WHOLE, { index: 2, of: 5 }), { index: 2, of: 5 }, 'nesting in the whole changes nothing')
    t.same(nestShare({ index: 2, of: 5 }, WHOLE), { index: 2, of: 5 })
  })
  t.test('nested shares of every outer share partition the share numbers', async (t) => {
    for (const [outerOf, innerOf] of [
      [1, 1],
      [2, 3],
      [3, 2],
      [4, 4],
      [5, 7],
      [13, 3],
    ] as const) {
      const seen = new Array<number>(outerOf * innerOf).fill(0)
      for (let o = 0; o < outerOf; o++) {
        for (let i = 0; i < innerOf; i++) {
          const flat = nestShare({ index: o, of: outerOf }, { index: i, of: innerOf })
          t.equal(flat.of, outerOf * innerOf, { diagnostic: false })
          seen[flat.index]!++
        }
      }
      t.ok(
        seen.every((count) => count === 1),
        `${outerOf} engines × ${innerOf} workers cover every index once`,
      )
    }
  })
  t.test('for any total, nested shares sum to their outer share, and all of them to the total', async (t) => {
    const random = seededRandom(42)
    for (let run = 0; run < 400; run++) {
      const total = randomInt(random, 0, 500)
      const outer: Share = { index: 0, of: randomInt(random, 1, 9) }
      const innerOf = randomInt(random, 1, 9)
      let all = 0
      for (outer.index = 0; outer.index < outer.of; outer.index++) {
        let nested = 0
        for (let index = 0; index < innerOf; index++) {
          const count = shareCount(total, nestShare(outer, { index, of: innerOf }))
          // Taking the inner share of the outer count is the same thing.
          if (count !== shareCount(shareCount(total, outer), { index, of: innerOf })) {
            t.fail(`total ${total}: ${index}/${innerOf} of ${outer.index}/${outer.of}`)
          }
          nested += count
        }
        if (nested !== shareCount(total, outer))
          t.fail(`total ${total}: inner shares of ${outer.index}/${outer.of} sum to ${nested}`)
        all += nested
      }
      if (all !== total) t.fail(`total ${total}: all nested shares sum to ${all}`)
    }
    t.pass('checked 400 random totals and share layouts')
  })
})

t.test('arrivalTime and arrivalCount', async (t) => {
  t.test('a constant rate r over D seconds schedules r·D requests, evenly spaced', async (t) => {
    for (const [rate, duration] of [
      [10, 5],
      [1, 3],
      [250, 2],
      [4, 0.5],
    ] as const) {
      const pattern: Pattern = [{ start: rate, end: rate, duration }]
      t.equal(arrivalCount(pattern), rate * duration, `${rate}/s for ${duration}s: count`)
      const numbers = scheduled(pattern)
      t.equal(numbers.length, rate * duration, `${rate}/s for ${duration}s: scheduled`)
      const off = numbers.filter((k) => Math.abs(arrivalTime(pattern, k)! - k / rate) > 1e-9)
      t.same(off, [], `${rate}/s for ${duration}s: request k is due at k/r`)
    }
  })
  t.test('request 0 is due at once, and none is due at or past the end', async (t) => {
    const pattern = parsePattern('10:5')
    t.equal(arrivalTime(pattern, 0), 0)
    t.equal(arrivalTime(pattern, 49), 4.9)
    t.equal(arrivalTime(pattern, 50), undefined)
    t.equal(arrivalTime(pattern, 1e9), undefined)
  })
  t.test('a ramp 0→R over D schedules R·D/2, the cumulative count matching the integral', async (t) => {
    for (const [rate, duration] of [
      [100, 10],
      [10, 1],
      [1000, 3],
      [7, 4],
    ] as const) {
      const pattern: Pattern = [{ start: 0, end: rate, duration }]
      t.equal(arrivalCount(pattern), (rate * duration) / 2, `0→${rate} over ${duration}s: count`)
      const numbers = scheduled(pattern)
      t.equal(numbers.length, (rate * duration) / 2, `0→${rate} over ${duration}s: scheduled`)
      for (const k of numbers) {
        const at = arrivalTime(pattern, k)!
        // Request k is due exactly when k requests have arrived: R·t²/(2D) = k.
        if (Math.abs((rate * at * at) / (2 * duration) - k) > 1e-6) t.fail(`0→${rate}: request ${k} at ${at}`)
      }
      t.ok(
        Math.abs(arrivalTime(pattern, 1)! - Math.sqrt((2 * duration) / rate)) < 1e-12,
        'the second request waits for the ramp',
      )
    }
  })
  t.test('a downward ramp R→0 schedules R·D/2, arriving faster first', async (t) => {
    const pattern = parsePattern('100-0:10')
    t.equal(arrivalCount(pattern), 500)
    const times = scheduled(pattern).map((k) => arrivalTime(pattern, k)!)
    t.equal(times.length, 500)
    t.ok(times[1]! - times[0]! < times[499]! - times[498]!, 'gaps widen as the rate falls')
    t.ok(times[499]! < 10, 'the last request is due before the end')
    for (const [k, at] of times.entries()) {
      if (Math.abs(cumulativeArrivals(pattern, at) - k) > 1e-6) t.fail(`request ${k} at ${at}`)
    }
  })
  t.test('a pause of rate zero delays the next requests by its length', async (t) => {
    const pattern = parsePattern('10:1,0:5,10:1')
    t.equal(arrivalCount(pattern), 20)
    t.equal(arrivalTime(pattern, 9), 0.9)
    t.equal(arrivalTime(pattern, 10), 6, 'the first request after the pause is due when it ends')
    t.equal(arrivalTime(pattern, 19), 6.9)
    t.equal(arrivalTime(pattern, 20), undefined)
  })
  t.test('a fractional total rounds up to the requests that get a time', async (t) => {
    const pattern = parsePattern('2.5:1')
    t.equal(arrivalCount(pattern), 3)
    t.same(scheduled(pattern), [0, 1, 2])
    t.equal(arrivalTime(pattern, 2), 0.8)
  })
  t.test(
    'every request arrivalCount counts gets a time, and no more, despite rounding in the sums',
    async (t) => {
      // 0.4→0.8 over 4 s is 2.4 requests and 0.3→0.1 over 3 s is 0.6: 3 in all, but the
      // floating-point sum is 3.0000000000000004; no fourth request may be scheduled.
      const pattern = parsePattern('0.4-0.8:4,0.3-0.1:3')
      t.equal(arrivalCount(pattern), 3)
      t.type(arrivalTime(pattern, 2), 'number', 'request 2 is scheduled')
      t.equal(arrivalTime(pattern, 3), undefined, 'request 3 is not scheduled')
    },
  )
  t.test('for random patterns: times rise, stay in the pattern and match the integral', async (t) => {
    const random = seededRandom(2024)
    for (let run = 0; run < 60; run++) {
      const pattern = randomPattern(random)
      const numbers = scheduled(pattern)
      const label = formatPattern(pattern)
      if (numbers.length !== arrivalCount(pattern))
        t.fail(`${label}: ${numbers.length} scheduled, count ${arrivalCount(pattern)}`)
      let previous = -1
      for (const k of numbers) {
        const at = arrivalTime(pattern, k)!
        if (at < previous) t.fail(`${label}: request ${k} due before request ${k - 1}`)
        if (at < 0 || at >= patternDuration(pattern))
          t.fail(`${label}: request ${k} at ${at} is outside the pattern`)
        if (Math.abs(cumulativeArrivals(pattern, at) - k) > 1e-6) t.fail(`${label}: request ${k} at ${at}`)
        previous = at
      }
    }
    t.pass('checked 60 random patterns')
  })
  t.test('shares of arrivals partition the request numbers', async (t) => {
    const random = seededRandom(99)
    for (let run = 0; run < 30; run++) {
      const pattern = randomPattern(random)
      const total = arrivalCount(pattern)
      const engines = randomInt(random, 1, 4)
      const workers = randomInt(random, 1, 4)
      const seen = new Array<number>(total).fill(0)
      for (let e = 0; e < engines; e++) {
        for (let w = 0; w < workers; w++) {
          const share = nestShare({ index: e, of: engines }, { index: w, of: workers })
          const numbers = scheduled(pattern, share)
          if (numbers.length !== shareCount(total, share))
            t.fail(`${formatPattern(pattern)}: share ${share.index}/${share.of}`)
          for (const k of numbers) seen[k] = (seen[k] ?? 0) + 1
        }
      }
      t.ok(
        seen.length === total && seen.every((count) => count === 1),
        `${formatPattern(pattern)}: ${engines}×${workers} shares send each of ${total} requests once`,
      )
    }
  })
})
