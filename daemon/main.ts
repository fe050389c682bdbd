#!/usr/bin/env node
import { connectCouch } from '../lib/couch/client.js'
import { StampedeError, UsageError } from '../lib/errors.js'
import { VERSION } from '../lib/version.js'
import { DAEMON_HELP, parseDaemonConfig } from './config.js'
import { Engine } from './engine.js'
import { StaticIdentity } from './identity.js'
import { createLogger } from './log.js'

/** `stampede-engine`: runs until SIGTERM/SIGINT, then drains and says it is gone. */
async function main(argv: string[]): Promise<number> {
  const config = parseDaemonConfig(argv)
  if (!config) {
    process.stdout.write(DAEMON_HELP)
    return 0
  }
  const identity = new StaticIdentity({
    instanceId: config.instanceId,
    region: config.region,
    az: config.az,
    instanceType: config.instanceType,
  })
  const who = await identity.identify()
  const log = createLogger(config.logLevel, { engine: who.instanceId, region: who.region })
  const couch = connectCouch(config.couchUrl, { prefix: config.prefix, credentials: config.credentials })
  const engine = new Engine({
    couch,
    identity,
    version: VERSION,
    capacity: config.capacity,
    policy: config.policy,
    workers: config.workers,
    log,
    leaseMs: config.leaseMs,
    heartbeatMs: config.heartbeatMs,
  })
  await engine.start()
  await new Promise<void>((resolve) => {
    const onSignal = (signal: string) => {
      log.info({ signal, drainMs: config.drainMs }, 'stopping')
      resolve()
    }
    process.once('SIGTERM', onSignal)
    process.once('SIGINT', onSignal)
  })
  await engine.stop({ drainMs: config.drainMs })
  return 0
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (err) => {
    const usage = err instanceof UsageError
    const message = err instanceof StampedeError ? err.message : ((err as Error).stack ?? String(err))
    process.stderr.write(`stampede-engine: ${message}\n`)
    process.exitCode = usage ? 2 : 1
  },
)
