import { fmt, fmtRatio, median, table } from './stats.js'

const TOOLS = ['stampede', 'autocannon', 'wrk']
const load = (values) => (values ? values.map((v) => v.toFixed(2)).join(' ') : '–')
const verdicts = (targets) =>
  Object.entries(targets ?? {})
    .map(([name, ok]) => `${ok ? 'PASS' : 'MISS'} ${name}`)
    .join('; ')

function heading(text, markdown) {
  return markdown ? `## ${text}` : `${text}\n${'='.repeat(text.length)}`
}

export function renderThroughput(b, { markdown }) {
  // Older results have no stampede-undici row.
  const tools = Object.keys(b.medians)
  const rows = tools.map((tool) => {
    const m = b.medians[tool]
    const of = b.ratios.ofMedians
    return [
      tool,
      fmt(m.requestsPerSecond),
      fmt(m.cpuMicrosPerRequest, 1),
      fmt(m.p50, 2),
      fmt(m.p99, 2),
      fmt(m.errors),
      tool === 'stampede' ? '' : fmtRatio(b.ratios.requestsPerSecond[tool]),
      tool === 'stampede' ? '' : fmtRatio(b.ratios.cpuMicrosPerRequest[tool]),
      tool === 'stampede' || !of
        ? ''
        : `${fmtRatio(of.requestsPerSecond[tool])} / ${fmtRatio(of.cpuMicrosPerRequest[tool])}`,
      m.loadAverage === undefined ? '–' : m.loadAverage.toFixed(2),
    ]
  })
  return [
    heading('1. Throughput (100 connections, one core each)', markdown),
    '',
    `nginx (1 worker) on core 1, each tool on core 0; median of ${b.config.rounds} alternating round(s) of ${b.config.seconds} s. ` +
      `CPU µs/request: CPU time of the tool's whole process tree (start-up included) / requests. ` +
      `Ratios: the median of each round's ratio (the ratio of the medians beside it). ` +
      `\`stampede\` is the lean HTTP/1.1 path (plain http:), \`stampede-undici\` the same run through undici (TLS and a user's connection header take that path). ` +
      `Load average at start: ${load(b.loadAverageAtStart)}${b.loadAverageAtEnd ? `, at the end: ${load(b.loadAverageAtEnd)}` : ''}; the load column is the 1-minute load when the tool's runs started, median over the rounds.`,
    '',
    table(
      [
        'tool',
        'requests/s',
        'CPU µs/req',
        'p50 ms',
        'p99 ms',
        'errors',
        'Stampede req/s ÷ tool',
        'Stampede CPU/req ÷ tool',
        'ratio of medians (req/s / CPU)',
        'load',
      ],
      rows,
      { markdown },
    ),
    '',
    `Targets: ${verdicts(b.targets)}`,
  ].join('\n')
}

export function renderAccuracy(b, { markdown }) {
  const rows = TOOLS.map((tool) => {
    const m = b.medians[tool]
    return [
      tool,
      fmt(m.p50, 2),
      fmt(m.p90, 2),
      fmt(m.p99, 2),
      fmt(m.max, 2),
      fmt(m.requestsPerSecond),
      tool === 'stampede' ? fmt(m.connectMeanMs, 2) : '–',
      tool === 'stampede' ? '' : fmtRatio(b.ratios.p50[tool]),
      tool === 'stampede' ? '' : fmtRatio(b.ratios.p99[tool]),
    ]
  })
  return [
    heading(
      `3. Accuracy (target answers after ${b.config.delayMs} ms, ${b.config.connections} connections)`,
      markdown,
    ),
    '',
    `Node target on core 1, each tool on core 0; median of ${b.config.rounds} alternating round(s) of ${b.config.seconds} s. ` +
      `Connect time is Stampede's summary.connectMean, reported apart from the latency percentiles. ` +
      `Load average at start: ${load(b.loadAverageAtStart)}.`,
    '',
    table(
      [
        'tool',
        'p50 ms',
        'p90 ms',
        'p99 ms',
        'max ms',
        'requests/s',
        'connect ms',
        'Stampede p50 ÷ tool',
        'Stampede p99 ÷ tool',
      ],
      rows,
      { markdown },
    ),
    '',
    `Targets: ${verdicts(b.targets)}`,
  ].join('\n')
}

