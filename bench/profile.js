#!/usr/bin/env node
// `npm run bench:profile`: the single-request closed path (100 connections, --workers 0)
// against the bench's nginx under `node --cpu-prof`, both pinned (tool core 0, nginx
// core 1), and prints the top self-time entries of the profile. Arguments: seconds
// (default 10), connections (default 100), then extra `stampede rush` arguments.
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { cleanup, installCleanup, loadAverage, runMeasured, tempDir } from './lib/processes.js'
import { startNginx } from './lib/targets.js'
import { STAMPEDE_CLI } from './lib/tools.js'

/** Self time per function (name file:line) from a .cpuprofile, highest first. */
export function topSelf(profile, count = 15) {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  const self = new Map()
  const deltas = profile.timeDeltas
  let total = 0
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byId.get(profile.samples[i])
    const us = deltas[i] ?? 0
    total += us
    const f = node.callFrame
    const file = f.url ? f.url.replace(/^.*\/(node_modules|dist)\//, '$1/') : ''
    const key = `${f.functionName || '(anonymous)'} ${file}${file ? `:${f.lineNumber + 1}` : ''}`
    self.set(key, (self.get(key) ?? 0) + us)
  }
  return [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([name, us]) => ({ name, percent: Number(((us / total) * 100).toFixed(1)) }))
}

async function main() {
  // Imported for topSelf/byFile (no run): only `node bench/profile.js` profiles.
  if (process.argv[1] !== fileURLToPath(import.meta.url)) return
  installCleanup()
  const [seconds = '10', connections = '100', ...extra] = process.argv.slice(2)
  const nginx = await startNginx({ core: 1 })
  const dir = tempDir('stampede-profile-')
  const load = loadAverage()
  try {
    const run = await runMeasured(
      process.execPath,
      [
        '--cpu-prof',
        `--cpu-prof-dir=${dir}`,
        STAMPEDE_CLI,
        'rush',
        nginx.url,
        '--pattern',
        `${connections}:${seconds}`,
        '--workers',
        '0',
        ...extra,
      ],
      { core: 0, timeoutMs: (Number(seconds) + 60) * 1000 },
    )
    const req = /([\d,]+)\s+hits?/i.exec(run.stdout)
    console.log(run.stdout.split('\n').slice(0, 12).join('\n'))
    console.log(`cpu ${run.cpuSeconds} s, load average ${load?.join(' ')}${req ? '' : ''}`)
    const file = readdirSync(dir).find((name) => name.endsWith('.cpuprofile'))
    if (!file) throw new Error(`no profile written: ${run.stderr.slice(-300)}`)
    const profile = JSON.parse(readFileSync(join(dir, file), 'utf8'))
    console.log(JSON.stringify(byFile(profile)))
    for (const { name, percent } of topSelf(profile, Number(process.env.PROFILE_TOP ?? 20)))
      console.log(`${String(percent).padStart(5)}%  ${name}`)
  } finally {
    nginx.stop()
    cleanup()
  }
}

main().catch((err) => {
  console.error(err)
  cleanup()
  process.exit(1)
})

/** Self time per source area (undici, node internals, Stampede, native/idle), percent. */
export function byFile(profile) {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  const areas = {}
  let total = 0
  for (let i = 0; i < profile.samples.length; i++) {
    const url = byId.get(profile.samples[i]).callFrame.url
    const us = profile.timeDeltas[i] ?? 0
    total += us
    const area = url.includes('node_modules/undici')
      ? 'undici'
      : url.startsWith('node:')
        ? 'node'
        : url.includes('/dist/')
          ? 'stampede'
          : url.startsWith('wasm')
            ? 'wasm'
            : byId.get(profile.samples[i]).callFrame.functionName || 'native'
    areas[area] = (areas[area] ?? 0) + us
  }
  return Object.fromEntries(
    Object.entries(areas)
      .sort((a, b) => b[1] - a[1])
      .slice(0, 10)
      .map(([k, v]) => [k, Number(((v / total) * 100).toFixed(1))]),
  )
}
