import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { FastifyInstance } from 'fastify'

/**
 * The live dashboard's page and its two bundles (built by `npm run build` into dist/web/
 * from web/dashboard/). Public routes: the page holds no data; it signs in with an API key
 * kept in the browser's sessionStorage and calls the v2 API like any client.
 *
 * Served with a Content-Security-Policy that allows nothing but this origin's own script,
 * styles and API (no inline script or style, no other host, no framing): a page that
 * holds a key must not run anything it did not ship with.
 */
export const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ')

const ASSETS = {
  '/': { file: 'dashboard.html', type: 'text/html; charset=utf-8' },
  '/dashboard/dashboard.js': { file: 'dashboard.js', type: 'text/javascript; charset=utf-8' },
  '/dashboard/dashboard.css': { file: 'dashboard.css', type: 'text/css; charset=utf-8' },
} as const

/** dist/web/, whether this module runs compiled (dist/api/) or from source (tests). */
const WEB = new URL(import.meta.url.includes('/dist/') ? '../web/' : '../dist/web/', import.meta.url)

export async function dashboardRoutes(app: FastifyInstance) {
  const cache = new Map<string, Buffer>()
  const read = (file: string): Buffer | undefined => {
    let body = cache.get(file)
    if (!body) {
      try {
        body = readFileSync(fileURLToPath(new URL(file, WEB)))
      } catch {
        return undefined
      }
      cache.set(file, body)
    }
    return body
  }
  for (const [path, asset] of Object.entries(ASSETS)) {
    app.get(
      path,
      { config: { public: true, rateLimit: false }, schema: { hide: true } },
      async (_request, reply) => {
        const body = read(asset.file)
        reply
          .header('content-security-policy', DASHBOARD_CSP)
          .header('x-content-type-options', 'nosniff')
          .header('referrer-policy', 'no-referrer')
          .header('x-frame-options', 'DENY')
        if (!body) {
          return reply
            .code(503)
            .type('text/plain; charset=utf-8')
            .send('the dashboard is not built: run npm run build\n')
        }
        // The page is small and must pick up a new build at once; the bundles keep their
        // names across builds, so they are revalidated too.
        return reply.header('cache-control', 'no-cache').type(asset.type).send(body)
      },
    )
  }
}