export function renderConcurrency(b, { markdown }) {
  const row = (name, r, connections) => [
    name,
    fmt(connections),
    fmt(r.target.peakConnections),
    fmt(r.target.peakInFlight),
    r.target.secondsToOpenAll === undefined ? '–' : fmt(r.target.secondsToOpenAll, 2),
    fmt(r.hits),
    fmt(r.errors),
    fmt(r.peakRssMiB, 1),
    fmt(r.rssKiBPerConnection, 1),
    r.processes ? String(r.processes.length) : '–',
  ]
  const rows = [row('stampede', b.stampede, b.config.users)]
  for (const [tool, runs] of Object.entries(b.peers ?? {})) {
    for (const r of runs) rows.push(row(tool, r, r.connections))
  }
  const notes = []
  if (b.stampede.failed) notes.push(`stampede: ${b.stampede.failed.split('\n')[0].slice(0, 200)}`)
  for (const [tool, runs] of Object.entries(b.peers ?? {})) {
    for (const r of runs) {
      if (r.failed) notes.push(`${tool} at ${fmt(r.connections)}: ${r.failed.split('\n')[0].slice(0, 200)}`)
    }
  }
  return [
    heading(
      `2. Concurrency (${fmt(b.config.users)} users, one connection each, target answers after ${b.config.targetDelayMs / 1000} s)`,
      markdown,
    ),
    '',
    `Stampede: \`--pattern ${b.config.pattern} --timeout ${b.config.requestTimeout ?? '10s'}\`, ${b.config.workers ? `\`--workers ${b.config.workers}\`` : 'auto workers'}, \`--resolve\` over ${b.config.addresses.join(', ')} ` +
      `port ${b.config.port} (local port range ${b.config.localPortRange}); one Node target process per address. ` +
      `Peers take one URL, so one address, and run in one process (open-file limit ${fmt(b.config.openFileLimit)}). ` +
      `Peaks are exact, merged from the targets' time records; time to open = first connection to the peak count. ` +
      `RSS: sum of VmHWM of every process of the tool. Load average at start: ${load(b.loadAverageAtStart)}.`,
    '',
    table(
      [
        'tool',
        'asked',
        'peak connections',
        'peak in flight',
        'time to open s',
        'hits',
        'errors',
        'peak RSS MiB',
        'KiB/conn',
        'processes',
      ],
      rows,
      { markdown },
    ),
    '',
    `Stampede workers: ${b.stampede.workers ?? b.config.workers ?? '–'}, connect mean ${fmt(b.stampede.connectMeanMs, 1)} ms, ` +
      `per process peak RSS: ${(b.stampede.processes ?? []).map((p) => `${p.peakRssMiB}`).join(' + ')} MiB.`,
    ...(b.stampede.sides ? ['', renderSides(b.stampede.sides)] : []),
    ...(notes.length > 0 ? ['', ...notes.map((n) => `${markdown ? '- ' : '  '}${n}`)] : []),
    '',
    `Targets: ${verdicts(concurrencyTargets(b))}`,
  ].join('\n')
}

/** Judged from the figures (a run that failed passes nothing). */
function concurrencyTargets(b) {
  const s = b.stampede
  const ran = !s.failed && s.hits > 0
  return {
    [`all ${b.config.users} in flight at once`]: ran && s.target.peakInFlight === b.config.users,
    [`all ${b.config.users} connections open at once`]: ran && s.target.peakConnections === b.config.users,
    'no errors': ran && s.errors === 0,
    'peak RSS sum ≤ 1.7 GiB': ran && s.peakRssMiB <= 1.7 * 1024,
  }
}

/** Which side ran out: CPU of each side, listen queues, SYN retransmits (bench/concurrency.js). */
function renderSides(s) {
  const tcp = s.tcp ?? {}
  const q = s.listenQueues ?? {}
  return [
    `Both sides over the run (${s.wallSeconds} s): generator ${fmt(s.generatorCpuSeconds, 1)} CPU s (${s.generatorCores} cores), ` +
      `targets ${fmt(s.targetCpuSeconds, 1)} CPU s (${s.targetCores} cores), machine ${Math.round((s.machineBusy ?? 0) * 100)}% busy of ${s.cores} cores; ` +
      `listen overflows ${fmt(tcp.TcpExtListenOverflows)}, listen drops ${fmt(tcp.TcpExtListenDrops)}, SYN retransmits ${fmt(tcp.TcpExtTCPSynRetrans)}, ` +
      `retransmitted segments ${fmt(tcp.TcpRetransSegs)} (nstat, whole machine); fullest accept queue ${fmt(q.peakQueued)} of backlog ${fmt(q.backlog)} (ss -lnt). ` +
      `Load average at the end: ${load(s.loadAverageAtEnd)}.` +
      (s.opening
        ? ` While the connections opened (${s.opening.seconds} s, sampled each second): machine ${Math.round(s.opening.machineBusy * 100)}% busy, targets ${s.opening.targetCores} cores.`
        : ''),
    '',
    `Verdict: ${s.verdict}.`,
  ].join('\n')
}

