// A process of simulated engines for bench:fanout (forked with IPC): each one writes what
// a busy engine writes outside its dispatch feed, at the daemon's rate and the same way:
//   - one samples batch per second to results, one document via _bulk_docs
//     (daemon/samples.ts: SampleWriter → bulkWrite); a tick that finds the previous write
//     still in flight skips (the entries would go with the next batch), as SampleWriter does;
//   - its engine doc in fleet (heartbeat + checkpoint) with updateDoc (GET then PUT), as
//     Engine.#saveEngine does, every `engineDocMs` (the daemon ticks every
//     min(heartbeatMs 10 s, checkpointMs 5 s) and writes when the heartbeat is due or the
//     checkpoint moved; with a shard in the feed every 2 s it moves every tick: 5 s).
// The realistic payload: one entry with a full per-second point and an encoded HDR
// histogram of 2,000 latencies.
import { randomBytes } from 'node:crypto'
import { dist } from './common.js'

const { connectCouch, bulkWrite, updateDoc } = await dist('lib/couch/client.js')
const { createHistogram, recordMicros, encodeHistogram } = await dist('lib/histogram.js')
const { emptyPoint } = await dist('lib/timeline.js')

const timers = []
const stats = {
  samples: 0,
  samplesSkipped: 0,
  engineDocs: 0,
  errors: 0,
  sampleMs: [],
  engineDocMs: [],
  firstError: undefined,
}
let stopping = false

function histogram() {
  const h = createHistogram()
  for (let i = 0; i < 2000; i++) recordMicros(h, 2000 + Math.round(-Math.log(Math.random()) * 8000))
  return encodeHistogram(h)
}

process.on('disconnect', () => process.exit(0))
process.on('message', async (message) => {
  if (message.type === 'start') {
    const { url, prefix, engines, samplesDb, fleetDb, region, sampleMs, engineDocMs } = message
    const couch = connectCouch(url, { prefix })
    const results = couch.db(samplesDb)
    const fleet = couch.db(fleetDb)
    const encoded = histogram()
    const bootId = randomBytes(6).toString('hex')
    // Engine docs first (registration).
    for (const instanceId of engines) {
      await updateDoc(fleet, `engine:${instanceId}`, (current) =>
        engineDoc(instanceId, region, bootId, current),
      )
    }
    for (const instanceId of engines) {
      let k = 0
      let writing = false
      const point = emptyPoint(0)
      Object.assign(point, {
        concurrency: 100,
        sent: 2000,
        hits: 1998,
        statuses: { 200: 1998 },
        txBytes: 180000,
        rxBytes: 420000,
        latencyCount: 1998,
        latencySum: 19980000,
        latencyMin: 2100,
        latencyMax: 48000,
        connects: 3,
        connectSum: 600,
      })
      const writeSamples = async () => {
        if (stopping) return
        if (writing) {
          stats.samplesSkipped++
          return
        }
        writing = true
        const t = k++
        const started = performance.now()
        try {
          await bulkWrite(results, [
            {
              _id: `samples:${instanceId}:${bootId}:${t}`,
              type: 'samples',
              engine: instanceId,
              region,
              at: Date.now(),
              entries: [
                {
                  rush: 'bench',
                  shard: `shard:bench:${instanceId}`,
                  point: { ...point, t },
                  histogram: encoded,
                },
              ],
            },
          ])
          stats.samples++
          stats.sampleMs.push(Math.round(performance.now() - started))
        } catch (err) {
          stats.errors++
          stats.firstError ??= err.message
        } finally {
          writing = false
        }
      }
      const writeEngineDoc = async () => {
        if (stopping) return
        const started = performance.now()
        try {
          await updateDoc(fleet, `engine:${instanceId}`, (current) =>
            engineDoc(instanceId, region, bootId, current),
          )
          stats.engineDocs++
          stats.engineDocMs.push(Math.round(performance.now() - started))
        } catch (err) {
          stats.errors++
          stats.firstError ??= err.message
        }
      }
      // Random phases: engines do not tick in step.
      timers.push(
        setTimeout(() => timers.push(setInterval(writeSamples, sampleMs)), Math.random() * sampleMs),
        setTimeout(() => timers.push(setInterval(writeEngineDoc, engineDocMs)), Math.random() * engineDocMs),
      )
    }
    process.send({ type: 'started' })
  } else if (message.type === 'report') {
    stopping = true
    for (const timer of timers) clearTimeout(timer)
    process.send({ type: 'report', stats })
  }
})

function engineDoc(instanceId, region, bootId, current) {
  const now = Date.now()
  return {
    _id: `engine:${instanceId}`,
    _rev: current?._rev,
    type: 'engine',
    instanceId,
    region,
    az: `${region}a`,
    version: 'bench',
    state: 'busy',
    capacity: 10000,
    inUse: 100,
    checkpoint: current?.checkpoint ?? 0,
    heartbeatAt: now,
    startedAt: current?.startedAt ?? now,
    bootId,
  }
}
process.send({ type: 'ready' })
