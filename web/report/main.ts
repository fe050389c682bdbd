import 'uplot/dist/uPlot.min.css'
import './report.css'
import type { ReportData } from '../../lib/report/model.js'
import { mountCharts } from './mount.js'

/**
 * The report page's script: reads the rush's data from the page and draws the charts.
 * Everything in words is already in the page; this only draws.
 */
const DATA_ELEMENT_ID = 'stampede-report-data'

function start(): void {
  const element = document.getElementById(DATA_ELEMENT_ID)
  if (!element?.textContent) return
  const data = JSON.parse(element.textContent) as ReportData
  const charts = mountCharts(document, data)
  document.documentElement.dataset.charts = String(charts.drawn.size)
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start)
else start()
