import type { LatencyHistogram } from '../histogram.js'
import { type Summary, summarize } from '../summary.js'
import { emptyPoint, type Point } from '../timeline.js'

/** A transaction's figures: the iterations as a whole, then each step on its own. */
export interface TransactionSummary {
  iterations: Summary
  /** Iterations that found no unique data row left. */
  exhausted: number
  steps: { name: string; summary: Summary }[]
}

/**
 * Summaries of a transaction run from its merged timeline (each point carries its steps'
 * and iterations' points) and its part histograms (iterations first, then each step).
 */
export function summarizeTransaction(
  timeline: Point[],
  parts: LatencyHistogram[],
  names: string[],
  duration: number,
): TransactionSummary {
  const part = (pick: (point: Point) => Point | undefined): Point[] =>
    timeline.map((point) => pick(point) ?? emptyPoint(point.t))
  let exhausted = 0
  for (const point of timeline) exhausted += point.exhausted ?? 0
  return {
    iterations: summarize(
      part((point) => point.iterations),
      parts[0]!,
      duration,
    ),
    exhausted,
    steps: names.map((name, index) => ({
      name,
      summary: summarize(
        part((point) => point.steps?.[index]),
        parts[index + 1]!,
        duration,
      ),
    })),
  }
}

export function stepSummaries(summary: TransactionSummary): Record<string, Summary> {
  const byName: Record<string, Summary> = {}
  for (const step of summary.steps) byName[step.name] = step.summary
  return byName
}
