// Loaded into every test process (package.json, tap's node-arg), after tap's own imports.
//
// tap loads @tapjs/processinfo into each test file's process, and from there into every node
// process a test starts: its import is in the test process's flags (which a fork inherits)
// and in NODE_OPTIONS, and `process-on-spawn` puts it back at every spawn. It records which
// files each process loads, for coverage and `tap --changed`, neither used here (coverage is
// disabled). It doubles a small child's start-up: `stampede --help` takes 0.45 s of CPU,
// 0.95 s with it, and the suite starts a node process for every CLI run, engine, API,
// PouchDB Server and load process it tests. The test file's own process keeps it (tap reads
// it there); the children go without.
import { createRequire } from 'node:module'

const FLAG = String.raw`--(?:import|loader|experimental-loader)=\S*@tapjs[/\\]processinfo\S*`
// In NODE_OPTIONS the flag may be quoted; in execArgv it is a whole item.
const PROCESSINFO = new RegExp(String.raw`(^|\s)"?${FLAG}`, 'g')
const PROCESSINFO_FLAG = new RegExp(`^${FLAG}$`)
const isThisFile = (flag) => flag.endsWith('untracked-children.mjs')

if (process.env.NODE_OPTIONS) {
  const rest = process.env.NODE_OPTIONS.replace(PROCESSINFO, '').trim()
  if (rest) process.env.NODE_OPTIONS = rest
  else delete process.env.NODE_OPTIONS
}
// fork() hands a child this process's flags: the same array, read at each fork.
const kept = process.execArgv.filter((flag) => !PROCESSINFO_FLAG.test(flag) && !isThisFile(flag))
process.execArgv.splice(0, process.execArgv.length, ...kept)
// One shared registry for every copy of the package (a global singleton): this empties the
// hook processinfo registered.
createRequire(import.meta.url)('process-on-spawn').removeAllListeners()
