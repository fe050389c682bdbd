import 'uplot/dist/uPlot.min.css'
import '../report/report.css'
import './dashboard.css'
import { compact, count, millis, number, percent } from '../../lib/report/format.js'
import { type Account, Client, forgetKey, type Host, type Rush, storedKey, storeKey } from './api.js'
import { FIGURES } from './charts.js'
import { LiveCharts } from './live.js'
import type { StreamSecond } from './rows.js'
import { follow, HttpError } from './sse.js'
import { StepTable } from './steps.js'

/**
 * The live dashboard: sign in with an API key, list the tenant's rushes, follow one
 * second by second, abort it, launch one, prove a host. Hash routes (#/rushes, #/new,
 * #/hosts, #/rush/ID) so the browser's back button works and nothing needs a server route
 * beyond the page itself. All text from the API goes in with textContent, never as HTML.
 */
const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const element = document.getElementById(id)
  if (!element) throw new Error(`#${id} missing`)
  return element as T
}

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Record<string, string> = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag)
  for (const [name, value] of Object.entries(props)) {
    if (name === 'class') element.className = value
    else element.setAttribute(name, value)
  }
  element.append(...children)
  return element
}

const message = (err: unknown): string => (err instanceof Error ? err.message : String(err))
const TERMINAL = new Set(['done', 'failed', 'aborted'])

let client: Client | undefined
let account: Account | undefined
/** The view being left stops its work (a stream, a poll) with this. */
let leave = new AbortController()

const VIEWS = ['sign-in', 'rushes', 'new', 'hosts', 'rush'] as const
type View = (typeof VIEWS)[number]

function show(view: View): void {
  for (const name of VIEWS) $(`view-${name}`).hidden = name !== view
  const signedIn = view !== 'sign-in'
  $('nav').hidden = !signedIn
  $('sign-out').hidden = !signedIn
  $('who').textContent = signedIn && account ? account.user : ''
  for (const link of document.querySelectorAll<HTMLAnchorElement>('[data-nav]')) {
    if (link.dataset.nav === view) link.setAttribute('aria-current', 'page')
    else link.removeAttribute('aria-current')
  }
  document.documentElement.dataset.view = view
}

async function route(): Promise<void> {
  leave.abort()
  leave = new AbortController()
  const signal = leave.signal
  if (!client) return show('sign-in')
  const [, view, id] = location.hash.split('/')
  if (view === 'new') return showNew()
  if (view === 'hosts') return showHosts(signal)
  if (view === 'rush' && id) return showRush(decodeURIComponent(id), signal)
  return showRushes()
}

// ── sign in ───────────────────────────────────────────────────────────────────────────────

async function signIn(key: string): Promise<void> {
  const candidate = new Client(key)
  account = await candidate.account()
  client = candidate
  storeKey(key)
}

function signOut(): void {
  forgetKey()
  client = undefined
  account = undefined
  leave.abort()
  location.hash = ''
  show('sign-in')
}

function setUpSignIn(): void {
  const form = $<HTMLFormElement>('sign-in-form')
  const error = $('sign-in-error')
  form.addEventListener('submit', async (event) => {
    event.preventDefault()
    error.textContent = ''
    const input = $<HTMLInputElement>('key')
    const button = form.querySelector('button')!
    button.disabled = true
    try {
      await signIn(input.value.trim())
      input.value = ''
      if (!location.hash || location.hash === '#') location.hash = '#/rushes'
      else await route()
    } catch (err) {
      error.textContent =
        err instanceof HttpError && err.status === 401
          ? `Sign-in refused: ${err.message}.`
          : `Could not sign in: ${message(err)}`
      input.select()
    } finally {
      button.disabled = false
    }
  })
  $('sign-out').addEventListener('click', signOut)
}

/** Any 401 later (key rotated, tenant disabled) sends the user back to sign in. */
function failed(err: unknown, where: HTMLElement): void {
  if (err instanceof HttpError && (err.status === 401 || err.status === 403)) {
    signOut()
    $('sign-in-error').textContent = `Signed out: ${err.message}.`
    return
  }
  where.textContent = message(err)
}

// ── rushes ────────────────────────────────────────────────────────────────────────────────

const when = (iso: string): string =>
  new Date(iso).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' })

function stateBadge(state: string): HTMLElement {
  return el('span', { class: `state state-${state}`, 'data-state': state }, state)
}

