import { readFileSync } from 'node:fs'
import { cpus } from 'node:os'
import {
  busyShare,
  counterDelta,
  listenQueues,
  machineCpu,
  processCpuSeconds,
  tcpCounters,
  watchListenQueues,
} from './lib/netstat.js'
import { loadAverage, portFree, raiseSysctl, sleep } from './lib/processes.js'
import { mergeSorted, peakOverlap, startSlowServer } from './lib/targets.js'
import { runAutocannon, runStampede, runWrk } from './lib/tools.js'

// How long the target takes to answer. With 1 s, N users need N answers a second to stay in
// flight; by default the delay outlasts the whole run (ramp + hold + 5 s), so every user's
// first request is still in flight when the last user connects, provided the connections open
// within the run: all of them in flight at once. Opening 100,000 connections took 26 s for a
// 10-s ramp on a 2-core Xeon VM and 37–43 s on a 2-core EPYC VM, the machine saturated by both
// sides' kernel work, hence the default hold of 40 s. BENCH_TARGET_DELAY_MS sets it.
const DELAY_ENV = process.env.BENCH_TARGET_DELAY_MS
const HOSTNAME = 'bench.test'
/** Connections one target process holds at most (its open-file limit is 20,000). */
const PER_TARGET = 12_500
/** Connections one Stampede load process holds at most (same limit). */
const PER_WORKER = 15_000

function localPortRange() {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')
      .trim()
      .split(/\s+/)
      .map(Number)
    return { low, high }
  } catch {
    return { low: 32768, high: 60999 }
  }
}

/** The open-file limit of processes started from here (the peers' ceiling). */
function openFileLimit() {
  const text = readFileSync('/proc/self/limits', 'utf8')
  const m = /^Max open files\s+(\d+)/m.exec(text)
  return m ? Number(m[1]) : undefined
}

/** One server process per address, each recording connection and request times. */
async function startTargets(addresses, port, delayMs) {
  // At once: each one's start-up probe waits for one delayed answer.
  const started = await Promise.allSettled(
    addresses.map((host) => startSlowServer({ host, port, delayMs, record: true })),
  )
  const servers = started.filter((s) => s.status === 'fulfilled').map((s) => s.value)
  const failed = started.find((s) => s.status === 'rejected')
  if (failed) {
    for (const server of servers) server.stop()
    throw failed.reason
  }
  return servers
}

/** What the targets saw, merged over their processes: exact peaks from the time records. */
async function observe(servers) {
  const reports = await Promise.all(servers.map((server) => server.report()))
  const records = servers.map((server) => server.records())
  const all = (name) => mergeSorted(records.map((r) => r[name]))
  const connections = peakOverlap(all('opened'), all('closed'))
  const requests = peakOverlap(all('arrived'), all('answered'))
  const seconds = (from, to) =>
    from === undefined || to === undefined ? undefined : Number(((to - from) / 1000).toFixed(3))
  return {
    requestsServed: reports.reduce((sum, r) => sum + r.requests, 0),
    peakConnections: connections.peak,
    secondsToOpenAll: seconds(connections.firstAt, connections.peakAt),
    openedFromAt: connections.firstAt,
    openedAllAt: connections.peakAt,
    peakInFlight: requests.peak,
    secondsToPeakInFlight: seconds(requests.firstAt, requests.peakAt),
    perProcess: reports.map((r, i) => ({
      address: servers[i].host,
      requests: r.requests,
      peakConnections: r.peakConnections,
      peakInFlight: r.peakInFlight,
    })),
  }
}

const mib = (kib) => (kib === undefined ? undefined : Number((kib / 1024).toFixed(1)))

/**
 * 2. Concurrency: N users, one connection each, against a target that answers after
 * 1 s, listening on several 127.0.0.x addresses (a Node server process per address, each
 * holding its share within the 20,000 open-file limit) on a port outside the local port
 * range. Stampede ramps to N quickly and holds; the targets' records give the exact peak
 * of concurrent connections and of requests in flight; /proc gives the peak RSS (VmHWM)
 * of every Stampede process. The peers (one process each) are tried at N and at what fits
 * in one process's open-file limit.
 */
