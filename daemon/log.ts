import pino from 'pino'

export type Logger = pino.Logger

/** JSON lines on stdout (journald keeps them); `level` from --log-level or STAMPEDE_LOG_LEVEL. */
export function createLogger(level = 'info', bindings: Record<string, unknown> = {}): Logger {
  return pino({ level, base: { ...bindings } })
}

export function silentLogger(): Logger {
  return pino({ level: 'silent' })
}