/** A four-step transaction against the single request (bench/transaction.js). */
export function renderTransaction(b, { markdown }) {
  const modes = Object.keys(b.cpuMicrosPerRequest)
  const rows = modes.map((mode) => [
    mode,
    fmt(b.cpuMicrosPerRequest[mode], 2),
    mode === 'transaction' ? '' : fmtRatio(b.cpuMicrosPerRequest.transaction / b.cpuMicrosPerRequest[mode]),
    fmt(median(b.runs[mode].map((r) => r.hits))),
    fmt(median(b.runs[mode].map((r) => r.errors))),
    (() => {
      const l = median(b.runs[mode].map((r) => r.loadAverage?.[0]))
      return l === undefined ? '–' : l.toFixed(2)
    })(),
  ])
  const memory = Object.entries(b.memory ?? {}).map(
    ([mode, m]) =>
      `${mode} ${fmt(m.kibPerUser, 1)} KiB/user at ${fmt(b.config.users)} users` +
      // Said, not hidden: the one-core shop may fail some of 10,000 users at their connect.
      (m.errors > 0 ? ` (${fmt(m.errors)} failed requests during the measure)` : ''),
  )
  return [
    heading('3c. Transaction cost (four steps vs the single request)', markdown),
    '',
    `\`npm run bench:transaction\`: ${b.config.connections} users for ${b.config.seconds} s, median of ${b.config.rounds} alternating round(s), ` +
      `${b.config.target}. \`single\` is the lean path, \`single-undici\` the single request through undici; the transaction takes the lean path too (plain http:). ` +
      `Load average at start: ${load(b.loadAverageAtStart)}${b.loadAverageAtEnd ? `, at the end: ${load(b.loadAverageAtEnd)}` : ''}; the load column: 1-minute load at the runs' start, median.` +
      (memory.length > 0 ? ` Memory: ${memory.join('; ')}.` : ''),
    '',
    table(['mode', 'CPU µs/req', 'transaction ÷ mode', 'hits', 'errors', 'load'], rows, { markdown }),
    ...(b.open ? renderTransactionOpen(b.open, { markdown }) : []),
    '',
    `Targets: ${verdicts({
      'transaction ≤ 1.3× CPU/request of the single request': b.ratio <= 1.3,
      ...(b.open && {
        'open model: arrival send lag p99 < 1 ms (whole run, pooled process)': b.open.medians.pool.lagP99 < 1,
        'open model: arrival rate within 0.5% of asked':
          Math.abs(b.open.medians.pool.achievedRate / b.open.rate - 1) <= 0.005,
      }),
    })}`,
  ].join('\n')
}

/** The transaction's open model (bench/transaction.js, bench/transaction-open-child.js). */
function renderTransactionOpen(open, { markdown }) {
  const row = (label, kind, r) => [
    label,
    kind,
    fmt(r.achievedRate, 1),
    fmt(r.lagP50 ?? r.lagMs?.p50, 3),
    fmt(r.lagP99 ?? r.lagMs?.p99, 3),
    fmt(r.lagMax ?? r.lagMs?.max, 1),
    fmt(r.steadyLagP99 ?? r.steadyLagMs?.p99, 3),
    fmt(r.lateFirstSecond),
    fmt(r.errors),
    fmt(r.dropped),
    fmt(r.cpuMicrosPerRequest, 1),
    (r.loadAverage?.[0] ?? r.loadAverage)?.toFixed?.(2) ?? '–',
  ]
  const rows = open.runs.map((r) => row(String(r.round + 1), r.kind, r))
  rows.push(row('median', 'pool', open.medians.pool), row('median', 'cold', open.medians.cold))
  return [
    '',
    `The open model for the transaction: ${fmt(open.rate)} arrivals/s (${fmt(open.rate * 4)} requests/s) for ${open.seconds} s against ${open.target ?? 'the Node shop, core 1'}, ` +
      `every arrival's send lag (its first step's send time − its due time; the other steps follow their answers). ` +
      `"pool": a process that first ran a pooled load process's warm-up (load/warm-up.ts: the single request's rounds, then the transaction's; with the benchmark's send-lag observer, as the measured run has); "cold": fresh from its imports.`,
    '',
    table(
      [
        'round',
        'process',
        'arrivals/s',
        'lag p50 ms',
        'lag p99 ms',
        'lag max ms',
        'after 1 s: p99 ms',
        'late in 1st s',
        'errors',
        'dropped',
        'CPU µs/req',
        'load',
      ],
      rows,
      { markdown },
    ),
  ]
}

