import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { StampedeError } from '../errors.js'
import type { ReportAssets } from './html.js'

/**
 * The browser half of the report, built by `npm run build` (esbuild: web/report → dist/web/).
 * Found beside the compiled code, whether this module runs from dist/ or from the source
 * (tests): both resolve to the repository's dist/web/.
 */
const WEB = new URL(import.meta.url.includes('/dist/') ? '../../web/' : '../../dist/web/', import.meta.url)

let cached: ReportAssets | undefined

export function reportAssets(): ReportAssets {
  if (cached) return cached
  try {
    cached = {
      script: readFileSync(fileURLToPath(new URL('report.js', WEB)), 'utf8'),
      css: readFileSync(fileURLToPath(new URL('report.css', WEB)), 'utf8'),
    }
  } catch (err) {
    throw new StampedeError(
      'STAMPEDE_REPORT_ASSETS',
      `the report's chart code is missing (${(err as NodeJS.ErrnoException).code ?? err}): run npm run build`,
    )
  }
  return cached
}