export async function concurrency({ users, rampSeconds, holdSeconds, addressCount, port, peers, log }) {
  const loadAtStart = loadAverage()
  const DELAY_MS = Number(DELAY_ENV ?? (rampSeconds + holdSeconds + 5) * 1000)
  const REQUEST_TIMEOUT = `${Math.max(10, Math.ceil((DELAY_MS * 3) / 1000))}s`
  // Enough target processes (one per address) and load processes for the file limits.
  addressCount = Math.max(addressCount ?? 4, Math.ceil(users / PER_TARGET))
  const workers = Number(process.env.BENCH_WORKERS || Math.max(2, Math.ceil(users / PER_WORKER)))
  const range = localPortRange()
  if (port >= range.low && port <= range.high) {
    throw new Error(`target port ${port} is inside the local port range ${range.low}-${range.high}`)
  }
  const addresses = Array.from({ length: addressCount }, (_, i) => `127.0.0.${i + 2}`)
  for (const host of addresses) {
    if (!(await portFree(host, port))) throw new Error(`${host}:${port} is in use`)
  }
  const sysctls = [
    raiseSysctl('/proc/sys/net/core/somaxconn', 65_535),
    raiseSysctl('/proc/sys/net/ipv4/tcp_max_syn_backlog', 65_535),
  ]
  log(
    `  concurrency: backlog limits ${sysctls.map((s) => `${s.path.split('/').pop()} ${s.before}→${s.now}`).join(', ')}`,
  )
  const pattern = `0-${users}:${rampSeconds},${users}:${holdSeconds}`
  const runSeconds = rampSeconds + holdSeconds
  const result = {
    config: {
      users,
      pattern,
      targetDelayMs: DELAY_MS,
      requestTimeout: REQUEST_TIMEOUT,
      workers,
      addresses,
      port,
      localPortRange: `${range.low}-${range.high}`,
      openFileLimit: openFileLimit(),
      sysctls,
    },
    loadAverageAtStart: loadAtStart,
  }

  // Stampede: auto workers, spread over every address.
  let servers = await startTargets(addresses, port, DELAY_MS)
  try {
    log(
      `  concurrency: stampede ${pattern}, ${workers} load processes, over ${addresses.join(',')}:${port} …`,
    )
    const side = startSides(servers, port)
    const run = await runStampede(
      `http://${HOSTNAME}:${port}/`,
      [
        '--resolve',
        `${HOSTNAME}:${addresses.join(',')}`,
        '--pattern',
        pattern,
        '--timeout',
        REQUEST_TIMEOUT,
        '--workers',
        String(workers),
      ],
      { timeoutMs: (runSeconds + 90) * 1000, watchRss: true },
    )
    const target = await observe(servers)
    const sides = side.stop(run, target)
    result.stampede = { ...summarizeRun(run, target, users), sides }
    log(`  concurrency: stampede ${line(result.stampede)}`)
    log(`  concurrency: ${sides.verdict}`)
  } finally {
    for (const server of servers) server.stop()
  }

  if (peers) {
    // The peers take one URL, so one address; they hold what one process's file limit allows.
    const fit = Math.floor(((result.config.openFileLimit ?? 20_000) - 500) / 1000) * 1000
    const levels = [...new Set([users, Math.min(users, fit)])]
    const seconds = Math.max(5, Math.min(runSeconds, 10))
    result.peers = {}
    for (const tool of ['autocannon', 'wrk']) {
      result.peers[tool] = []
      for (const level of levels) {
        await sleep(2000)
        servers = await startTargets([addresses[0]], port, DELAY_MS)
        try {
          log(`  concurrency: ${tool} at ${level} connections for ${seconds} s …`)
          const url = `http://${addresses[0]}:${port}/`
          const bound = { timeoutMs: (seconds + 60) * 1000, watchRss: true }
          const run =
            tool === 'autocannon'
              ? await runAutocannon(url, ['-c', String(level), '-d', String(seconds), '-t', '10'], bound)
              : await runWrk(url, ['-t2', `-c${level}`, `-d${seconds}s`, '--timeout', REQUEST_TIMEOUT], bound)
          const target = await observe(servers)
          const summary = { connections: level, ...summarizeRun(run, target, level) }
          result.peers[tool].push(summary)
          log(`  concurrency: ${tool} ${line(summary)}`)
        } finally {
          for (const server of servers) server.stop()
        }
      }
    }
  }
  result.targets = {
    [`all ${users} in flight at once`]: result.stampede.target.peakInFlight === users,
    'no errors': result.stampede.errors === 0 && !result.stampede.failed && result.stampede.hits > 0,
    'peak RSS sum ≤ 1.7 GiB':
      result.stampede.peakRssMiB !== undefined && result.stampede.peakRssMiB <= 1.7 * 1024,
  }
  return result
}

