#!/usr/bin/env node
import { connectCouch } from '../lib/couch/client.js'
import { StampedeError, UsageError } from '../lib/errors.js'
import { VERSION } from '../lib/version.js'
import { DAEMON_HELP, type DaemonConfig, parseDaemonConfig } from './config.js'
import { Engine } from './engine.js'
import { type IdentitySource, StaticIdentity } from './identity.js'
import { ImdsIdentity, type MetadataReader } from './imds-identity.js'
import { Lifecycle } from './lifecycle.js'
import { createLogger } from './log.js'
import { SdNotify } from './sd-notify.js'

/** Past the drain bound, this long for the last writes; then the engine exits 1 whatever hangs. */
const LAST_WORDS_MS = 15_000

/** Where the identity comes from, and (on EC2) the metadata client the spot watcher polls. */
function identitySource(config: DaemonConfig): { source: IdentitySource; metadata?: MetadataReader } {
  if (config.identity === 'static') {
    return {
      source: new StaticIdentity({
        instanceId: config.instanceId,
        region: config.region,
        az: config.az,
        instanceType: config.instanceType,
      }),
    }
  }
  const source = new ImdsIdentity({
    endpoint: config.imds.endpoint,
    timeoutMs: config.imds.timeoutMs,
    attempts: config.imds.attempts,
  })
  return { source, metadata: source.client }
}

/**
 * `stampede-engine`: identifies itself, registers, runs shards until SIGTERM/SIGINT or a spot
 * interruption notice, then drains and exits 0 (see `Engine.drain`).
 */
async function main(argv: string[]): Promise<number> {
  const config = parseDaemonConfig(argv)
  if (!config) {
    process.stdout.write(DAEMON_HELP)
    return 0
  }
  const { source, metadata } = identitySource(config)
  const boot = createLogger(config.logLevel, { identity: config.identity })
  const notify = new SdNotify({ onError: (err) => boot.warn({ err: err.message }, 'sd_notify failed') })
  const lifecycle = new Lifecycle({
    log: boot,
    drainMs: config.drainMs,
    onLeaving: (reason) => {
      void notify.stopping(`draining: ${reason}`)
      setTimeout(() => {
        process.stderr.write(`stampede-engine: still not gone ${LAST_WORDS_MS} ms past the drain bound\n`)
        process.exit(1)
      }, config.drainMs + LAST_WORDS_MS).unref()
    },
  })
  try {
    const who = await source.identify()
    if (lifecycle.reason !== undefined) return 0 // stopped while booting: never registered
    const log = createLogger(config.logLevel, { engine: who.instanceId, region: who.region })
    const engine = new Engine({
      couch: connectCouch(config.couchUrl, { prefix: config.prefix, credentials: config.credentials }),
      identity: { identify: async () => who },
      version: VERSION,
      capacity: config.capacity,
      policy: config.policy,
      workers: config.workers,
      workerPool: config.workerPool,
      warmUp: config.warmUp,
      log,
      leaseMs: config.leaseMs,
      heartbeatMs: config.heartbeatMs,
    })
    await engine.start()
    if (metadata && config.spotPollMs > 0) lifecycle.watchSpot(metadata, config.spotPollMs)
    void notify.ready(`registered as ${who.instanceId}; following the dispatch feed of ${who.region}`)
    const watchdog = notify.startWatchdog({
      healthy: () => engine.health(),
      onSkip: (reason) => log.warn({ reason }, 'watchdog ping skipped'),
    })
    const reason = await lifecycle.run(engine)
    watchdog.stop()
    log.info({ reason }, 'exiting')
    return 0
  } finally {
    lifecycle.dispose()
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (err) => {
    const usage = err instanceof UsageError
    let message = err instanceof StampedeError ? err.message : ((err as Error).stack ?? String(err))
    if (err instanceof StampedeError && err.code === 'STAMPEDE_IMDS_UNAVAILABLE')
      message += ' (off EC2: --identity static with --instance-id and --region)'
    process.stderr.write(`stampede-engine: ${message}\n`)
    process.exitCode = usage ? 2 : 1
  },
)
