import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
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
} from './dashboard-harness.js'

/**
 * What the functions handed to the page (page.evaluate, $eval) see there. The type-check
 * program is Node's (no DOM library: adding it globally would retype every other test), so
 * the page's globals are declared here, loosely, for this file only.
 */
// biome-ignore lint/suspicious/noExplicitAny: browser globals, typed by the browser
declare const document: any, window: any, sessionStorage: any, localStorage: any

const PHONE = { width: 390, height: 844, deviceScaleFactor: 2, isMobile: true, hasTouch: true }

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
      ;(input as unknown as { value: string }).value = ''
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

t.test(
  'prove a host from the page: add it, serve the token, verify',
  { skip: chromiumMissing },
  async (t) => {
    const plane = await apiPlane(t)
    const { key } = await plane.tenant('bob', {}, [])
    const browser = await launch(t)
    const { page, problems, foreign } = await watchedPage(browser, plane.url)
    await page.setViewport(PHONE)
    await page.goto(`${plane.url}/`)
    await page.type('#key', key)
    await page.click('#sign-in-form button[type=submit]')
    await waitForData(page, 'view', "v === 'rushes'")
    await page.click('a[data-nav="hosts"]')
    await waitForData(page, 'view', "v === 'hosts'")
    await page.type('#host-name', '127.0.0.1')
    await page.click('#host-form button[type=submit]')
    await page.waitForSelector('[data-host="127.0.0.1"] code')
    const token = await page.$eval('[data-host="127.0.0.1"] code', (element) => element.textContent!)
    t.match(token, /^[A-Za-z0-9_-]{16,}$/, 'the token shown')
    t.match(await page.$eval('[data-host="127.0.0.1"]', (element) => element.textContent), /not proven/)

    // The host answers the proof (on 127.0.0.1, as every server in a test).
    const proof = createServer((request, response) => {
      if (request.url === `/stampede-${token}.txt`) response.end(token)
      else response.writeHead(404).end()
    })
    await new Promise<void>((resolve) => proof.listen(0, '127.0.0.1', resolve))
    t.teardown(() => proof.close())
    const { port } = proof.address() as AddressInfo
    await page.type('[data-host="127.0.0.1"] input[type=number]', String(port))
    await page.click('[data-host="127.0.0.1"] button')
    await page.waitForSelector('[data-host="127.0.0.1"] .state-done')
    t.match(await page.$eval('[data-host="127.0.0.1"]', (element) => element.textContent), /proven\s*by http/)
    t.equal(await horizontalOverflow(page), 0, 'no sideways scroll on a phone')
    await page.screenshot({ path: join(ARTIFACTS, 'hosts-phone.png'), fullPage: true })
    const hosts = await fetch(`${plane.url}/api/v2/hosts`, { headers: { authorization: `Bearer ${key}` } })
    t.match(
      ((await hosts.json()) as { hosts: { proven: boolean }[] }).hosts,
      [{ proven: true }],
      'the API agrees',
    )
    t.same(problems, [], 'no console error')
    t.same(foreign, [], 'no request leaves the API’s origin')
  },
)
