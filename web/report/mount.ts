import uPlot from 'uplot'
import type { ChartModel } from '../../lib/report/model.js'
import { CHARTS, type ChartPlan, type ChartSpec } from './charts.js'

/**
 * Puts the charts into their placeholders (`[data-chart=ID]`) and keeps them in step with
 * a model. The report calls this once with the whole rush; a live page calls `update`
 * with the same model grown by a second, and only the data is replaced (uPlot's setData),
 * unless the series changed (a new status code, a region's first second) and the chart
 * is built anew.
 */
export interface MountedCharts {
  update(model: ChartModel): void
  /** Charts drawn so far, by id. */
  readonly drawn: ReadonlyMap<string, uPlot>
  destroy(): void
}

const HEIGHT = { narrow: 220, wide: 280 }

function size(element: HTMLElement): { width: number; height: number } {
  const width = Math.max(240, Math.floor(element.clientWidth))
  return { width, height: width < 560 ? HEIGHT.narrow : HEIGHT.wide }
}

const signature = (plan: ChartPlan): string => plan.series.map((series) => series.label).join('\u0000')

export function mountCharts(root: ParentNode, model: ChartModel, specs: ChartSpec[] = CHARTS): MountedCharts {
  const drawn = new Map<string, uPlot>()
  const signatures = new Map<string, string>()

  const draw = (current: ChartModel) => {
    for (const spec of specs) {
      const element = root.querySelector<HTMLElement>(`[data-chart="${spec.id}"]`)
      if (!element) continue
      const plan = spec.plan(current)
      if (!plan) continue
      const existing = drawn.get(spec.id)
      if (existing && signatures.get(spec.id) === signature(plan)) {
        existing.setData(plan.data)
        continue
      }
      existing?.destroy()
      const chart = new uPlot(
        {
          ...size(element),
          series: plan.series,
          ...(plan.scales && { scales: plan.scales }),
          ...(plan.axes && { axes: plan.axes }),
          legend: { live: true },
          cursor: { drag: { x: true, y: false } },
        },
        plan.data,
        element,
      )
      element.dataset.drawn = 'true'
      drawn.set(spec.id, chart)
      signatures.set(spec.id, signature(plan))
    }
  }

  draw(model)
  // Charts follow their container's width (a phone turned, a window resized).
  const observer =
    typeof ResizeObserver === 'undefined'
      ? undefined
      : new ResizeObserver(() => {
          for (const [id, chart] of drawn) {
            const element = root.querySelector<HTMLElement>(`[data-chart="${id}"]`)
            if (!element) continue
            const next = size(element)
            if (next.width !== chart.width || next.height !== chart.height) chart.setSize(next)
          }
        })
  for (const spec of specs) {
    const element = root.querySelector<HTMLElement>(`[data-chart="${spec.id}"]`)
    if (element) observer?.observe(element)
  }
  return {
    update: draw,
    drawn,
    destroy() {
      observer?.disconnect()
      for (const chart of drawn.values()) chart.destroy()
      drawn.clear()
    },
  }
}
