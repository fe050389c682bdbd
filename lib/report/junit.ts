import { count, measured, millis, number, percent } from './format.js'
import { escapeHtml } from './html.js'
import type { ReportData, ThresholdRow } from './model.js'

/**
 * JUnit XML for CI servers: one test case per threshold, its failure message carrying the
 * measured value, and one for "the rush completed". The layout is the one Jenkins' JUnit
 * plugin reads (testsuites > testsuite > properties, testcase, system-out), checked against
 * test/fixtures/jenkins-junit.xsd with xmllint.
 */
const xml = escapeHtml

const OPERATOR_WORDS: Record<string, string> = {
  '<': 'below',
  '<=': 'at most',
  '>': 'above',
  '>=': 'at least',
}

function thresholdMessage(row: ThresholdRow): string {
  const operator = /(<=|>=|<|>)/.exec(row.threshold)?.[1]
  const wanted = operator
    ? ` (wanted ${OPERATOR_WORDS[operator]} ${row.threshold.split(operator)[1]!.trim()})`
    : ''
  // A step's threshold names its step: "login p95 was 12 ms", not the whole rush's p95.
  const metric = row.step !== undefined ? `step ${row.step} ${row.metric}` : row.metric
  return `${metric} was ${measured(row)}${wanted}`
}

/** Ant's timestamp form: ISO 8601 without zone or fraction (the time is UTC). */
const antTimestamp = (iso: string): string => iso.replace(/\.\d+/, '').replace(/Z$/, '')

export function renderJunit(data: ReportData): string {
  const duration = number(data.summary.duration).replace(/,/g, '')
  const cases: string[] = []
  const completedName = 'the rush completed'
  cases.push(
    data.completed
      ? `    <testcase classname="stampede.rush" name="${completedName}" time="${duration}"/>`
      : [
          `    <testcase classname="stampede.rush" name="${completedName}" time="${duration}">`,
          `      <failure type="incomplete" message="${xml(data.unfinished ?? 'the rush was stopped before its pattern ended')}"/>`,
          '    </testcase>',
        ].join('\n'),
  )
  for (const row of data.thresholds) {
    const message = thresholdMessage(row)
    cases.push(
      row.passed
        ? [
            `    <testcase classname="stampede.thresholds" name="${xml(row.threshold)}" time="0">`,
            `      <system-out>${xml(message)}</system-out>`,
            '    </testcase>',
          ].join('\n')
        : [
            `    <testcase classname="stampede.thresholds" name="${xml(row.threshold)}" time="0">`,
            `      <failure type="threshold" message="${xml(message)}">${xml(message)}</failure>`,
            '    </testcase>',
          ].join('\n'),
    )
  }
  const failures = (data.completed ? 0 : 1) + data.thresholds.filter((row) => !row.passed).length
  const tests = 1 + data.thresholds.length
  const s = data.summary
  const properties: [string, string][] = [
    ['url', data.url],
    ['model', data.model],
    ['pattern', data.pattern],
    ['where', data.where],
    ['requests', String(s.requests)],
    ['hits', String(s.hits)],
    ['errors', String(s.errors)],
    ['timeouts', String(s.timeouts)],
    ['p50_ms', String(s.latency.p50)],
    ['p95_ms', String(s.latency.p95)],
    ['p99_ms', String(s.latency.p99)],
    ['stampede', data.stampede],
  ]
  const suite = `stampede ${data.model} ${data.url}`
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="stampede" tests="${tests}" failures="${failures}" errors="0" time="${duration}">`,
    `  <testsuite name="${xml(suite)}" tests="${tests}" failures="${failures}" errors="0" skipped="0" time="${duration}" timestamp="${xml(antTimestamp(data.startedAt))}">`,
    '    <properties>',
    ...properties.map(([name, value]) => `      <property name="${name}" value="${xml(value)}"/>`),
    '    </properties>',
    ...cases,
    `    <system-out>${xml(
      `${count(s.requests)} requests in ${number(s.duration)} s, ${count(s.hits)} hits, ${count(s.errors)} errors (${percent(s.errorRate)}), ` +
        `p50 ${millis(s.latency.p50)} ms, p95 ${millis(s.latency.p95)} ms, p99 ${millis(s.latency.p99)} ms`,
    )}</system-out>`,
    '  </testsuite>',
    '</testsuites>',
    '',
  ].join('\n')
}
