import { join } from 'node:path'
import t from 'tap'
import { DASHBOARD_CSP } from '../../api/dashboard.js'
import { apiPlane } from '../api/harness.js'
import {
  ARTIFACTS,
  chromiumMissing,
  horizontalOverflow,
  launch,
  waitForData,
  watchedPage,
} from './browser.js'

const PHONE = { width: 390, height: 844, deviceScaleFactor: 2, isMobile: true, hasTouch: true }
const DESKTOP = { width: 1440, height: 900 }

t.test('the page and its bundles: content types, a strict CSP, nothing without a build', async (t) => {
  const plane = await apiPlane(t)
  for (const [path, type] of [
    ['/', /^text\/html/],
    ['/dashboard/dashboard.js', /^text\/javascript/],
    ['/dashboard/dashboard.css', /^text\/css/],
  ] as const) {
    const response = await fetch(`${plane.url}${path}`)
    t.equal(response.status, 200, `${path} served without a key`)
    t.match(response.headers.get('content-type'), type, `${path}: its type`)
    t.equal(response.headers.get('content-security-policy'), DASHBOARD_CSP)
    t.equal(response.headers.get('x-content-type-options'), 'nosniff')
    t.ok((await response.text()).length > 100)
  }
  t.match(DASHBOARD_CSP, /default-src 'none'/)
  t.notMatch(DASHBOARD_CSP, /unsafe|\*|https?:/, 'no inline code, no wildcard, no other host')
  const api = await fetch(`${plane.url}/api/v2/rushes`)
  t.equal(api.status, 401, 'the API itself still wants a key')
})

t.test(
  'a wrong key shows the sign-in error; the key stays out of storage',
  { skip: chromiumMissing },
  async (t) => {
    const plane = await apiPlane(t)
    const { key } = await plane.tenant('alice')
    const browser = await launch(t)
    const { page, problems, foreign } = await watchedPage(browser, plane.url)
    await page.setViewport(PHONE)
    await page.goto(`${plane.url}/`)
    await waitForData(page, 'view', "v === 'sign-in'")
    await page.type('#key', `${key}x`)
    await page.click('#sign-in-form button[type=submit]')
    await page.waitForFunction(() => document.getElementById('sign-in-error')!.textContent !== '', {
      polling: 'mutation',
    })
    const error = await page.$eval('#sign-in-error', (element) => element.textContent)
    t.match(error, /refused: unknown user or wrong API key/, 'the API’s reason, in words')
    t.equal(await page.evaluate(() => sessionStorage.length), 0, 'a refused key is not kept')
    t.equal(await horizontalOverflow(page), 0, 'no sideways scroll on a phone')
    await page.screenshot({ path: join(ARTIFACTS, 'sign-in-error-phone.png') })

    await page.$eval('#key', (input) => {
      ;(input as HTMLInputElement).value = ''
    })
    await page.type('#key', key)
    await page.click('#sign-in-form button[type=submit]')
    await waitForData(page, 'view', "v === 'rushes'")
    t.same(
      await page.evaluate(() => [
        sessionStorage.getItem('stampede.key') !== null,
        localStorage.length,
        document.cookie,
      ]),
      [true, 0, ''],
      'the key in sessionStorage only',
    )
    // Only 401s print to the console (the browser logs a failed fetch); nothing else went wrong.
    t.same(
      problems.filter((problem) => !/status of 401/.test(problem)),
      [],
      'no console error, no CSP violation',
    )
    t.same(foreign, [], 'no request leaves the API’s origin')
  },
)
