import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { buildReport } from '../../../lib/report/build.js'
import { CSV_COLUMNS, renderCsv } from '../../../lib/report/csv.js'
import { DATA_ELEMENT_ID, renderReport } from '../../../lib/report/html.js'
import { renderJunit } from '../../../lib/report/junit.js'
import { sampleInput, sampleReport } from './fixture.js'

const SCHEMA = fileURLToPath(new URL('../../fixtures/jenkins-junit.xsd', import.meta.url))
const dir = mkdtempSync(join(tmpdir(), 'stampede-exports-'))
const hasXmllint = spawnSync('xmllint', ['--version']).status === 0

/** xmllint's verdict on `xml` against the Jenkins JUnit schema: null when valid, its complaint otherwise. */
function schemaErrors(xml: string, name: string): string | null {
  const file = join(dir, name)
  writeFileSync(file, xml)
  const run = spawnSync('xmllint', ['--noout', '--schema', SCHEMA, file], { encoding: 'utf8' })
  return run.status === 0 ? null : run.stderr
}

t.test('JUnit: a case per threshold with the measured value, and one for the rush completing', async (t) => {
  const report = sampleReport(['p95<500ms', 'errors<1%', 'p50<=2ms'])
  const xml = renderJunit(report)
  t.match(xml, /<testsuites name="stampede" tests="4" failures="2" errors="0" time="4">/)
  t.match(xml, /<testcase classname="stampede.rush" name="the rush completed" time="4"\/>/)
  t.match(xml, /name="p95&lt;500ms"[^>]*>\s*<system-out>p95 was 183 ms \(wanted below 500ms\)<\/system-out>/)
  t.match(
    xml,
    /name="errors&lt;1%"[^>]*>\s*<failure type="threshold" message="errors was 1.38% \(wanted below 1%\)">/,
  )
  t.match(xml, /message="p50 was 13.95 ms \(wanted at most 2ms\)"/)
  t.match(xml, /timestamp="2026-01-02T03:04:05"/, "Ant's timestamp form")
  t.match(xml, /<property name="url" value="http:\/\/127.0.0.1:8080\/&lt;path&gt;\?a=1&amp;b=2"\/>/)

  const unfinished = renderJunit(buildReport({ ...sampleInput([]), unfinished: 'rush x ended aborted' }))
  t.match(unfinished, /tests="1" failures="1"/)
  t.match(
    unfinished,
    /name="the rush completed"[^/]*>\s*<failure type="incomplete" message="rush x ended aborted"\/>/,
  )
})

t.test(
  'JUnit validates against the Jenkins schema (xmllint)',
  { skip: !hasXmllint && 'xmllint is not installed (Debian: libxml2-utils)' },
  async (t) => {
    t.equal(
      schemaErrors(renderJunit(sampleReport(['p95<500ms', 'errors<1%'])), 'fail.xml'),
      null,
      'a failed verdict',
    )
    t.equal(schemaErrors(renderJunit(sampleReport([])), 'none.xml'), null, 'no thresholds')
    t.equal(
      schemaErrors(renderJunit(buildReport({ ...sampleInput(), unfinished: 'lost' })), 'unfinished.xml'),
      null,
      'an unfinished rush',
    )
    // The check can fail: a test case without its name, or a failure after system-out.
    const good = renderJunit(sampleReport(['errors<1%']))
    t.match(schemaErrors(good.replace('name="the rush completed" ', ''), 'bad-1.xml'), /name.*required/)
    t.match(
      schemaErrors(
        good.replace(/<failure[\s\S]*?<\/failure>/, (f) => `<system-out>x</system-out>${f}`),
        'bad-2.xml',
      ),
      /failure.*not expected/,
    )
    t.ok(
      execFileSync('xmllint', ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }) !==
        undefined,
    )
  },
)