async function showRushes(): Promise<void> {
  show('rushes')
  const list = $('rush-list')
  const error = $('rushes-error')
  error.textContent = ''
  try {
    const { rushes } = await client!.rushes()
    list.replaceChildren(
      ...rushes.map((rush) =>
        el(
          'li',
          {},
          el(
            'a',
            { href: `#/rush/${encodeURIComponent(rush.id)}`, 'data-rush': rush.id },
            el('span', { class: 'url' }, `${rush.method ?? 'GET'} ${rush.url}`),
            el(
              'span',
              { class: 'line' },
              stateBadge(rush.state),
              el(
                'span',
                { class: 'muted' },
                `${rush.pattern} · ${rush.regions.join(', ')} · ${when(rush.createdAt)}`,
              ),
            ),
          ),
        ),
      ),
    )
    $('rushes-empty').hidden = rushes.length > 0
  } catch (err) {
    failed(err, error)
  }
}

// ── new rush ──────────────────────────────────────────────────────────────────────────────

const HINTS = {
  pattern: [
    '1-50:60',
    'Users over time: 1-50:60 ramps from 1 to 50 users in 60 s; phases with commas: 1-250:60,250:30.',
  ],
  rate: [
    '10-200:60',
    'Requests per second, sent whatever the service answers: 10-200:60 ramps from 10 to 200 in 60 s.',
  ],
} as const

function setUpNew(): void {
  const form = $<HTMLFormElement>('new-form')
  const pattern = $<HTMLInputElement>('new-pattern')
  for (const radio of form.querySelectorAll<HTMLInputElement>('input[name=model]')) {
    radio.addEventListener('change', () => {
      const hint = HINTS[radio.value as keyof typeof HINTS]
      if (Object.values(HINTS).some(([example]) => example === pattern.value)) pattern.value = hint[0]
      $('new-pattern-hint').textContent = hint[1]
    })
  }
  form.addEventListener('submit', async (event) => {
    event.preventDefault()
    const error = $('new-error')
    error.textContent = ''
    const url = $<HTMLInputElement>('new-url').value.trim()
    if (!url) {
      error.textContent = 'A URL is needed.'
      return
    }
    const model = form.querySelector<HTMLInputElement>('input[name=model]:checked')!.value
    const regions = [...form.querySelectorAll<HTMLInputElement>('#new-regions input:checked')].map(
      (box) => box.value,
    )
    if (regions.length === 0) {
      error.textContent = 'Choose at least one region.'
      return
    }
    const thresholds = $<HTMLInputElement>('new-thresholds')
      .value.split(/[,\n]/)
      .map((text) => text.trim())
      .filter(Boolean)
    const timeout = Number($<HTMLInputElement>('new-timeout').value)
    const expect = $<HTMLInputElement>('new-expect').value.trim()
    const button = form.querySelector<HTMLButtonElement>('button[type=submit]')!
    button.disabled = true
    try {
      const { id } = await client!.submit({
        request: {
          url,
          method: $<HTMLSelectElement>('new-method').value,
          ...(Number.isInteger(timeout) && timeout > 0 && { timeoutMs: timeout }),
          ...(expect && { expectStatus: expect }),
        },
        [model === 'rate' ? 'rate' : 'pattern']: pattern.value.trim(),
        regions,
        thresholds,
      })
      location.hash = `#/rush/${encodeURIComponent(id)}`
    } catch (err) {
      failed(err, error)
    } finally {
      button.disabled = false
    }
  })
}

function showNew(): void {
  show('new')
  const box = $('new-regions')
  if (account) {
    const { maxUsers, maxDuration, maxRunning } = account.quotas
    $('new-quotas').textContent =
      `Your quotas: up to ${count(maxUsers)} users, ${count(maxDuration)} s a rush, ${count(maxRunning)} running at once.`
  }
  if (box.childElementCount === 0 && account) {
    box.replaceChildren(
      ...account.regions.map((region, i) => {
        const input = el('input', { type: 'checkbox', name: 'region', value: region })
        input.checked = i === 0
        return el('label', {}, input, ` ${region}`)
      }),
    )
  }
  $('new-url').focus()
}

// ── hosts ─────────────────────────────────────────────────────────────────────────────────

