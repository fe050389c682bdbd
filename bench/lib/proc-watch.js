import { readdirSync, readFileSync } from 'node:fs'

function parentOf(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // The command name is in parentheses and may hold spaces: fields follow the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return Number(fields[1])
  } catch {
    return undefined
  }
}

function status(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8')
    const kib = (name) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0)
    const name = /^Name:\s+(.*)$/m.exec(text)?.[1] ?? '?'
    return { name, hwm: kib('VmHWM'), rss: kib('VmRSS') }
  } catch {
    return undefined
  }
}

/** The pids of every live descendant of `root`. */
function descendants(root) {
  const children = new Map()
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const pid = Number(entry)
    const parent = parentOf(pid)
    if (parent === undefined) continue
    if (!children.has(parent)) children.set(parent, [])
    children.get(parent).push(pid)
  }
  const found = []
  const stack = [root]
  while (stack.length > 0) {
    const pid = stack.pop()
    for (const child of children.get(pid) ?? []) {
      found.push(child)
      stack.push(child)
    }
  }
  return found
}

/**
 * Polls /proc while a tool runs and keeps, for every process below `root` (the bench's
 * `bash` wrapper and `taskset` are not counted), the highest VmHWM (peak resident set)
 * seen before it exited. `stop()` returns the processes and the sum of their peaks.
 */
export function watchTree(root, { everyMs = 100, skipNames = ['bash', 'taskset'] } = {}) {
  const peaks = new Map()
  const poll = () => {
    for (const pid of descendants(root)) {
      const s = status(pid)
      if (!s || skipNames.includes(s.name)) continue
      const known = peaks.get(pid)
      if (!known || s.hwm > known.hwmKiB) peaks.set(pid, { pid, name: s.name, hwmKiB: s.hwm })
    }
  }
  poll()
  const timer = setInterval(poll, everyMs)
  return {
    poll,
    stop() {
      clearInterval(timer)
      const processes = [...peaks.values()]
      return { processes, sumHwmKiB: processes.reduce((sum, p) => sum + p.hwmKiB, 0) }
    },
  }
}