/**
 * Watches both sides of a run, so a figure can be trusted on a busy machine: CPU of the
 * generator's processes (bash's times over its tree) and of the target processes (/proc),
 * the machine's busy share, the kernel's listen-queue overflows and drops and SYN
 * retransmits (nstat, for the whole namespace) and the fullest accept queue seen (ss -lnt).
 */
function startSides(servers, port) {
  const cpuBefore = servers.map((server) => processCpuSeconds(server.pid) ?? 0)
  const tcpBefore = tcpCounters()
  const queuesBefore = listenQueues(port)
  const queues = watchListenQueues(port)
  const started = performance.now()
  // Each second, the machine's and the targets' CPU: the run's average hides the opening, when
  // both sides work hardest; the verdict judges that window (the targets' first connection to
  // their peak count, epoch times from their records).
  const sample = () => ({
    at: Date.now(),
    machine: machineCpu(),
    targets: servers.reduce((sum, server) => sum + (processCpuSeconds(server.pid) ?? 0), 0),
  })
  const samples = [sample()]
  const sampler = setInterval(() => samples.push(sample()), 1000)
  return {
    stop(run, target) {
      clearInterval(sampler)
      samples.push(sample())
      const wallSeconds = (performance.now() - started) / 1000
      const queuePeak = queues.stop()
      const tcp = counterDelta(tcpBefore, tcpCounters())
      const targetCpu = servers.reduce(
        (sum, server, i) => sum + ((processCpuSeconds(server.pid) ?? cpuBefore[i]) - cpuBefore[i]),
        0,
      )
      const sides = {
        wallSeconds: Number(wallSeconds.toFixed(1)),
        generatorCpuSeconds: run.cpuSeconds,
        targetCpuSeconds: Number(targetCpu.toFixed(2)),
        // Cores' worth each side used on average over the run.
        generatorCores:
          run.cpuSeconds === undefined ? undefined : Number((run.cpuSeconds / wallSeconds).toFixed(2)),
        targetCores: Number((targetCpu / wallSeconds).toFixed(2)),
        machineBusy: busyShare(samples[0].machine, samples.at(-1).machine),
        cores: cpus().length,
        tcp,
        listenQueues: { before: queuesBefore, after: listenQueues(port), ...queuePeak },
        opening: openingWindow(samples, target?.openedFromAt, target?.openedAllAt),
        loadAverageAtEnd: loadAverage(),
      }
      sides.verdict = verdict(sides)
      return sides
    },
  }
}

/**
 * The machine's busy share and the targets' cores from the last sample at or before `from` to
 * the first at or after `to` (epoch ms): while the connections opened.
 */
export function openingWindow(samples, from, to) {
  if (from === undefined || to === undefined) return undefined
  const first = samples.findLast((x) => x.at <= from) ?? samples[0]
  const last = samples.find((x) => x.at >= to) ?? samples.at(-1)
  const seconds = (last.at - first.at) / 1000
  if (!(seconds > 0)) return undefined
  return {
    seconds: Number(seconds.toFixed(1)),
    machineBusy: busyShare(first.machine, last.machine),
    targetCores: Number(((last.targets - first.targets) / seconds).toFixed(2)),
  }
}

