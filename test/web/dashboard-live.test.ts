import { join } from 'node:path'
import t from 'tap'
import { apiPlane, call } from '../api/harness.js'
import {
  ARTIFACTS,
  chromiumMissing,
  horizontalOverflow,
  launch,
  waitForData,
  watchedPage,
} from './dashboard-harness.js'

/**
 * What the functions handed to the page (page.evaluate, $eval) see there. The type-check
 * program is Node's (no DOM library: adding it globally would retype every other test), so
 * the page's globals are declared here, loosely, for this file only.
 */
// biome-ignore lint/suspicious/noExplicitAny: browser globals, typed by the browser
declare const document: any, window: any, sessionStorage: any, localStorage: any

// A rush, two browser tabs and two engines on a machine shared with other tests: more than the default budget.
t.setTimeout(300_000)

const PHONE = { width: 390, height: 844, deviceScaleFactor: 2, isMobile: true, hasTouch: true }
const DESKTOP = { width: 1440, height: 900 }

/** The traffic chart's pixels: they change when the chart draws new seconds. */
const trafficPixels = `document.querySelector('[data-chart="traffic"] canvas').toDataURL()`

t.test(
  'sign in, launch a two-region rush from the form, watch it grow, abort it from the button',
  { skip: chromiumMissing },
  async (t) => {
    const plane = await apiPlane(t, { regions: ['us-east-1', 'eu-west-1'], engines: 1 })
    const { key } = await plane.tenant('alice')
    const browser = await launch(t)
    const { page, problems, foreign } = await watchedPage(browser, plane.url)
    await page.setViewport(DESKTOP)
    await page.goto(`${plane.url}/`)
    await waitForData(page, 'view', "v === 'sign-in'")
    await page.type('#key', key)
    await page.click('#sign-in-form button[type=submit]')
    await waitForData(page, 'view', "v === 'rushes'")
    t.equal(await page.$eval('#who', (element) => element.textContent), 'alice', 'signed in as the tenant')

    await page.click('a[data-nav="new"]')
    await waitForData(page, 'view', "v === 'new'")
    const regions = await page.$$eval('#new-regions input', (boxes) =>
      boxes.map((box) => (box as unknown as { value: string }).value),
    )
    t.same(regions, ['us-east-1', 'eu-west-1'], "the tenant's regions offered")
    await page.type('#new-url', `${plane.target.url}/`)
    await page.$eval('#new-pattern', (input) => {
      ;(input as unknown as { value: string }).value = ''
    })
    // Long enough that only the button ends it.
    await page.type('#new-pattern', '2-6:10,6:110')
    await page.click('#new-regions input[value="eu-west-1"]')
    await page.type('#new-thresholds', 'p95<5s, errors<1%')
    await page.screenshot({ path: join(ARTIFACTS, 'new-rush-desktop.png') })
    await page.click('#new-form button[type=submit]')
    await waitForData(page, 'view', "v === 'rush'")
    const id = decodeURIComponent(page.url().split('#/rush/')[1]!)
    t.match(id, /\S/, 'the page shows the new rush')

    // Points arrive over time: the charts grow second by second, without a reload.
    await waitForData(page, 'seconds', 'Number(v) >= 2')
    const early = await page.evaluate(trafficPixels)
    const earlySeconds = Number(await page.evaluate(() => document.documentElement.dataset.seconds))
    await waitForData(page, 'seconds', `Number(v) >= ${earlySeconds + 2}`)
    t.not(await page.evaluate(trafficPixels), early, 'the traffic chart drew the new seconds')
    await waitForData(page, 'rushState', "v === 'running'")
    const drawn = await page.$$eval('[data-chart][data-drawn]', (charts) =>
      charts.map((chart) => (chart as unknown as { dataset: { chart: string } }).dataset.chart),
    )
    t.same(drawn, ['traffic', 'latency', 'bend', 'statuses'], 'the live charts drawn')
    const hits = await page.$eval('[data-figure="total"]', (element) => element.textContent)
    t.match(hits, /^[1-9]/, 'hits counted')
    await page.screenshot({ path: join(ARTIFACTS, 'rush-running-desktop.png'), fullPage: true })
    t.equal(await horizontalOverflow(page), 0, 'desktop: no sideways scroll')

    // A phone's width, in a second tab (signed in anew: the key is per tab) on the same rush.
    const phone = await watchedPage(browser, plane.url)
    await phone.page.setViewport(PHONE)
    await phone.page.goto(`${plane.url}/#/rush/${encodeURIComponent(id)}`)
    await phone.page.type('#key', key)
    await phone.page.click('#sign-in-form button[type=submit]')
    await waitForData(phone.page, 'view', "v === 'rush'")
    await waitForData(phone.page, 'seconds', `Number(v) >= ${earlySeconds + 3}`)
    t.equal(await horizontalOverflow(phone.page), 0, 'phone: no sideways scroll')
    const button = await phone.page.$eval('#abort', (element) => {
      const box = element.getBoundingClientRect()
      return { left: box.left, right: box.right, height: box.height, width: window.innerWidth }
    })
    t.ok(button.left >= 0 && button.right <= button.width, 'the abort button is within the screen')
    t.ok(button.height >= 36, 'and big enough to tap')
    await phone.page.screenshot({ path: join(ARTIFACTS, 'rush-running-phone.png'), fullPage: true })

    // Abort from the button: every engine stops, the page shows the rush aborted.
    const stopped = plane.engines.map((engine) =>
      engine.when((event) => event.type === 'stopping' || event.type === 'finished', 30_000),
    )
    await page.bringToFront()
    const clicked = Date.now()
    await page.click('#abort')
    await page.waitForFunction(
      () => /Abort sent|Aborted/.test(document.getElementById('rush-notice')!.textContent!),
      {
        polling: 'mutation',
      },
    )
    const stops = await Promise.all(stopped)
    const stopMs = Date.now() - clicked
    t.equal(stops.length, 2, 'both regions’ engines stopped')
    t.comment(`engines stopped ${stopMs} ms after the click`)
    try {
      await waitForData(page, 'rushState', "v === 'aborted'", 90_000)
      // Then the stream's end: the verdict and every shard's last seconds.
      await page.waitForFunction(
        () => /^Aborted: every engine/.test(document.getElementById('rush-notice').textContent),
        { polling: 'mutation', timeout: 90_000 },
      )
    } catch (err) {
      // Tell the page's fault from the API's: what does the API say of the rush now?
      const api = await call(plane.url, 'GET', `/api/v2/rushes/${id}?timeline=false`, { key })
      const shown = await page.evaluate(() =>
        JSON.stringify([
          document.documentElement.dataset.rushState,
          document.documentElement.dataset.seconds,
          document.getElementById('rush-notice').textContent,
        ]),
      )
      throw new Error(
        `the page shows ${shown}; the API says ${JSON.stringify(api.body)}: ${(err as Error).message}`,
      )
    }
    t.equal(
      await page.$eval('#abort', (element) => (element as unknown as { hidden: boolean }).hidden),
      true,
      'no abort button now',
    )
    t.match(await page.$eval('#rush-notice', (element) => element.textContent), /Aborted/)
    t.match(await page.$eval('#verdict-badge', (element) => element.textContent), /aborted/)
    const after = plane.target.count
    await page.screenshot({ path: join(ARTIFACTS, 'rush-aborted-desktop.png'), fullPage: true })

    await page.click('a[data-nav="rushes"]')
    await waitForData(page, 'view', "v === 'rushes'")
    await page.waitForSelector(`[data-rush="${id}"] [data-state="aborted"]`)
    t.pass('the list shows it aborted')
    await page.screenshot({ path: join(ARTIFACTS, 'rushes-desktop.png') })
    t.equal(plane.target.count, after, 'no request reached the target after the engines stopped')
    t.same([...problems, ...phone.problems], [], 'no console error, no CSP violation, no failed request')
    t.same([...foreign, ...phone.foreign], [], 'no request leaves the API’s origin')
  },
)