/** Open model precision (bench/open.js). */
export function renderOpen(b, { markdown }) {
  const medianRow = (m, kind) => [
    'median',
    kind,
    fmt(m.achievedRate, 1),
    `±${fmt(m.rateDeviationPercent, 3)}%`,
    fmt(m.lagP50, 3),
    fmt(m.lagP99, 3),
    fmt(m.lagMax, 1),
    m.steadyLagP99 === undefined ? '–' : fmt(m.steadyLagP99, 3),
    m.steadyLagMax === undefined ? '–' : fmt(m.steadyLagMax, 1),
    m.lateFirstSecond === undefined ? '–' : fmt(m.lateFirstSecond),
    fmt(m.errors),
    fmt(m.dropped),
    '',
    fmt(m.cpuMicrosPerRequest, 1),
    m.machineBusy === undefined ? '–' : `${Math.round(m.machineBusy * 100)}%`,
    m.loadAverage === undefined ? '–' : m.loadAverage.toFixed(2),
  ]
  const rows = b.runs.map((r) => [
    String(r.round + 1),
    r.kind ?? 'cold',
    r.failed ? 'failed' : fmt(r.achievedRate, 1),
    r.failed ? '–' : `${((r.rateRatio - 1) * 100).toFixed(3)}%`,
    r.failed ? '–' : fmt(r.lagMs.p50, 3),
    r.failed ? '–' : fmt(r.lagMs.p99, 3),
    r.failed ? '–' : fmt(r.lagMs.max, 1),
    r.failed || !r.steadyLagMs ? '–' : fmt(r.steadyLagMs.p99, 3),
    r.failed || !r.steadyLagMs ? '–' : fmt(r.steadyLagMs.max, 1),
    r.failed || r.lateFirstSecond === undefined ? '–' : fmt(r.lateFirstSecond),
    r.failed ? '–' : fmt(r.errors),
    r.failed ? '–' : fmt(r.dropped),
    r.failed ? '–' : fmt(r.peakInFlight),
    r.failed ? '–' : fmt(r.cpuMicrosPerRequest, 1),
    r.machineBusy === undefined ? '–' : `${Math.round(r.machineBusy * 100)}%`,
    load(r.loadAverage),
  ])
  // Runs from before the two kinds were all fresh processes (cold).
  if (b.coldMedians) rows.push(medianRow(b.medians, 'pool'), medianRow(b.coldMedians, 'cold'))
  else rows.push(medianRow(b.medians, 'cold'))
  return [
    heading(`3b. Open model precision (${fmt(b.config.rate)} requests/s)`, markdown),
    '',
    `The arrival-rate model at a fixed ${fmt(b.config.rate)} requests/s for ${b.config.seconds} s against nginx (1 worker, core 1), ` +
      `Stampede in process on core 0 (bench/open-child.js), ${b.config.rounds} round(s), each with two processes: "pool", one that first ran ` +
      `the warm-up an engine's pooled load process runs when it is forked (load/warm-up.ts${b.medians.warmUpMs ? `, ${fmt(b.medians.warmUpMs)} ms` : ''}), ` +
      `which is the process a shard gets (its rounds run with the benchmark's send-lag observer, as the measured run does: code optimized without it ` +
      `compiled again at the observer's first call, a cost of the measuring that no shard has); "cold", one fresh from its imports (an engine with --no-worker-pool, a CLI run). The targets are judged on the pooled process. ` +
      `Send lag: a request's send time minus its due time, ` +
      `every request; "after 1 s": the requests due after the first second (the whole run's figures include the start, where a cold ` +
      `process compiles its hot path on the core it is pinned to); "late in 1st s": requests of the first second sent more than 1 ms late. ` +
      `Achieved rate: requests sent over the span from the first send to the last. ` +
      `Load average at start: ${load(b.loadAverageAtStart)}${b.loadAverageAtEnd ? `, at the end: ${load(b.loadAverageAtEnd)}` : ''}.`,
    '',
    table(
      [
        'round',
        'process',
        'achieved req/s',
        'off asked',
        'lag p50 ms',
        'lag p99 ms',
        'lag max ms',
        'after 1 s: p99 ms',
        'after 1 s: max ms',
        'late in 1st s',
        'errors',
        'dropped',
        'peak in flight',
        'CPU µs/req',
        'machine busy',
        'load',
      ],
      rows,
      { markdown },
    ),
    '',
    `Targets: ${verdicts(b.targets)}`,
  ].join('\n')
}

