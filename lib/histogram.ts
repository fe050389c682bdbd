import * as hdr from 'hdr-histogram-js'

/**
 * Latency histograms: HDR, in microseconds, 3 significant digits, up to one hour.
 * Every histogram in Stampede has this one configuration, so any two merge exactly
 * (worker → engine → region → rush), and the encoded form crosses process and
 * database boundaries without loss.
 */
export type LatencyHistogram = hdr.JsHistogram

const HIGHEST_US = 3_600_000_000

export function createHistogram(): LatencyHistogram {
  // The JavaScript implementation (not WebAssembly): it is what `build` returns here.
  return hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: HIGHEST_US,
    numberOfSignificantValueDigits: 3,
    // 64-bit counts: a merged hour-long rush can pass 2^31 in one bucket.
    bitBucketSize: 64,
    useWebAssembly: false,
  }) as hdr.JsHistogram
}

/** Records one latency given in microseconds (clamped into the trackable range). */
export function recordMicros(histogram: LatencyHistogram, micros: number): void {
  histogram.recordValue(micros < 1 ? 1 : micros > HIGHEST_US ? HIGHEST_US : Math.round(micros))
}

export function encodeHistogram(histogram: LatencyHistogram): string {
  return hdr.encodeIntoCompressedBase64(histogram)
}

export function decodeHistogram(encoded: string): LatencyHistogram {
  const decoded = hdr.decodeFromCompressedBase64(encoded, 64, false)
  // Re-home into the canonical configuration so later merges never need to resize.
  const histogram = createHistogram()
  histogram.add(decoded as hdr.JsHistogram)
  return histogram
}

export function mergeInto(target: LatencyHistogram, source: LatencyHistogram): void {
  target.add(source)
}

/** Percentiles and extremes in milliseconds, as users read them. */
export interface LatencySummary {
  count: number
  min: number
  mean: number
  p50: number
  p90: number
  p95: number
  p99: number
  p999: number
  max: number
}

const ms = (micros: number): number => Math.round(micros) / 1000

export function summarizeHistogram(histogram: LatencyHistogram): LatencySummary {
  const count = histogram.totalCount
  if (count === 0) return { count: 0, min: 0, mean: 0, p50: 0, p90: 0, p95: 0, p99: 0, p999: 0, max: 0 }
  return {
    count,
    // Extremes as bucket edges, like the percentiles: a histogram that went through
    // encode/decode (another process, CouchDB) then reports exactly the same figures.
    min: ms(histogram.lowestEquivalentValue(histogram.minNonZeroValue)),
    mean: ms(histogram.mean),
    p50: ms(histogram.getValueAtPercentile(50)),
    p90: ms(histogram.getValueAtPercentile(90)),
    p95: ms(histogram.getValueAtPercentile(95)),
    p99: ms(histogram.getValueAtPercentile(99)),
    p999: ms(histogram.getValueAtPercentile(99.9)),
    max: ms(histogram.highestEquivalentValue(histogram.maxValue)),
  }
}