function hostItem(host: Host): HTMLElement {
  const scheme = el(
    'select',
    { 'aria-label': `Scheme for ${host.host}` },
    el('option', {}, 'http'),
    el('option', {}, 'https'),
  )
  const port = el('input', {
    type: 'number',
    min: '1',
    max: '65535',
    placeholder: 'port',
    'aria-label': `Port for ${host.host}`,
  })
  const verify = el('button', { type: 'button' }, 'Verify')
  const status = el('p', { class: 'error', role: 'alert' })
  verify.addEventListener('click', async () => {
    verify.disabled = true
    status.textContent = ''
    try {
      const checked = await client!.verifyHost(
        host.host,
        scheme.value,
        port.value ? Number(port.value) : undefined,
      )
      item.replaceWith(hostItem(checked))
      if (!checked.proven) {
        const why = checked.checks
          ?.map((check) => `${check.url ?? check.method}: ${check.error ?? check.code}`)
          .join('; ')
        status.textContent = `Not proven yet${why ? ` (${why})` : ''}.`
      }
    } catch (err) {
      failed(err, status)
    } finally {
      verify.disabled = false
    }
  })
  const item = el(
    'li',
    { 'data-host': host.host },
    el(
      'div',
      { class: 'line' },
      el('strong', {}, host.host),
      el(
        'span',
        { class: `state ${host.proven ? 'state-done' : 'state-queued'}` },
        host.proven ? 'proven' : 'not proven',
      ),
      host.provenBy ? el('span', { class: 'muted' }, `by ${host.provenBy}`) : '',
    ),
    el('p', { class: 'token' }, 'Token ', el('code', {}, host.token)),
    el('p', { class: 'hint' }, host.instructions),
    el('div', { class: 'inline' }, scheme, port, verify),
    status,
  )
  return item
}

function setUpHosts(): void {
  $<HTMLFormElement>('host-form').addEventListener('submit', async (event) => {
    event.preventDefault()
    const input = $<HTMLInputElement>('host-name')
    const error = $('host-error')
    error.textContent = ''
    try {
      const host = await client!.addHost(input.value.trim())
      input.value = ''
      const list = $('host-list')
      list.querySelector(`[data-host="${CSS.escape(host.host)}"]`)?.remove()
      list.prepend(hostItem(host))
    } catch (err) {
      failed(err, error)
    }
  })
}

async function showHosts(signal: AbortSignal): Promise<void> {
  show('hosts')
  try {
    const { hosts } = await client!.hosts()
    if (!signal.aborted) $('host-list').replaceChildren(...hosts.map(hostItem))
  } catch (err) {
    failed(err, $('host-error'))
  }
}

// ── one rush, live ────────────────────────────────────────────────────────────────────────

interface EndData {
  state: string
  summary?: Rush['summary']
  thresholds?: { threshold: string; actual: number; passed: boolean }[]
  verdict?: string
}

function setFigure(name: string, value: string): void {
  const element = document.querySelector<HTMLElement>(`#rush-cards [data-figure="${name}"]`)
  if (element) element.textContent = value
}

function setState(state: string): void {
  const badge = $('rush-state')
  badge.textContent = state
  badge.className = `state state-${state}`
  badge.dataset.state = state
  document.documentElement.dataset.rushState = state
  $('abort').hidden = TERMINAL.has(state)
}

function renderShards(rush: Rush): void {
  $('rush-shards').replaceChildren(
    ...(rush.shards ?? []).map((shard) =>
      el(
        'tr',
        {},
        el('td', {}, shard.region),
        el('td', {}, shard.engine ?? '–'),
        el('td', {}, shard.state, shard.reason ? el('span', { class: 'muted' }, ` (${shard.reason})`) : ''),
      ),
    ),
  )
}

/** A threshold's measured value in its own unit: latencies in ms, rates as percentages. */
function measured(threshold: string, actual: number): string {
  if (/%/.test(threshold)) return percent(actual)
  // A step's threshold (`login.p95<300ms`) is measured like the whole rush's.
  if (/^\s*(?:[A-Za-z_][\w-]*\.)?(p\d|mean|min|max|latency)/i.test(threshold)) return `${millis(actual)} ms`
  return number(actual)
}