/** The tenant API (bench/api.js): status polling, SSE fan-out, submission to first request. */
export function renderApi(b, { markdown }) {
  const ms = (value) => (Number.isFinite(value) ? `${fmt(value)} ms` : '–')
  const targets = {
    'status polling ≥ 2,000/s': b.polling.requestsPerSecond >= 2000,
    'fan-out p99 < 1 s': b.fanout.n > 0 && b.fanout.p99 < 1000 && b.fanout.missing === 0,
    'submission → first request p50 < 300 ms': b.submission.p50 < 300,
  }
  const rows = [
    [
      'status polling (GET /api/1/jobs/{id}/status, running rush)',
      `${fmt(b.polling.requestsPerSecond)} req/s`,
      `p50 ${ms(b.polling.p50)}, p99 ${ms(b.polling.p99)}, ${b.polling.connections} connections, ${b.polling.seconds} s, non-2xx ${b.polling.non2xx}`,
    ],
    [
      `event fan-out (${fmt(b.fanout.followers)} SSE followers × ${b.fanout.seconds} s)`,
      `p99 ${ms(b.fanout.p99)}`,
      `p50 ${ms(b.fanout.p50)}, max ${ms(b.fanout.max)}, missing ${b.fanout.missing}; from the engines' sample write to the follower`,
    ],
    [
      `submission → first request (${b.engines} engines, ${b.submission.n} rushes)`,
      `p50 ${ms(b.submission.p50)}`,
      `p90 ${ms(b.submission.p90)}, max ${ms(b.submission.max)}`,
    ],
  ]
  return [
    heading('4. Tenant API', markdown),
    '',
    `One stampede-api process${b.pinned ? ' pinned to core 0' : ''} on PouchDB Server (in memory), ${b.engines} engine processes, one region. Load average at start: ${load(b.load)}. Run: ${b.startedAt}.`,
    '',
    table(['measure', 'figure', 'detail'], rows, { markdown }),
    '',
    `Targets: ${verdicts(targets)}`,
  ].join('\n')
}

/**
 * Shard start lag with and without the engines' pool of ready load processes
 * (bench/job-plane/dispatch.js): side by side, the load average beside each.
 */
