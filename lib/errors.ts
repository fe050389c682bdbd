/**
 * Errors with stable codes. `UsageError` is the user's mistake (bad flag, bad pattern):
 * the CLI prints its message on one line and exits 2, never a stack trace.
 */
export class StampedeError extends Error {
  readonly code: string
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'StampedeError'
    this.code = code
  }
}

export class UsageError extends StampedeError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('STAMPEDE_USAGE', message, options)
    this.name = 'UsageError'
  }
}

/** A target address that policy forbids (link-local, or loopback/private where not allowed). */
export class AddressRefusedError extends StampedeError {
  readonly address: string
  constructor(address: string, reason: string) {
    super('STAMPEDE_ADDRESS_REFUSED', `refusing to connect to ${address}: ${reason}`)
    this.name = 'AddressRefusedError'
    this.address = address
  }
}
