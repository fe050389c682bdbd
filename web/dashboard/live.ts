import type { ChartModel } from '../../lib/report/model.js'
import { type MountedCharts, mountCharts } from '../report/mount.js'
import { LIVE_CHARTS } from './charts.js'
import { distributionOf, type LatencySummaryLike, type LiveRow, liveRow, type StreamSecond } from './rows.js'

/**
 * One followed rush's charts. Seconds arrive from the stream at any pace (one a second
 * live, hundreds at once when a long rush is opened or the stream resumes); they are
 * appended to the model as they come, and the charts are updated at most once per
 * animation frame (uPlot's setData on the existing charts — they are built once, and again
 * only when their series change, e.g. a new status code). A hidden tab draws nothing until
 * it is shown. Each draw is measured (`performance.measure('stampede:draw')`) so the
 * browser test can hold the page to its budget.
 */
export type LiveModel = Omit<ChartModel, 'seconds'> & { seconds: LiveRow[] }

export class LiveCharts {
  readonly model: LiveModel = { seconds: [], regions: [], distribution: [] }
  readonly #root: HTMLElement
  readonly #onDraw: (model: LiveModel) => void
  #charts: MountedCharts | undefined
  #frame = 0
  #last = -1

  constructor(root: HTMLElement, onDraw: (model: LiveModel) => void) {
    this.#root = root
    this.#onDraw = onDraw
  }

  /** Appends a second (a repeated or older second is ignored: the stream resumes exactly). */
  add(second: StreamSecond): void {
    if (second.t <= this.#last) return
    this.#last = second.t
    this.model.seconds.push(liveRow(second))
    for (const [name, point] of Object.entries(second.regions ?? {})) {
      let region = this.model.regions.find((entry) => entry.name === name)
      if (!region) {
        region = { name, seconds: [] }
        this.model.regions.push(region)
      }
      region.seconds.push(liveRow(point))
    }
    this.#schedule()
  }

  /** The rush ended: its merged latency summary gives the distribution chart. */
  end(latency: LatencySummaryLike | undefined): void {
    if (latency && latency.max > 0) this.model.distribution = distributionOf(latency)
    this.#schedule()
  }

  #schedule(): void {
    if (this.#frame !== 0) return
    this.#frame = requestAnimationFrame(() => {
      this.#frame = 0
      this.#draw()
    })
  }

  #draw(): void {
    const start = performance.now()
    if (this.#charts) this.#charts.update(this.model)
    else this.#charts = mountCharts(this.#root, this.model, LIVE_CHARTS)
    this.#onDraw(this.model)
    // uPlot commits its redraws in microtasks queued by setData: measure after them.
    queueMicrotask(() => performance.measure('stampede:draw', { start, end: performance.now() }))
  }

  destroy(): void {
    if (this.#frame !== 0) cancelAnimationFrame(this.#frame)
    this.#frame = 0
    this.#charts?.destroy()
    this.#charts = undefined
  }
}
