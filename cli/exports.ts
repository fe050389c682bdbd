import { closeSync, openSync, unlinkSync, writeSync } from 'node:fs'
import { UsageError } from '../lib/errors.js'
import type { LatencyHistogram } from '../lib/histogram.js'
import { reportAssets } from '../lib/report/assets.js'
import { buildReport, type ReportInput } from '../lib/report/build.js'
import { renderCsv } from '../lib/report/csv.js'
import { renderReport } from '../lib/report/html.js'
import { renderJunit } from '../lib/report/junit.js'
import type { ReportData } from '../lib/report/model.js'
import { SecondsCollector } from '../lib/report/seconds.js'
import { summarize } from '../lib/summary.js'
import type { Point } from '../lib/timeline.js'
import type { OptionSpec, ParsedOptions } from './options.js'
import { stringOption } from './options.js'

/** `--report`, `--junit` and `--csv`: files written from a rush's result, after it. */
export const EXPORT_OPTIONS: OptionSpec[] = [
  {
    name: 'report',
    type: 'string',
    value: 'FILE',
    description: 'write an HTML report with charts to FILE (one file, opens offline)',
  },
  {
    name: 'junit',
    type: 'string',
    value: 'FILE',
    description: 'write JUnit XML to FILE: a test case per threshold and one for the rush completing',
  },
  {
    name: 'csv',
    type: 'string',
    value: 'FILE',
    description: 'write the timeline as CSV to FILE, a row per second',
  },
]

const KINDS = ['report', 'junit', 'csv'] as const
type ExportKind = (typeof KINDS)[number]

/**
 * The export files, opened before the rush runs: a path that cannot be written must fail
 * now, not lose the results once the load is over.
 */
export class Exports {
  readonly #files = new Map<ExportKind, { path: string; fd: number }>()

  constructor(values: ParsedOptions) {
    for (const kind of KINDS) {
      const path = stringOption(values, kind)
      if (path === undefined) continue
      if (path === '' || path === '-') throw new UsageError(`--${kind} takes a file name`)
      try {
        this.#files.set(kind, { path, fd: openSync(path, 'w') })
      } catch (err) {
        this.abandon()
        throw new UsageError(`cannot write --${kind} ${path}: ${(err as NodeJS.ErrnoException).code ?? err}`)
      }
    }
    // Fail before the rush, not after it, when the chart code was never built.
    if (this.#files.has('report')) {
      try {
        reportAssets()
      } catch (err) {
        this.abandon()
        throw err
      }
    }
  }

  get wanted(): boolean {
    return this.#files.size > 0
  }

  write(data: ReportData): void {
    const render: Record<ExportKind, () => string> = {
      report: () => renderReport(data, reportAssets()),
      junit: () => renderJunit(data),
      csv: () => renderCsv(data),
    }
    for (const [kind, file] of this.#files) writeSync(file.fd, render[kind]())
    this.close()
  }

  close(): void {
    for (const file of this.#files.values()) closeSync(file.fd)
    this.#files.clear()
  }

  /** No result came: remove the files opened for it rather than leave them empty. */
  abandon(): void {
    for (const file of this.#files.values()) {
      closeSync(file.fd)
      try {
        unlinkSync(file.path)
      } catch {
        // Already gone: nothing to clean.
      }
    }
    this.#files.clear()
  }
}

/**
 * Collects a rush's merged seconds (and, with several regions, each region's) as they
 * arrive, for the report; the progress line is fed from the same stream.
 */
export class ReportSeconds {
  readonly all = new SecondsCollector()
  readonly #regions = new Map<string, SecondsCollector>()

  /** The regions the rush runs in, in the order the report lists them. */
  setRegions(regions: string[]): void {
    for (const region of regions) this.#regions.set(region, new SecondsCollector())
  }

  second = (point: Point, histogram: LatencyHistogram): void => {
    this.all.add(point, histogram)
  }

  regionSecond = (region: string, point: Point, histogram: LatencyHistogram): void => {
    this.#regions.get(region)?.add(point, histogram)
  }

  /** The report's input for the rest of the result. */
  input(rest: Omit<ReportInput, 'seconds' | 'histogram' | 'regions'>): ReportInput {
    return {
      ...rest,
      seconds: this.all.rows,
      histogram: this.all.histogram,
      regions: [...this.#regions].map(([name, collector]) => ({
        name,
        seconds: collector.rows,
        summary: summarize(collector.points, collector.histogram, collector.points.length),
      })),
    }
  }

  build(rest: Omit<ReportInput, 'seconds' | 'histogram' | 'regions'>): ReportData {
    return buildReport(this.input(rest))
  }
}
