import { existsSync } from 'node:fs'
import puppeteer, { type Browser, type Page } from 'puppeteer-core'

// Code run inside the page (page.evaluate) sees the browser's globals; they are untyped
// here because the tests are type-checked without the DOM library (it clashes with Node's
// stream types).
// biome-ignore lint/suspicious/noExplicitAny: browser globals inside page.evaluate
declare const document: any, window: any, getComputedStyle: any

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

export interface DrawnChart {
  id: string
  canvas: boolean
  /** CSS pixels. */
  width: number
  /** For each series in the legend, how many canvas pixels have its colour. */
  painted: number[]
}

/**
 * The report's charts as drawn: for each `[data-chart]`, whether it has a canvas and how
 * many of its pixels carry each series' colour (read from uPlot's legend markers), so a
 * blank canvas, or one with only axes on it, shows as zeros.
 */
export function chartsOnPage(page: Page): Promise<DrawnChart[]> {
  return page.evaluate(() =>
    [...document.querySelectorAll('[data-chart]')].map((element) => {
      const canvas = element.querySelector('canvas')
      const markers = [...element.querySelectorAll('.u-series .u-marker')]
      const colours = markers
        .map((marker) => /rgba?\((\d+), (\d+), (\d+)/.exec(getComputedStyle(marker).borderColor))
        .filter((match) => match !== null)
        .map((match) => [Number(match![1]), Number(match![2]), Number(match![3])])
      const painted: number[] = colours.map(() => 0)
      if (canvas) {
        const { data } = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height)
        for (let i = 0; i < data.length; i += 4) {
          if (data[i + 3] < 200) continue
          colours.forEach(([r, g, b], k) => {
            if (
              Math.abs(data[i] - r!) < 12 &&
              Math.abs(data[i + 1] - g!) < 12 &&
              Math.abs(data[i + 2] - b!) < 12
            )
              painted[k]!++
          })
        }
      }
      return {
        id: String(element.dataset.chart),
        canvas: canvas !== null,
        width: canvas ? Number(canvas.getBoundingClientRect().width) : 0,
        painted,
      }
    }),
  )
}
