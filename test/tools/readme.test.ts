import { readFileSync } from 'node:fs'
import t from 'tap'
import { commandReference, END, START } from '../../tools/readme.js'

t.test(
  'the README command reference is the commands’ current --help (npm run docs regenerates it)',
  async (t) => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')
    const section = readme.slice(readme.indexOf(START) + START.length, readme.indexOf(END)).trim()
    t.equal(section, commandReference().trim(), 'README.md is stale: run npm run docs')
  },
)