t.test('CSV: the documented columns, a row per second, a column per status seen', async (t) => {
  const report = sampleReport()
  const lines = renderCsv(report).trimEnd().split('\n')
  const header = lines[0]!.split(',')
  t.same(header, [...CSV_COLUMNS, 'status_200'])
  t.equal(lines.length, 1 + report.seconds.length)
  const row = (i: number) => Object.fromEntries(lines[i + 1]!.split(',').map((cell, j) => [header[j], cell]))
  t.same(
    [row(0).second, row(0).time, row(0).users, row(0).hits, row(0).status_200],
    ['0', '2026-01-02T03:04:05.678Z', '10', '100', '100'],
  )
  t.equal(row(2).errors_connect, '2')
  t.equal(row(3).timeouts, '5')
  t.equal(row(3).errors, '3', 'status failures are errors')
  t.equal(row(3).p95_ms, String(report.seconds[3]!.latency!.p95))
  const silent = renderCsv({
    startedAt: report.startedAt,
    seconds: [{ ...report.seconds[0]!, latency: null, statuses: {} }],
  })
  const cells = silent.trimEnd().split('\n')[1]!.split(',')
  t.equal(cells[CSV_COLUMNS.indexOf('p50_ms')], '', 'no response in a second: empty latency cells')
})

t.test('HTML: everything inlined, nothing fetched, no way out of the data element', async (t) => {
  const input = sampleInput(['p95<500ms'])
  const html = renderReport(
    buildReport({ ...input, url: 'http://x.test/</script><script>alert(1)</script>' }),
    {
      script: 'window.drawn = "</script>"',
      css: 'body{}',
    },
  )
  t.notMatch(html, /<script>alert/, 'the URL cannot open a script')
  t.equal(html.match(/<script/g)?.length, 2, 'the data and the chart code, nothing else')
  t.match(html, /<script>window.drawn = "<\\\/script>"<\/script>/, 'the code cannot close its element early')
  t.notMatch(html, /\b(src|href)=/, 'no external resource')
  t.match(html, /Content-Security-Policy" content="default-src 'none'/)
  const json = new RegExp(`<script type="application/json" id="${DATA_ELEMENT_ID}">(.*?)</script>`).exec(
    html,
  )?.[1]
  t.equal(
    JSON.parse(json!).url,
    'http://x.test/</script><script>alert(1)</script>',
    'the data reads back whole',
  )
  t.match(html, /<span class="badge" data-verdict="pass">Passed<\/span>/)
  t.match(html, /First error at <strong>0:02<\/strong> \(second 2\) with <strong>30<\/strong> users/)
  t.match(html, /First timeout at <strong>0:03<\/strong>/)
  t.match(html, /<strong data-figure="hits-per-day">20,736,000<\/strong> hits\/day/)
  t.match(html, /<strong data-figure="failed-share">1.38%<\/strong> of the users' requests \(10 of 727\)/)
  for (const chart of ['traffic', 'latency', 'bend', 'statuses', 'distribution'])
    t.match(html, `data-chart="${chart}"`, `${chart} has its place`)
  t.notMatch(html, /data-chart="region-hits"/, 'no region charts with one region')
  t.equal(html.match(/<details>/g)?.length, 5, 'each chart has its table')
})

t.test('HTML: several regions add their summary table and charts', async (t) => {
  const input = sampleInput()
  const html = renderReport(
    buildReport({
      ...input,
      regions: [
        { name: 'eu-west-1', summary: input.summary, seconds: input.seconds },
        { name: 'us-east-1', summary: input.summary, seconds: input.seconds.slice(0, 2) },
      ],
    }),
    { script: '', css: '' },
  )
  t.match(html, /<table class="regions">/)
  t.match(html, /<th scope="row">eu-west-1<\/th><td>727<\/td>/)
  t.match(html, /data-chart="region-hits"/)
  t.match(html, /data-chart="region-p95"/)
  t.match(html, /<th scope="col">us-east-1<\/th>/)
  t.match(
    html,
    /<tr><th scope="row">0:03<\/th><td>200<\/td><td>–<\/td><\/tr>/,
    'a second a region lacks reads as –',
  )
})
