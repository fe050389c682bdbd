// A process of lightweight followers for bench:fanout (forked with IPC). Each follower is
// lib/couch/follow.ts's followChanges itself (long poll, heartbeat on, include_docs,
// conflicts, back-off), as an engine runs it, with no decision behind it: it records when
// each shard first reached it. Exits when the parent goes away.
import { setMaxListeners } from 'node:events'
import { dist } from './common.js'

const { connectCouch } = await dist('lib/couch/client.js')
const { followChanges } = await dist('lib/couch/follow.js')

const stop = new AbortController()
// Every follower's polls listen on the one stop signal.
setMaxListeners(0, stop.signal)
const seen = [] // per follower: Map shard id → epoch ms
let errors = 0
let changes = 0
const running = []

process.on('disconnect', () => process.exit(0))
process.on('message', async (message) => {
  if (message.type === 'start') {
    const { url, db, since, count, heartbeatMs, staggerMs, feed } = message
    const couch = connectCouch(url)
    for (let i = 0; i < count; i++) {
      const mine = new Map()
      seen.push(mine)
      if (feed === 'continuous') {
        running.push(followContinuous(url, db, since, heartbeatMs, mine))
        if (staggerMs > 0) await new Promise((resolve) => setTimeout(resolve, staggerMs))
        continue
      }
      running.push(
        followChanges({
          couch,
          db,
          since,
          signal: stop.signal,
          heartbeatMs,
          onChange: async (change) => {
            changes++
            if (change.id.startsWith('shard:') && !mine.has(change.id)) mine.set(change.id, Date.now())
          },
          onError: () => {
            errors++
          },
        }),
      )
      if (staggerMs > 0) await new Promise((resolve) => setTimeout(resolve, staggerMs))
    }
    process.send({ type: 'started' })
  } else if (message.type === 'count') {
    // How many followers have seen this id.
    process.send({ type: 'count', id: message.id, seen: seen.filter((m) => m.has(message.id)).length })
  } else if (message.type === 'report') {
    process.send({
      type: 'report',
      arrivals: seen.map((m) => Object.fromEntries(m)),
      errors,
      changes,
    })
  } else if (message.type === 'stop') {
    stop.abort()
    await Promise.race([Promise.all(running), new Promise((resolve) => setTimeout(resolve, 2000))])
    process.exit(0)
  }
})
process.send({ type: 'ready' })

/**
 * For comparison only: the same follower on `feed=continuous` (one open response per
 * follower, a JSON line per change, newlines as heartbeats; reconnects from the last seq).
 */
async function followContinuous(url, db, since, heartbeatMs, mine) {
  let last = since
  while (!stop.signal.aborted) {
    try {
      const query = new URLSearchParams({
        feed: 'continuous',
        since: String(last),
        heartbeat: String(heartbeatMs),
        include_docs: 'true',
        conflicts: 'true',
      })
      // identity: PouchDB Server gzips _changes for clients that accept it (fetch does),
      // and gzip holds every line and heartbeat back until the response ends.
      const response = await fetch(`${url}/${encodeURIComponent(db)}/_changes?${query}`, {
        signal: stop.signal,
        headers: { 'accept-encoding': 'identity' },
      })
      const decoder = new TextDecoder()
      let buffer = ''
      for await (const chunk of response.body) {
        buffer += decoder.decode(chunk, { stream: true })
        let nl = buffer.indexOf('\n')
        while (nl >= 0) {
          const line = buffer.slice(0, nl).trim()
          buffer = buffer.slice(nl + 1)
          nl = buffer.indexOf('\n')
          if (!line) continue
          const change = JSON.parse(line)
          if (change.id === undefined) continue
          changes++
          last = change.seq
          if (change.id.startsWith('shard:') && !mine.has(change.id)) mine.set(change.id, Date.now())
        }
      }
    } catch {
      if (stop.signal.aborted) return
      errors++
      await new Promise((resolve) => setTimeout(resolve, 250))
    }
  }
}
