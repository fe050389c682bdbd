import { existsSync } from 'node:fs'
import puppeteer, { type Browser, type Page } from 'puppeteer-core'

/**
 * Debian's chromium, driven by puppeteer-core (which downloads no browser). CI installs
 * it (.ci/run); tests that need it skip with this message when it is absent.
 */
export const CHROMIUM = process.env.STAMPEDE_CHROMIUM ?? '/usr/bin/chromium'
export const NO_CHROMIUM = existsSync(CHROMIUM)
  ? false
  : `no browser at ${CHROMIUM} (Debian: apt-get install chromium; or set STAMPEDE_CHROMIUM)`

export async function launchBrowser(): Promise<Browser> {
  return puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    // Root in a container: chromium's sandbox needs user namespaces it may not have.
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--font-render-hinting=none'],
  })
}

export interface OpenedPage {
  page: Page
  /** Every request the page made besides loading `url` itself (each was refused). */
  requests: string[]
  /** Console errors and uncaught exceptions. */
  errors: string[]
}

/** Opens `url` with every other request refused and recorded, console errors collected. */
export async function openOffline(
  browser: Browser,
  url: string,
  viewport: { width: number; height: number; isMobile?: boolean },
): Promise<OpenedPage> {
  const page = await browser.newPage()
  const requests: string[] = []
  const errors: string[] = []
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text())
  })
  page.on('pageerror', (error) => errors.push(String(error)))
  await page.setViewport({ ...viewport, deviceScaleFactor: 1, hasTouch: viewport.isMobile ?? false })
  await page.setRequestInterception(true)
  page.on('request', (request) => {
    if (request.url() === url) request.continue()
    else {
      requests.push(request.url())
      request.abort('blockedbyclient')
    }
  })
  await page.goto(url, { waitUntil: 'load' })
  return { page, requests, errors }
}
