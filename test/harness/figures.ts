import { mkdirSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

/**
 * Figures measured by the fault tests (test/faults/), one JSON file per test file in
 * bench/results/faults/ (gitignored): `npm run reliability:docs` makes docs/reliability.md
 * from the last run, so the doc changes only when someone regenerates it, never in CI.
 */
export const FIGURES_DIR = fileURLToPath(new URL('../../bench/results/faults/', import.meta.url))

export interface FaultFigure {
  /** The fault, as the doc's row names it. */
  fault: string
  /** When it strikes. */
  strikes: string
  /** What held afterwards (one line). */
  outcome: string
  /** Fault → service again (ms), when the fault has a recovery. */
  recoverMs?: number
  /** Seconds of the timeline reported / planned. */
  secondsReported?: number
  secondsPlanned?: number
  shardsRunTwice?: number
  documentsLost?: number
  /** Anything else measured, shown as it is. */
  extra?: Record<string, number | string>
}

/** Collects a test file's figures and writes them when the file's tests are over. */
export function figures(t: { teardown(fn: () => unknown): void }, family: string) {
  const rows: FaultFigure[] = []
  t.teardown(() => {
    if (rows.length === 0) return
    mkdirSync(FIGURES_DIR, { recursive: true })
    writeFileSync(
      `${FIGURES_DIR}${family}.json`,
      `${JSON.stringify({ family, at: new Date().toISOString(), rows }, null, 2)}\n`,
    )
  })
  return (row: FaultFigure) => {
    rows.push(row)
  }
}
