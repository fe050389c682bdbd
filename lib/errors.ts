/**
 * Every error code Stampede gives, in one list (as undici keeps its codes in one file): a
 * code is a key of `ERROR_CODES`, so a misspelt code — thrown or compared — does not compile.
 * Codes are stable: logs, the CLI's JSON output and the controller's action results carry them.
 */
export const ERROR_CODES = {
  STAMPEDE_USAGE: 'the user’s mistake: a bad flag, pattern or file (the CLI exits 2)',
  STAMPEDE_UNEXPECTED: 'an error without a code of ours (the controller’s action results)',
  // The load generator
  STAMPEDE_ADDRESS_REFUSED: 'a target address the address policy forbids',
  STAMPEDE_ADDRESS_UNKNOWN: 'a connected socket without a remote address (it cannot be checked)',
  STAMPEDE_DNS: 'the target’s name did not resolve',
  STAMPEDE_TIMEOUT: 'no complete response within the request timeout',
  STAMPEDE_WORKER: 'a load process failed without a code',
  STAMPEDE_WORKER_START: 'a load process could not be started',
  STAMPEDE_WORKER_EXIT: 'a load process exited before finishing',
  // CouchDB
  STAMPEDE_COUCH: 'a CouchDB request failed (connection, 5xx, 429, other refusals)',
  STAMPEDE_CONFLICT: 'a write lost to another writer (409), or kept losing',
  STAMPEDE_DOC_REJECTED: 'validate_doc_update rejected a document (403)',
  STAMPEDE_INVALID_DOC: 'a document our validators reject, before it is written',
  STAMPEDE_FEED: 'a _changes feed failed or went silent',
  STAMPEDE_RUSH_EXISTS: 'a rush with that id exists already',
  STAMPEDE_RUSH_NOT_FOUND: 'no rush with that id',
  // The engine's identity
  STAMPEDE_IMDS: 'a metadata service (IMDSv2) request failed',
  STAMPEDE_IMDS_UNAVAILABLE: 'the metadata service never answered within the tries',
  // The controller and the cloud
  STAMPEDE_LEASE_HELD: 'another controller run holds the lease',
  STAMPEDE_LEASE_LOST: 'another controller run took the lease over',
  STAMPEDE_CLOUD: 'a cloud call failed',
  STAMPEDE_CLOUD_THROTTLED: 'the cloud throttled a call',
  STAMPEDE_CLOUD_IDEMPOTENCY: 'a client token was reused with other parameters',
  STAMPEDE_CLOUD_CAPACITY: 'the cloud has no capacity, or an account limit was reached',
  STAMPEDE_CLOUD_DENIED: 'the cloud refused the credentials or the permission',
  STAMPEDE_USER_DATA: 'user-data that cannot be rendered (a bad option, over 16 KB)',
  STAMPEDE_IMAGE: 'an image reference that cannot be resolved',
  // The tenant API, as its clients see it
  STAMPEDE_API: 'the tenant API refused a request or could not be reached',
  // Reports
  STAMPEDE_REPORT_ASSETS: 'the report’s built browser code is missing (run npm run build)',
  // The local appliance
  STAMPEDE_APPLIANCE_NO_COUCH: 'no CouchDB (or PouchDB Server) to run the appliance on',
  STAMPEDE_APPLIANCE_ENGINE: 'an engine of the appliance did not come up',
  STAMPEDE_APPLIANCE_INTERRUPTED: 'the appliance was stopped while starting',
} as const

export type ErrorCode = keyof typeof ERROR_CODES

/** Whether `code` (from another process, say) is one of ours. */
export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERROR_CODES, code)
}

/** Whether `err` carries `code` (an error of ours, or one that crossed a process boundary). */
export function hasCode(err: unknown, code: ErrorCode): boolean {
  return (err as { code?: unknown } | null | undefined)?.code === code
}

/**
 * Errors with stable codes. `UsageError` is the user's mistake (bad flag, bad pattern):
 * the CLI prints its message on one line and exits 2, never a stack trace.
 */
export class StampedeError extends Error {
  readonly code: ErrorCode
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
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
