import t from 'tap'
import type { LoadJob } from '../../load/job.js'
import { runLoad } from '../../load/run.js'
import { LOCAL_POLICY } from '../../load/safety.js'

const job: LoadJob = {
  model: 'rush',
  // Port 9 (discard) on loopback: nothing may be sent to it in these tests anyway.
  request: { method: 'GET', url: 'http://127.0.0.1:9/', headers: {}, timeoutMs: 1000 },
  pattern: [{ start: 2, end: 2, duration: 60 }],
  share: { index: 0, of: 1 },
  policy: LOCAL_POLICY,
}

for (const workers of [0, 2]) {
  t.test(
    `a run aborted before it starts sends nothing and returns at once (${workers} workers)`,
    async (t) => {
      const abort = new AbortController()
      abort.abort()
      const began = Date.now()
      const result = await runLoad(job, { workers, signal: abort.signal })
      t.ok(Date.now() - began < 10_000, 'it did not run its 60 s pattern')
      t.equal(result.cutShort, true)
      t.equal(result.summary.sent, 0)
    },
  )
}