/** One line: which side ran out, from the figures startSides gathered. */
export function verdict(s) {
  const notes = []
  const tcp = s.tcp ?? {}
  const dropped = Math.max(tcp.TcpExtListenOverflows ?? 0, tcp.TcpExtListenDrops ?? 0)
  if (dropped > 0)
    notes.push(
      `targets' listen queues overflowed ${dropped} times (fullest ${s.listenQueues.peakQueued} of backlog ${s.listenQueues.backlog}): the targets did not accept fast enough`,
    )
  if ((tcp.TcpExtTCPSynRetrans ?? 0) > 0)
    notes.push(`${tcp.TcpExtTCPSynRetrans} SYN retransmits: those connects waited 1 s or more`)
  // Judged on the window where the connections opened when there is one (the run's average
  // hides it), else on the whole run.
  const opening = s.opening
  const busy = s.machineBusy
  if (opening?.machineBusy !== undefined) {
    const share = `${opening.seconds} s, ${Math.round(opening.machineBusy * 100)}% busy`
    if (opening.machineBusy >= 0.95) {
      // The generator's share is what the targets leave (with kernel work no process is charged).
      const rest = s.cores * opening.machineBusy - opening.targetCores
      notes.push(
        `machine saturated while the connections opened (${share}; targets ${opening.targetCores} cores, generator and the rest ${rest.toFixed(2)}): the time to open is CPU-bound, not the tool's limit`,
      )
    } else {
      notes.push(`CPU to spare while the connections opened (${share}; targets ${opening.targetCores} cores)`)
    }
  } else if (busy !== undefined && busy >= 0.95) {
    const others = s.cores * busy - (s.generatorCores ?? 0) - s.targetCores
    notes.push(
      `machine saturated (${Math.round(busy * 100)}% busy; generator ${s.generatorCores} cores, targets ${s.targetCores}, other work ${others.toFixed(2)}): figures are CPU-bound, not the tool's limit`,
    )
  } else if (busy !== undefined) {
    notes.push(
      `CPU not exhausted (${Math.round(busy * 100)}% busy; generator ${s.generatorCores} cores, targets ${s.targetCores})`,
    )
  }
  if (dropped === 0 && (tcp.TcpExtTCPSynRetrans ?? 0) === 0)
    notes.push('no listen-queue drop, no SYN retransmit')
  return notes.join('; ')
}

function summarizeRun(run, target, users) {
  const rssKiB = run.peakRss?.sumHwmKiB
  return {
    failed: run.failed,
    exitCode: run.exitCode,
    timedOut: run.timedOut,
    hits: run.requests,
    errors: run.errors,
    timeouts: run.timeouts,
    socketErrors: run.socketErrors,
    connectMeanMs: run.connectMeanMs,
    workers: run.workers,
    latency: run.latency,
    cpuSeconds: run.cpuSeconds,
    peakRssMiB: mib(rssKiB),
    rssKiBPerConnection:
      rssKiB && target.peakConnections ? Math.round(rssKiB / target.peakConnections) : undefined,
    processes: run.peakRss?.processes.map((p) => ({ pid: p.pid, name: p.name, peakRssMiB: mib(p.hwmKiB) })),
    target,
    allInFlight: target.peakInFlight === users,
  }
}

function line(r) {
  if (r.failed && r.target.peakConnections === 0) return `FAILED: ${r.failed}`
  return (
    `peak ${r.target.peakConnections} connections / ${r.target.peakInFlight} in flight at the target, ` +
    `opened in ${r.target.secondsToOpenAll} s, ${r.hits ?? '–'} hits, ${r.errors ?? '–'} errors, ` +
    `peak RSS ${r.peakRssMiB} MiB over ${r.processes?.length ?? 0} processes` +
    (r.failed ? ` (${r.failed})` : '')
  )
}
