import { existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import puppeteer, { type Browser, type Page } from 'puppeteer-core'

/**
 * What the functions handed to the page (page.evaluate, $eval) see there. The type-check
 * program is Node's (no DOM library: adding it globally would retype every other test), so
 * the page's globals are declared here, loosely, for this file only.
 */
// biome-ignore lint/suspicious/noExplicitAny: browser globals, typed by the browser
declare const document: any, window: any, sessionStorage: any, localStorage: any

/**
 * Debian's chromium, driven by puppeteer-core (which downloads nothing). Tests skip with a
 * clear message when the browser is absent; CI installs it (.ci/run).
 */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
export const chromiumMissing = existsSync(CHROMIUM)
  ? false
  : `no chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`

/** Screenshots and figures a test writes for people to look at (gitignored). */
export const ARTIFACTS = join(import.meta.dirname, '../../.artifacts/dashboard')

export async function launch(t: { teardown(fn: () => unknown): void }): Promise<Browser> {
  mkdirSync(ARTIFACTS, { recursive: true })
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    // Root in CI containers: chromium's sandbox needs user namespaces it may not have.
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run'],
  })
  t.teardown(() => browser.close())
  return browser
}

export interface Watched {
  page: Page
  /** Console errors and CSP violations, page errors, failed requests. */
  problems: string[]
  /** Every URL the page asked for that is not on `origin`. */
  foreign: string[]
}

/** A page that records whatever goes wrong and whatever leaves the origin. */
export async function watchedPage(browser: Browser, origin: string): Promise<Watched> {
  const page = await browser.newPage()
  const problems: string[] = []
  const foreign: string[] = []
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console: ${message.text()}`)
  })
  page.on('pageerror', (err) => problems.push(`page error: ${(err as Error).message}`))
  page.on('requestfailed', (request) => {
    // A stream the page closes on purpose (leaving a rush, a rush that ended) is not a failure.
    const reason = request.failure()?.errorText ?? ''
    if (!reason.includes('ERR_ABORTED')) problems.push(`request failed: ${request.url()} ${reason}`)
  })
  page.on('request', (request) => {
    const url = request.url()
    if (!url.startsWith(origin) && !url.startsWith('data:')) foreign.push(url)
  })
  return { page, problems, foreign }
}

/** The page is no wider than its viewport (nothing scrolls sideways). */
export async function horizontalOverflow(page: Page): Promise<number> {
  return page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)
}

/** Waits for the page's `html[data-NAME]` to satisfy a test, by watching the attribute change (no polling timer). */
export async function waitForData(page: Page, name: string, test: string, timeout = 60_000): Promise<void> {
  await page.waitForFunction(`(v => (${test}))(document.documentElement.dataset[${JSON.stringify(name)}])`, {
    polling: 'mutation',
    timeout,
  })
}
