import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'

/** Kernel TCP counters that tell a full listen queue or lost SYNs (nstat's names). */
export const TCP_COUNTERS = [
  'TcpExtListenOverflows',
  'TcpExtListenDrops',
  'TcpExtTCPSynRetrans',
  'TcpExtTCPReqQFullDrop',
  'TcpExtTCPReqQFullDoCookies',
  'TcpRetransSegs',
  'TcpExtTCPTimeouts',
]

/**
 * The counters' absolute values now (`nstat -asz`: absolute, no history update, zeros
 * too), or undefined where nstat (iproute2) is missing. They count for the whole network
 * namespace: another program's connections on a shared machine count too.
 */
export function tcpCounters() {
  try {
    const text = execFileSync('nstat', ['-asz', ...TCP_COUNTERS], { encoding: 'utf8' })
    const values = {}
    for (const line of text.split('\n')) {
      const m = /^(\w+)\s+(\d+)/.exec(line)
      if (m && TCP_COUNTERS.includes(m[1])) values[m[1]] = Number(m[2])
    }
    return values
  } catch {
    return undefined
  }
}

export function counterDelta(before, after) {
  if (!before || !after) return undefined
  return Object.fromEntries(TCP_COUNTERS.map((name) => [name, (after[name] ?? 0) - (before[name] ?? 0)]))
}

/**
 * Listening sockets on `port` (`ss -lnt`): per local address, Recv-Q (connections waiting
 * in the accept queue) and Send-Q (the queue's limit, the backlog).
 */
export function listenQueues(port) {
  try {
    const text = execFileSync('ss', ['-lntH', `sport = :${port}`], { encoding: 'utf8' })
    return text
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const [, recvQ, sendQ, local] = line.trim().split(/\s+/)
        return { local, queued: Number(recvQ), backlog: Number(sendQ) }
      })
  } catch {
    return undefined
  }
}

/**
 * Samples the listen queues every `ms` until stopped: the most connections any listener
 * had waiting to be accepted, and the backlog it had. Every 2 s, not faster: the kernel
 * walks its socket tables for each `ss`, and with 200,000 sockets open (bench:concurrency,
 * both ends) `ss` every 250 ms took 12% of a 2-core machine's CPU (perf, `tcp_diag_dump`)
 * while the connections opened. Drops are counted exactly anyway (nstat's ListenOverflows).
 */
export function watchListenQueues(port, ms = 2000) {
  let peak = 0
  let peakAt
  let backlog
  const started = Date.now()
  const sample = () => {
    for (const queue of listenQueues(port) ?? []) {
      backlog = queue.backlog
      if (queue.queued > peak) {
        peak = queue.queued
        peakAt = (Date.now() - started) / 1000
      }
    }
  }
  sample()
  const timer = setInterval(sample, ms)
  return {
    stop() {
      clearInterval(timer)
      sample()
      return { peakQueued: peak, peakAtSeconds: peakAt, backlog }
    },
  }
}

/** CPU seconds (user + system) a process has used so far, from /proc; undefined if gone. */
export function processCpuSeconds(pid) {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
    // utime and stime are fields 14 and 15 of stat; 12 and 13 after "pid (comm) ".
    return (Number(fields[11]) + Number(fields[12])) / 100
  } catch {
    return undefined
  }
}

/** Busy and total CPU time of the whole machine (jiffies), from /proc/stat. */
export function machineCpu() {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]
  const values = line.trim().split(/\s+/).slice(1).map(Number)
  const idle = values[3] + (values[4] ?? 0)
  const total = values.reduce((a, b) => a + b, 0)
  return { busy: total - idle, total }
}

/** Share of the machine's CPU time that was busy between two machineCpu() readings. */
export function busyShare(before, after) {
  const total = after.total - before.total
  return total > 0 ? Number(((after.busy - before.busy) / total).toFixed(3)) : undefined
}
