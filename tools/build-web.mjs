#!/usr/bin/env node
/**
 * Bundles the browser code (web/) with esbuild: web/report/main.ts → dist/web/report.js and
 * dist/web/report.css (uPlot's styles with ours); web/dashboard/main.ts → dist/web/dashboard.js
 * and dashboard.css, with its page (web/dashboard/index.html) copied beside them as
 * dashboard.html. Run by `npm run build` after tsc; type checking of web/ is `npm run lint`'s
 * (tsc -p web/tsconfig.json), so this stays fast.
 */
import { copyFileSync, mkdirSync } from 'node:fs'
import { build } from 'esbuild'

await build({
  entryPoints: { report: 'web/report/main.ts', dashboard: 'web/dashboard/main.ts' },
  outdir: 'dist/web',
  bundle: true,
  minify: true,
  format: 'iife',
  target: ['es2020', 'chrome100', 'firefox100', 'safari15'],
  legalComments: 'inline',
  logLevel: 'warning',
})

mkdirSync('dist/web', { recursive: true })
copyFileSync('web/dashboard/index.html', 'dist/web/dashboard.html')