export function renderDispatch(b, { markdown }) {
  const ms = (value) => (Number.isFinite(value) ? `${fmt(value)} ms` : '–')
  const pooled = b.results.find((r) => r.pool)
  const targets = pooled
    ? {
        'first request after the write p50 < 250 ms (workers auto, pool)': pooled.first.p50 < 250,
        ...(pooled.afterClaim
          ? {
              'first request within 100 ms of the claim (workers auto, pool, p95)':
                pooled.afterClaim.p95 < 100,
            }
          : {
              'first request within 100 ms of the start given (workers auto, pool, p95)':
                pooled.lag.p95 < 100,
            }),
      }
    : {}
  const rows = b.results.map((r) => [
    `workers ${r.workers}${r.workers === '0' ? ' (in the engine)' : r.pool ? ', pool' : ', no pool'}`,
    ms(r.lag.p50),
    ms(r.lag.p95),
    `${fmt(r.shift.p50)} / ${fmt(r.shift.max)}`,
    r.afterClaim ? `${ms(r.afterClaim.p50)} / ${ms(r.afterClaim.p95)}` : '–',
    ms(r.first.p50),
    r.idleRss ? `${r.idleRss.processes} × ${fmt(r.idleRss.meanMiB)} MiB` : '–',
    `${load(r.loadStart)} → ${load(r.loadEnd)}`,
  ])
  return [
    heading('5. Dispatch: shard start lag', markdown),
    '',
    `${b.engines} engine processes on PouchDB Server (in memory), one region, ${b.rushes} rushes of ${b.engines} shards (1 user for 1 s each), \`startLeadMs: ${b.leadMs}\`, ${b.cores} cores. Start lag: the first request at the target after the start the shards were given (the rush's start plus their smallest \`startShift\`).${b.leadMs === 0 ? (b.results.some((r) => r.afterClaim) ? ` With no lead every shard is claimed after its start: one whose load is ready within 500 ms of it joins the rush in progress (docs/job-plane.md, "A little late"), later ones run from a later whole second of the rush's clock ("A late start"), so the start lag is how late the claim was.` : ` With no lead every shard is claimed after its start and runs from a later whole second of the rush's clock (docs/job-plane.md, "A late start"): one when its load is ready at once, more when it waited for forks; so the first request comes about a second after the write whatever the engine.`) : ''} Run: ${b.startedAt}.`,
    '',
    table(
      [
        'engines',
        'start lag p50',
        'start lag p95',
        'start shift p50 / max (s)',
        'first request after the claim, p50 / p95',
        'first request after the write, p50',
        'idle load processes',
        'load average (start → end)',
      ],
      rows,
      { markdown },
    ),
    '',
    ...(pooled?.readyMs
      ? [
          `With the pool a shard's load was ready ${ms(pooled.readyMs.min)}–${ms(pooled.readyMs.max)} (p50 ${ms(pooled.readyMs.p50)}, ${pooled.readyMs.n} shards) after its head start's wake-up: what \`headStartMs\` (daemon/decide.ts) must cover.`,
          '',
        ]
      : []),
    `Targets: ${verdicts(targets)}`,
  ].join('\n')
}

export function renderAll(results, { markdown }) {
  const parts = []
  const titles = {
    throughput: '1. Throughput',
    concurrency: '2. Concurrency',
    accuracy: '3. Accuracy',
    api: '4. Tenant API',
    open: '3b. Open model precision',
    transaction: '3c. Transaction cost',
    dispatch: '5. Dispatch: shard start lag',
  }
  const renderers = {
    throughput: renderThroughput,
    concurrency: renderConcurrency,
    accuracy: renderAccuracy,
    api: renderApi,
    open: renderOpen,
    transaction: renderTransaction,
    dispatch: renderDispatch,
  }
  for (const name of ['throughput', 'concurrency', 'accuracy', 'open', 'transaction', 'api', 'dispatch']) {
    const b = results.benchmarks[name]
    if (!b) continue
    if (b.error) parts.push(`${heading(titles[name], markdown)}\n\nThe benchmark failed: ${b.error}`)
    else parts.push(renderers[name](b, { markdown }))
  }
  return parts.join('\n\n')
}

export function renderPipelining(b, { markdown }) {
  const rows = Object.entries(b.medians).map(([name, m]) => [
    name,
    fmt(m.requestsPerSecond),
    fmt(m.cpuMicrosPerRequest, 1),
    fmt(m.p50, 2),
    fmt(m.p99, 2),
    fmt(m.errors),
    m.loadAverage === undefined ? '–' : m.loadAverage.toFixed(2),
  ])
  return [
    heading(`6. Pipelining (${b.config.connections} connections, one core each)`, markdown),
    '',
    `\`--pipelining ${b.config.depth}\`: each user keeps up to ${b.config.depth} requests in flight on its connection (HTTP/1.1 pipelining; off by default). ` +
      `nginx (1 worker) on core 1, each tool on core 0; median of ${b.config.rounds} alternating round(s) of ${b.config.seconds} s (\`npm run bench:pipelining\`, ${b.startedAt}). ` +
      `Latency is each request's own, from its write to its response's end: with pipelining it includes the wait behind the responses before it. ` +
      `Load average at start: ${load(b.loadAverageAtStart)}, at the end: ${load(b.loadAverageAtEnd)}; the load column is the 1-minute load when the runs started, median over the rounds.`,
    '',
    table(['tool', 'requests/s', 'CPU µs/req', 'p50 ms', 'p99 ms', 'errors', 'load'], rows, { markdown }),
  ].join('\n')
}
