import { ERROR_KINDS } from '../timeline.js'
import { bytes, clock, count, measured, millis, number, percent } from './format.js'
import type {
  Highlights,
  Moment,
  RegionReport,
  ReportData,
  SecondRow,
  SummaryFigures,
  TransactionReport,
} from './model.js'

/**
 * The report as one HTML page that opens from disk with nothing fetched: the data, the
 * chart code and the styles are inlined, and its Content-Security-Policy forbids every
 * request. Everything a reader needs in words (verdict, thresholds, highlights, summary,
 * and a table beside each chart) is rendered here, so the page reads even where scripts
 * are blocked (a CI server's artifact viewer); the script only draws the charts.
 */

export interface ReportAssets {
  /** The bundled chart code (web/report → dist/web/report.js). */
  script: string
  /** uPlot's styles and the report's. */
  css: string
}

/** The element whose JSON the charts read. */
export const DATA_ELEMENT_ID = 'stampede-report-data'

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
}
export const escapeHtml = (text: string): string => text.replace(/[&<>"']/g, (c) => ESCAPES[c]!)

/** JSON inside a <script> element: `<` escaped so no `</script>` or `<!--` can end it. */
const scriptJson = (value: unknown): string =>
  JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029')

/** JavaScript inside a <script> element. */
const inlineScript = (code: string): string => code.replace(/<\/script/gi, '<\\/script')

function table(caption: string, head: string[], rows: (string | number)[][], className = ''): string {
  const cls = className ? ` class="${className}"` : ''
  return [
    `<table${cls}><caption>${escapeHtml(caption)}</caption>`,
    `<thead><tr>${head.map((cell) => `<th scope="col">${escapeHtml(cell)}</th>`).join('')}</tr></thead>`,
    '<tbody>',
    ...rows.map(
      (row) =>
        `<tr>${row.map((cell, i) => (i === 0 ? `<th scope="row">${cell}</th>` : `<td>${cell}</td>`)).join('')}</tr>`,
    ),
    '</tbody></table>',
  ].join('\n')
}

const ms = (value: number | undefined): string => (value === undefined ? '–' : millis(value))

function verdict(data: ReportData): string {
  const failed = data.thresholds.filter((row) => !row.passed)
  let word: string
  let reason: string
  if (!data.completed) {
    word = 'Not completed'
    reason = data.unfinished ?? 'the rush was stopped before its pattern ended'
  } else if (failed.length > 0) {
    word = 'Failed'
    reason = `${failed.length} of ${data.thresholds.length} thresholds failed`
  } else {
    word = 'Passed'
    reason =
      data.thresholds.length > 0
        ? `every threshold held (${data.thresholds.length})`
        : 'the rush completed (no thresholds were set)'
  }
  const state = data.passed ? 'pass' : data.completed ? 'fail' : 'incomplete'
  const rows = data.thresholds.map((row) => [
    `<code>${escapeHtml(row.threshold)}</code>`,
    measured(row),
    row.passed ? '<span class="pass">pass</span>' : '<span class="fail">fail</span>',
  ])
  return [
    `<section class="verdict ${state}" aria-labelledby="verdict-title">`,
    `<h2 id="verdict-title"><span class="badge" data-verdict="${state}">${word}</span> <span class="reason">${escapeHtml(reason)}</span></h2>`,
    rows.length > 0
      ? table(
          'Thresholds: each criterion and the value measured',
          ['threshold', 'measured', 'result'],
          rows,
          'thresholds',
        )
      : '',
    '</section>',
  ].join('\n')
}

const at = (moment: Moment, users: string): string =>
  `at <strong>${clock(moment.t)}</strong> (second ${moment.t}) with <strong>${count(moment.users)}</strong> ${users}`

function highlightItems(h: Highlights, users: string): string[] {
  const items: string[] = []
  items.push(
    h.firstError
      ? `First error ${at(h.firstError, users)}: ${count(h.firstError.count)} in that second.`
      : 'No errors.',
  )
  items.push(
    h.firstTimeout
      ? `First timeout ${at(h.firstTimeout, users)}: ${count(h.firstTimeout.count)} in that second.`
      : 'No timeouts.',
  )
  if (h.peakHits) {
    items.push(
      `Peak <strong data-figure="peak-hits">${count(h.peakHits.count)}</strong> hits/s ${at(h.peakHits, users)}; ` +
        `kept up for a day, that rate is <strong data-figure="hits-per-day">${count(h.hitsPerDay)}</strong> hits/day.`,
    )
  } else items.push('No response came back.')
  items.push(
    `<strong data-figure="failed-share">${percent(h.failedShare)}</strong> of the users' requests ` +
      `(${count(h.failedRequests)} of ${count(h.requests)}) saw an error or a timeout.`,
  )
  return items
}

function summarySection(data: ReportData): string {
  const s = data.summary
  const cards: [string, string, string][] = [
    ['requests', count(s.requests), 'requests'],
    ['hits-per-second', number(s.hitsPerSecond), 'hits/s (mean)'],
    ['peak-concurrency', count(s.peakConcurrency), data.model === 'rush' ? 'peak users' : 'peak in flight'],
    ['error-rate', percent(s.errorRate), 'errors'],
    ['p95', `${millis(s.latency.p95)} ms`, 'p95 latency'],
    ['p99', `${millis(s.latency.p99)} ms`, 'p99 latency'],
  ]
  return [
    '<section aria-labelledby="summary-title">',
    '<h2 id="summary-title">Summary</h2>',
    '<ul class="cards">',
    ...cards.map(
      ([key, value, label]) =>
        `<li><span class="value" data-figure="${key}">${value}</span><span class="label">${label}</span></li>`,
    ),
    '</ul>',
    '</section>',
  ].join('\n')
}

/** Every figure of the summary, in two tables, after the charts. */
function figuresSection(data: ReportData): string {
  const s = data.summary
  const kinds = ERROR_KINDS.filter((kind) => s.errorsByKind[kind] > 0)
    .map((kind) => `${kind} ${count(s.errorsByKind[kind])}`)
    .join(', ')
  const statuses = Object.entries(s.statuses)
    .sort(([a], [b]) => Number(a) - Number(b))
    .map(([status, n]) => `${status}: ${count(n)}`)
    .join(', ')
  const rows: [string, string, string][] = [
    ['duration', `${number(s.duration)} s`, 'duration'],
    ['requests', count(s.requests), 'requests (ended: hits, errors, timeouts)'],
    ['sent', count(s.sent), 'sent'],
    ['hits', count(s.hits), 'hits (complete responses)'],
    ['hits-per-second', number(s.hitsPerSecond), 'hits/s'],
    ['errors', `${count(s.errors)} (${percent(s.errorRate)})`, 'errors (timeouts included)'],
    ['timeouts', count(s.timeouts), 'timeouts'],
    ['dropped', count(s.dropped), 'dropped (due, never sent)'],
    ['error-kinds', kinds || 'none', 'errors by kind (timeouts apart)'],
    ['statuses', statuses || 'none', 'statuses'],
    ['transfer', `sent ${bytes(s.txBytes)}, received ${bytes(s.rxBytes)}`, 'transfer'],
    ['connects', `${count(s.connects)}, mean connect ${millis(s.connectMean)} ms`, 'connections opened'],
  ]
  const l = s.latency
  return [
    '<section aria-labelledby="figures-title">',
    '<h2 id="figures-title">The rush in figures</h2>',
    '<div class="summary-tables">',
    table(
      'The rush in figures',
      ['', 'value'],
      rows.map(([key, value, label]) => [label, `<span data-summary="${key}">${escapeHtml(value)}</span>`]),
    ),
    table(
      'Latency of every response (ms), from the merged histogram',
      ['', 'ms'],
      (
        [
          ['min', l.min],
          ['mean', l.mean],
          ['p50', l.p50],
          ['p90', l.p90],
          ['p95', l.p95],
          ['p99', l.p99],
          ['p99.9', l.p999],
          ['max', l.max],
        ] as [string, number][]
      ).map(([name, value]) => [name, `<span data-latency="${name}">${millis(value)}</span>`]),
    ),
    '</div>',
    '</section>',
  ].join('\n')
}

interface Figure {
  id: string
  title: string
  description: string
  table: string
  /** Chart options the script reads (e.g. a region's name). */
  attributes?: string
}

function figure(fig: Figure): string {
  return [
    `<figure class="chart-figure" aria-labelledby="${fig.id}-title">`,
    `<h2 id="${fig.id}-title">${escapeHtml(fig.title)}</h2>`,
    `<p class="description">${fig.description}</p>`,
    `<div class="chart" data-chart="${fig.id}" role="img" aria-label="${escapeHtml(fig.title)}: chart; the same figures are in the table below"${fig.attributes ?? ''}></div>`,
    `<details><summary>Table: ${escapeHtml(fig.title.toLowerCase())}</summary>${fig.table}</details>`,
    '</figure>',
  ].join('\n')
}

const lat = (row: SecondRow, key: 'p50' | 'p95' | 'p99' | 'max'): string =>
  row.latency ? millis(row.latency[key]) : '–'

function statusColumns(rows: SecondRow[]): { statuses: string[]; kinds: string[] } {
  const statuses = new Set<string>()
  const kinds = new Set<string>()
  for (const row of rows) {
    for (const status of Object.keys(row.statuses)) statuses.add(status)
    for (const kind of Object.keys(row.errorsByKind)) kinds.add(kind)
  }
  return {
    statuses: [...statuses].sort((a, b) => Number(a) - Number(b)),
    kinds: ERROR_KINDS.filter((kind) => kinds.has(kind)),
  }
}

function figures(data: ReportData): string[] {
  const rows = data.seconds
  const users = data.model === 'rush' ? 'users' : 'in flight'
  const t = (row: SecondRow) => `${clock(row.t)}`
  const { statuses, kinds } = statusColumns(rows)
  const out: Figure[] = [
    {
      id: 'traffic',
      title: `${data.model === 'rush' ? 'Users' : 'Requests in flight'}, hits, errors and timeouts per second`,
      description: `The load (right axis) and what came back each second (left axis). A request counts in the second it ended.`,
      table: table(
        'Per second',
        ['time', users, 'hits/s', 'errors/s', 'timeouts/s'],
        rows.map((row) => [
          t(row),
          count(row.users),
          count(row.hits),
          count(row.errors),
          count(row.timeouts),
        ]),
        'per-second traffic',
      ),
    },
    {
      id: 'latency',
      title: 'Response time per second',
      description:
        'p50, p95, p99 and the slowest response of each second, read from that second’s own latency histogram (not averages of averages).',
      table: table(
        'Response time per second (ms)',
        ['time', 'responses', 'p50', 'p95', 'p99', 'max'],
        rows.map((row) => [
          t(row),
          count(row.latency?.count ?? 0),
          lat(row, 'p50'),
          lat(row, 'p95'),
          lat(row, 'p99'),
          lat(row, 'max'),
        ]),
        'per-second latency',
      ),
    },
    {
      id: 'bend',
      title: `Response time against ${data.model === 'rush' ? 'users' : 'requests in flight'}`,
      description: `Each dot is one second: its ${users} and its p50 / p95 / p99. Where the dots turn up is where the service bends.`,
      table: table(
        'Response time against load (ms), by second',
        ['time', users, 'p50', 'p95', 'p99'],
        rows.map((row) => [t(row), count(row.users), lat(row, 'p50'), lat(row, 'p95'), lat(row, 'p99')]),
      ),
    },
    {
      id: 'statuses',
      title: 'Status codes and errors per second',
      description: 'Responses by status code, then failed requests by kind and timeouts, stacked.',
      table: table(
        'Responses and failures per second',
        ['time', ...statuses.map((s) => `HTTP ${s}`), ...kinds, 'timeouts'],
        rows.map((row) => [
          t(row),
          ...statuses.map((s) => count(row.statuses[s] ?? 0)),
          ...kinds.map((k) => count(row.errorsByKind[k as keyof typeof row.errorsByKind] ?? 0)),
          count(row.timeouts),
        ]),
      ),
    },
  ]
  if (data.regions.length > 1) out.push(...regionFigures(data.regions))
  if (data.stepNames && data.stepNames.length > 0) out.push(stepFigure(data.stepNames, rows))
  out.push({
    id: 'distribution',
    title: 'Latency distribution of the whole rush',
    description:
      'The percentile curve of every response, from the histogram merged across processes, engines and regions. The horizontal axis is in “nines”: 90 %, 99 %, 99.9 % are equally spaced.',
    table: table(
      'Latency by percentile (ms)',
      ['percentile', 'ms'],
      data.distribution.map((point) => [`${number(point.percentile)}%`, millis(point.ms)]),
    ),
  })
  return out.map(figure)
}

function regionFigures(regions: RegionReport[]): Figure[] {
  const seconds = Math.max(...regions.map((region) => region.seconds.length))
  const byT = regions.map((region) => new Map(region.seconds.map((row) => [row.t, row])))
  const names = regions.map((region) => region.name)
  const cell = (map: Map<number, SecondRow>, t: number, pick: (row: SecondRow) => string) => {
    const row = map.get(t)
    return row ? pick(row) : '–'
  }
  const times = [...Array(seconds).keys()]
  return [
    {
      id: 'region-hits',
      title: 'Hits per second by region',
      description: 'What each region’s engines got back each second.',
      table: table(
        'Hits per second by region',
        ['time', ...names],
        times.map((t) => [clock(t), ...byT.map((map) => cell(map, t, (row) => count(row.hits)))]),
      ),
    },
    {
      id: 'region-p95',
      title: 'p95 response time by region',
      description: 'Each region’s p95 per second, from that region’s own per-second histograms.',
      table: table(
        'p95 per second by region (ms)',
        ['time', ...names],
        times.map((t) => [clock(t), ...byT.map((map) => cell(map, t, (row) => lat(row, 'p95')))]),
      ),
    },
  ]
}

function stepFigure(names: string[], rows: SecondRow[]): Figure {
  const mean = (row: SecondRow, index: number): string => {
    const value = row.steps?.[index]?.meanMs
    return value === null || value === undefined ? '–' : millis(value)
  }
  return {
    id: 'step-mean',
    title: 'Mean response time per step',
    description:
      'Each step’s mean response time per second, exact (from the sum of its latencies); each step’s percentiles over the whole rush are in the Steps table.',
    table: table(
      'Mean response time per step and second (ms)',
      ['time', ...names],
      rows.map((row) => [clock(row.t), ...names.map((_, index) => mean(row, index))]),
    ),
  }
}

function regionSummary(regions: RegionReport[]): string {
  if (regions.length < 2) return ''
  return [
    '<section aria-labelledby="regions-title">',
    '<h2 id="regions-title">Regions</h2>',
    table(
      'Each region’s part of the rush',
      ['region', 'requests', 'hits/s', 'errors', 'timeouts', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms'],
      regions.map((region) => {
        const s = region.summary
        return [
          escapeHtml(region.name),
          count(s.requests),
          number(s.hitsPerSecond),
          `${count(s.errors)} (${percent(s.errorRate)})`,
          count(s.timeouts),
          ms(s.latency.p50),
          ms(s.latency.p95),
          ms(s.latency.p99),
          ms(s.latency.max),
        ]
      }),
      'regions',
    ),
    '</section>',
  ].join('\n')
}

/** Failed requests by kind, timeouts apart: "3 (connect 1, status 2)". */
function errorKinds(s: SummaryFigures): string {
  const kinds = ERROR_KINDS.filter((kind) => (s.errorsByKind[kind] ?? 0) > 0).map(
    (kind) => `${kind} ${count(s.errorsByKind[kind])}`,
  )
  const failed = s.errors - s.timeouts
  return kinds.length === 0 ? count(failed) : `${count(failed)} (${kinds.join(', ')})`
}

/**
 * A transaction's steps: each step's own figures (from its own merged histogram) and its
 * share of an iteration's time in requests, then the iterations as a whole.
 */
function stepsSection(transaction: TransactionReport | undefined): string {
  if (!transaction) return ''
  const it = transaction.iterations
  const stepRow = (name: string, s: SummaryFigures, share: string, key: string) => [
    `<span data-step="${escapeHtml(key)}">${escapeHtml(name)}</span>`,
    count(s.hits),
    errorKinds(s),
    count(s.timeouts),
    count(s.errorsByKind.status ?? 0),
    ms(s.latency.p50),
    ms(s.latency.p95),
    ms(s.latency.p99),
    ms(s.latency.max),
    share,
  ]
  const percentiles = ['min', 'mean', 'p50', 'p90', 'p95', 'p99', 'p999', 'max'] as const
  return [
    '<section aria-labelledby="steps-title">',
    '<h2 id="steps-title">Steps</h2>',
    // An iteration is a hit when every step passed, else an error of the kind that ended it.
    `<p class="description">The transaction ran <strong data-figure="iterations">${count(it.hits + it.errors)}</strong> iterations: ` +
      `<strong data-figure="iterations-complete">${count(it.hits)}</strong> complete (${number(it.hitsPerSecond)}/s; ` +
      `p50 ${millis(it.latency.p50)} ms, p95 ${millis(it.latency.p95)} ms, p99 ${millis(it.latency.p99)} ms for all its steps, think time excluded), ` +
      `${count(it.errors)} ended by an error or a timeout` +
      `${transaction.exhausted > 0 ? `; ${count(transaction.exhausted)} time(s) a user found no unique data row left and stopped` : ''}. ` +
      'Each step’s figures come from its own histogram, merged across processes, engines and regions.</p>',
    table(
      'Each step of the transaction (latency in ms; share: of the time an iteration spends in requests)',
      ['step', 'hits', 'errors', 'timeouts', 'status failures', 'p50', 'p95', 'p99', 'max', 'share'],
      [
        ...transaction.steps.map((step) => stepRow(step.name, step.summary, percent(step.share), step.name)),
        stepRow('(iterations)', it, '100%', '(iterations)'),
      ],
      'steps',
    ),
    table(
      'Latency percentiles per step (ms)',
      ['step', 'min', 'mean', 'p50', 'p90', 'p95', 'p99', 'p99.9', 'max'],
      transaction.steps.map((step) => [
        escapeHtml(step.name),
        ...percentiles.map((key) => ms(step.summary.latency[key])),
      ]),
      'step-latency',
    ),
    '</section>',
  ].join('\n')
}

export function renderReport(data: ReportData, assets: ReportAssets): string {
  const users = data.model === 'rush' ? 'users' : 'in flight'
  const what =
    (data.model === 'rush' ? `users ${data.pattern}` : `rate ${data.pattern}/s`) +
    (data.pipelining !== undefined
      ? ` · pipelining ${data.pipelining}: each user keeps up to ${data.pipelining} requests in flight`
      : '')
  const title = `Stampede ${data.model}: ${data.url}`
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:">
<title>${escapeHtml(title)}</title>
<style>${assets.css}</style>
</head>
<body>
<header>
<p class="brand">Stampede ${escapeHtml(data.model === 'rush' ? 'rush' : 'arrival-rate rush')} report</p>
<h1><code>${escapeHtml(data.url)}</code></h1>
<p class="meta">${escapeHtml(what)} · ${escapeHtml(data.where)} · started ${escapeHtml(data.startedAt)} · ${number(data.summary.duration)} s</p>
</header>
<main>
${verdict(data)}
<section class="highlights" aria-labelledby="highlights-title">
<h2 id="highlights-title">Highlights</h2>
<ul>
${highlightItems(data.highlights, users)
  .map((item) => `<li>${item}</li>`)
  .join('\n')}
</ul>
</section>
${summarySection(data)}
${regionSummary(data.regions)}
${stepsSection(data.transaction)}
${figures(data).join('\n')}
${figuresSection(data)}
</main>
<footer>
<p>Made by stampede ${escapeHtml(data.stampede)}. Times are seconds from the rush’s start; a request counts in the second it ended. “Errors” count every failed request: connection, TLS, parse and socket errors, responses outside the expected statuses, and timeouts (counted apart in the charts). The share of users’ requests that saw an error or a timeout counts each request as one user’s visit.</p>
</footer>
<script type="application/json" id="${DATA_ELEMENT_ID}">${scriptJson(data)}</script>
<script>${inlineScript(assets.script)}</script>
</body>
</html>
`
}