function renderVerdict(end: EndData): void {
  const section = $('rush-verdict')
  section.hidden = false
  const passed = end.verdict === 'passed'
  section.className = `verdict ${passed ? 'pass' : end.state === 'done' ? 'fail' : 'incomplete'}`
  $('verdict-badge').textContent = passed ? 'passed' : end.state === 'done' ? 'failed' : end.state
  const summary = end.summary
  $('verdict-reason').textContent = summary
    ? `${count(summary.hits)} hits in ${number(summary.duration)} s, p95 ${millis(summary.latency.p95)} ms, ${percent(summary.errorRate)} errors`
    : ''
  const table = $<HTMLTableElement>('verdict-thresholds')
  const rows = end.thresholds ?? []
  table.hidden = rows.length === 0
  table.tBodies[0]!.replaceChildren(
    ...rows.map((row) =>
      el(
        'tr',
        {},
        el('td', {}, el('code', {}, row.threshold)),
        el('td', {}, measured(row.threshold, row.actual)),
        el('td', {}, el('span', { class: row.passed ? 'pass' : 'fail' }, row.passed ? 'pass' : 'fail')),
      ),
    ),
  )
}

/** A transaction's step table: running counts and means live, percentiles once it ended. */
function renderSteps(steps: StepTable): void {
  const dash = '–'
  $('rush-steps-table')
    .querySelector('tbody')!
    .replaceChildren(
      ...steps
        .lines()
        .map((line) =>
          el(
            'tr',
            { 'data-step': line.name },
            el('th', { scope: 'row' }, line.name),
            el('td', {}, count(line.hits)),
            el('td', {}, count(line.errors)),
            el('td', {}, count(line.timeouts)),
            el('td', {}, count(line.statusFailures)),
            el('td', {}, line.mean === null ? dash : millis(line.mean)),
            el('td', {}, line.latency ? millis(line.latency.p50) : dash),
            el('td', {}, line.latency ? millis(line.latency.p95) : dash),
            el('td', {}, line.latency ? millis(line.latency.p99) : dash),
            el('td', {}, line.latency ? millis(line.latency.max) : dash),
            el('td', {}, line.share === null ? '' : percent(line.share)),
          ),
        ),
    )
  const legend =
    ' Share: of the time an iteration spends in requests. (iterations): complete ones as hits, those a step ended as errors.'
  $('rush-steps-note').textContent = steps.final
    ? `The whole rush, each step from its own histogram merged across engines and regions.${legend}`
    : `So far, from each second’s step figures; percentiles come when the rush ends.${legend}`
  document.documentElement.dataset.steps = steps.final ? 'final' : 'live'
}

function chartSlots(): void {
  $('rush-charts').replaceChildren(
    ...FIGURES.map((figure) =>
      el(
        'figure',
        { class: 'chart-figure', 'data-figure-id': figure.id },
        el('h2', {}, figure.title),
        el('p', { class: 'description' }, figure.description),
        el('div', { class: 'chart', 'data-chart': figure.id, role: 'img', 'aria-label': figure.title }),
      ),
    ),
  )
}

