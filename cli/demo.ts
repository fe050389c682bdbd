import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
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

export async function demoCommand(_positionals: string[], values: ParsedOptions): Promise<number> {
  const server = createServer((_req, res) => {
    setTimeout(() => res.end('hello from the Stampede demo target\n'), 2 + Math.random() * 10)
  })
  server.keepAliveTimeout = 30_000
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  process.stderr.write(`demo target listening on http://127.0.0.1:${port}/\n`)
  try {
    return await rushCommand([`http://127.0.0.1:${port}/`], {
      pattern: stringOption(values, 'pattern') ?? '1-50:10,50:5',
      threshold: ['p95<100ms', 'errors<1%'],
    })
  } finally {
    server.closeAllConnections()
    server.close()
  }
}
