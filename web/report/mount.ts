import uPlot from 'uplot'
import type { ChartModel } from '../../lib/report/model.js'
import { CHARTS, type ChartPlan, type ChartSpec, type Marker } from './charts.js'

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

/** Draws each marker as a dashed vertical line over the plot, its label at the top. */
function drawMarkers(markers: () => Marker[]): (u: uPlot) => void {
  return (u) => {
    const { ctx, bbox } = u
    const ratio = window.devicePixelRatio || 1
    let row = 0
    for (const marker of markers()) {
      const x = Math.round(u.valToPos(marker.x, 'x', true))
      if (x < bbox.left || x > bbox.left + bbox.width) continue
      ctx.save()
      ctx.strokeStyle = marker.color
      ctx.fillStyle = marker.color
      ctx.lineWidth = 1.5 * ratio
      ctx.setLineDash([5 * ratio, 4 * ratio])
      ctx.beginPath()
      ctx.moveTo(x, bbox.top)
      ctx.lineTo(x, bbox.top + bbox.height)
      ctx.stroke()
      ctx.font = `${12 * ratio}px system-ui, sans-serif`
      const width = ctx.measureText(marker.label).width
      // Labels go right of their line, or left of it near the right edge; a second one lower.
      const left = x + 4 * ratio + width > bbox.left + bbox.width ? x - 4 * ratio - width : x + 4 * ratio
      const baseline = bbox.top + (14 + row * 16) * ratio
      // A light backing keeps the label legible over the series.
      ctx.setLineDash([])
      ctx.fillStyle = 'rgba(255,255,255,0.85)'
      ctx.fillRect(left - 2 * ratio, baseline - 11 * ratio, width + 4 * ratio, 15 * ratio)
      ctx.fillStyle = marker.color
      ctx.fillText(marker.label, left, baseline)
      ctx.restore()
      row++
    }
  }
}

export function mountCharts(root: ParentNode, model: ChartModel, specs: ChartSpec[] = CHARTS): MountedCharts {
  const drawn = new Map<string, uPlot>()
  const signatures = new Map<string, string>()
  const markers = new Map<string, Marker[]>()

  const draw = (current: ChartModel) => {
    for (const spec of specs) {
      const element = root.querySelector<HTMLElement>(`[data-chart="${spec.id}"]`)
      if (!element) continue
      const plan = spec.plan(current)
      if (!plan) {
        // Nothing to draw (no response ended, say): say so rather than leave a blank box.
        if (!drawn.has(spec.id)) {
          element.dataset.empty = 'true'
          element.textContent = 'Nothing to draw: no data for this chart.'
        }
        continue
      }
      if (element.dataset.empty) {
        delete element.dataset.empty
        element.textContent = ''
      }
      markers.set(spec.id, plan.markers ?? [])
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
          hooks: { draw: [drawMarkers(() => markers.get(spec.id) ?? [])] },
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