async function showRush(id: string, signal: AbortSignal): Promise<void> {
  show('rush')
  const notice = $('rush-notice')
  notice.textContent = ''
  $('rush-verdict').hidden = true
  $('rush-title').textContent = ''
  $('rush-meta').textContent = ''
  $('rush-link').textContent = ''
  $('rush-shards').replaceChildren()
  for (const figure of ['second', 'users', 'hits', 'latency', 'total', 'errors']) setFigure(figure, '–')
  document.documentElement.dataset.seconds = '0'
  delete document.documentElement.dataset.steps
  $('rush-steps').hidden = true
  let steps: StepTable | undefined
  chartSlots()
  let totalHits = 0
  let failures = 0
  const charts = new LiveCharts($('rush-charts'), (model) => {
    const last = model.seconds.at(-1)
    if (!last) return
    setFigure('second', count(model.seconds.length))
    setFigure('users', compact(last.users))
    setFigure('hits', compact(last.hits))
    const p95 = last.latency?.p95
    document.querySelector('[data-figure-label="latency"]')!.textContent =
      p95 !== undefined ? 'p95 now' : 'mean now'
    const latency = p95 ?? last.meanMs
    setFigure('latency', latency === null ? '–' : `${millis(latency)} ms`)
    setFigure('total', compact(totalHits))
    setFigure('errors', compact(failures))
    for (const figure of document.querySelectorAll<HTMLElement>('#rush-charts figure')) {
      figure.hidden = figure.querySelector('[data-drawn]') === null
    }
    document.documentElement.dataset.seconds = String(model.seconds.length)
    if (steps) renderSteps(steps)
  })
  signal.addEventListener('abort', () => charts.destroy(), { once: true })

  let rush: Rush
  try {
    rush = await client!.rush(id)
  } catch (err) {
    failed(err, notice)
    return
  }
  if (signal.aborted) return
  $('rush-title').textContent = `${rush.method ?? 'GET'} ${rush.url}`
  $('rush-meta').textContent =
    `${rush.model === 'rush' ? 'users' : 'requests/s'} ${rush.pattern} · ${rush.regions.join(', ')}`
  $('rush-link').textContent = `· ${rush.id}`
  setState(rush.state)
  renderShards(rush)
  if (rush.steps && rush.steps.length > 0) {
    steps = new StepTable(rush.steps)
    $('rush-steps').hidden = false
    renderSteps(steps)
  }
  if (rush.state === 'queued') notice.textContent = 'Queued: the engines start it in a moment.'

  let ended = false
  // State and shards come from the rush itself (the stream carries seconds): read every
  // two seconds while it runs, once more when it ends.
  const poll = async () => {
    while (!signal.aborted && !ended) {
      await new Promise((resolve) => setTimeout(resolve, 2000))
      if (signal.aborted || ended) return
      try {
        const fresh = await client!.rush(id)
        if (!ended) setState(fresh.state)
        // The rush's state turns before the stream's end, which waits for every shard's last seconds.
        if (!ended && TERMINAL.has(fresh.state))
          notice.textContent = `${fresh.state}: merging the last seconds…`
        renderShards(fresh)
      } catch {}
    }
  }
  void poll()

  const abort = $<HTMLButtonElement>('abort')
  abort.disabled = false
  abort.textContent = 'Abort'
  abort.onclick = async () => {
    abort.disabled = true
    abort.textContent = 'Aborting…'
    try {
      await client!.abort(id)
      // On a loaded server the stream's end can arrive before this answer: the end has the last word.
      if (!ended) notice.textContent = 'Abort sent: the engines stop within a second.'
    } catch (err) {
      failed(err, notice)
      abort.disabled = false
      abort.textContent = 'Abort'
    }
  }

  try {
    await follow(client!.eventsUrl(id), {
      headers: client!.headers,
      signal,
      isLast: (event) => event.event === 'end' || event.event === 'error',
      onRetry: () => {
        notice.textContent = 'Connection lost; reconnecting…'
      },
      onEvent: (event) => {
        if (event.event === 'second') {
          if (/^(Connection lost|Queued)/.test(notice.textContent ?? '')) notice.textContent = ''
          const second = JSON.parse(event.data) as StreamSecond
          totalHits += second.hits
          failures += second.timeouts + Object.values(second.errors ?? {}).reduce((sum, n) => sum + n, 0)
          steps?.add(second)
          charts.add(second)
        } else if (event.event === 'end') {
          ended = true
          const end = JSON.parse(event.data) as EndData
          setState(end.state)
          renderVerdict(end)
          charts.end(end.summary?.latency)
          if (end.state === 'aborted') notice.textContent = 'Aborted: every engine has stopped.'
          else notice.textContent = ''
          client!.rush(id).then(
            (fresh) => {
              renderShards(fresh)
              // The rush's own step summaries (percentiles from the merged part histograms).
              if (steps && fresh.transaction) {
                steps.finish(fresh.transaction)
                renderSteps(steps)
              }
            },
            () => {},
          )
        } else if (event.event === 'error') {
          ended = true
          notice.textContent = `The stream failed: ${JSON.parse(event.data).detail ?? 'unknown error'}`
        }
      },
    })
  } catch (err) {
    ended = true
    failed(err, notice)
  }
}

// ── start ─────────────────────────────────────────────────────────────────────────────────

async function start(): Promise<void> {
  setUpSignIn()
  setUpNew()
  setUpHosts()
  window.addEventListener('hashchange', () => void route())
  const key = storedKey()
  if (key) {
    try {
      await signIn(key)
    } catch {
      forgetKey()
    }
  }
  await route()
  if (!client) $('key').focus()
}

void start()
