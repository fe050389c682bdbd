#!/usr/bin/env node
// One measured run for bench/transaction.js, in its own process: the single request or the
// four-step transaction, in process (no load workers), reporting its own CPU and peak RSS.
import { runLoad } from '../dist/load/run.js'
import { LOCAL_POLICY } from '../dist/load/safety.js'
import { shopRequest, shopTransaction } from './lib/shop-transaction.js'

const [mode, base, users, seconds] = process.argv.slice(2)
const request = (path, extra) => shopRequest(base, path, extra)
const transaction = shopTransaction(base)
const job = {
  model: 'rush',
  request: mode === 'transaction' ? transaction.steps[0].request : request('/items'),
  pattern: [{ start: Number(users), end: Number(users), duration: Number(seconds) }],
  share: { index: 0, of: 1 },
  policy: LOCAL_POLICY,
  ...(mode === 'transaction' && { transaction }),
}
const before = process.cpuUsage()
const result = await runLoad(job, { workers: 0 })
const cpu = process.cpuUsage(before)
const s = result.summary
process.stdout.write(
  `${JSON.stringify({
    mode,
    users: Number(users),
    hits: s.hits,
    errors: s.errors,
    iterations: result.timeline.reduce((sum, p) => sum + (p.iterations?.hits ?? 0), 0),
    cpuMicrosPerRequest: s.hits > 0 ? (cpu.user + cpu.system) / s.hits : null,
    maxRssMiB: process.resourceUsage().maxRSS / 1024,
  })}\n`,
)
