import type { ReportData } from '../../lib/report/model.js'

/** The data an HTML report embeds (what its charts draw and its tables show). */
export function reportData(html: string): ReportData {
  const json = /<script type="application\/json" id="stampede-report-data">(.*?)<\/script>/s.exec(html)?.[1]
  if (!json) throw new Error('no report data in the page')
  return JSON.parse(json)
}
