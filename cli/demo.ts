import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { availableParallelism, loadavg } from 'node:os'
import { type CommandSpec, type ParsedOptions, stringOption } from './options.js'
import { rushCommand } from './rush.js'

export const DEMO: CommandSpec = {
  name: 'demo',
  usage: 'stampede demo [--pattern PATTERN]',
  tagline: 'run a rush against a built-in target on 127.0.0.1, to see what a rush reports',
  summary:
    'Start a small target on 127.0.0.1 (it answers after 2 to 12 ms) and run a rush against\n' +
    'it, with thresholds, the way a CI job would. Nothing leaves this machine.',
  options: [
    {
      name: 'pattern',
      short: 'p',
      type: 'string',
      value: 'PATTERN',
      description: 'concurrent users (default 1-50:10,50:5)',
    },
    { name: 'help', short: 'h', type: 'boolean', description: 'show this help' },
  ],
}

/**
 * The demo's verdict judges the target, not the machine: the target answers within 12 ms,
 * and a p95 limit of 100 ms failed beside a CPU hog (p95 147 ms measured: the load
 * generator waiting for a CPU, not the target). 500 ms leaves that slack; a request slower
 * than the 1 s timeout is an error either way.
 */
export const DEMO_THRESHOLDS = ['p95<500ms', 'errors<1%']

/** Said after a failed demo verdict: what a latency figure means on a loaded machine. */
export function demoVerdictNote(): string {
  const load = loadavg()[0]!.toFixed(1)
  return (
    'note: the demo target answers every request within 12 ms; latency beyond that was spent ' +
    `on this machine (load average ${load} on ${availableParallelism()} cores), not by the target\n`
  )
}

export async function demoCommand(_positionals: string[], values: ParsedOptions): Promise<number> {
  const server = createServer((_req, res) => {
    setTimeout(() => res.end('hello from the Stampede demo target\n'), 2 + Math.random() * 10)
  })
  server.keepAliveTimeout = 30_000
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  process.stderr.write(`demo target listening on http://127.0.0.1:${port}/\n`)
  try {
    const code = await rushCommand([`http://127.0.0.1:${port}/`], {
      pattern: stringOption(values, 'pattern') ?? '1-50:10,50:5',
      threshold: DEMO_THRESHOLDS,
    })
    if (code === 99) process.stderr.write(demoVerdictNote())
    return code
  } finally {
    server.closeAllConnections()
    server.close()
  }
}
