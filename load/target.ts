import { lookup as dnsLookup, type LookupAddress } from 'node:dns'
import { isIP, connect as netConnect, type OnReadOpts, type Socket } from 'node:net'
import { buildConnector } from 'undici'
import { StampedeError, UsageError } from '../lib/errors.js'
import { parseTargetUrl, type RequestSpec } from '../lib/request-spec.js'
import { type AddressPolicy, assertAllowed } from './safety.js'

/**
 * A resolved, policy-checked target. The host name is resolved once at the start (as wrk
 * does) and again when the answer is older than a minute; every address is checked
 * against the policy before any packet is sent to it, and the address a socket actually
 * connected to is checked once more.
 */
export interface Target {
  url: URL
  origin: string
  hostname: string
  addresses: LookupAddress[]
  /** undici `connect` option: opens sockets only to checked addresses. */
  connect: buildConnector.connector
  /**
   * For the lean path (load/net-exchange.ts): a plain TCP socket to the next address, by
   * the same round-robin lookup as `connect`, reading into `onread`'s buffer.
   */
  openPlain(onread: OnReadOpts): Socket
  /**
   * Called once a plain socket is connected: checks the address it connected to against
   * the policy (the same check as `connect`) and records the connect time; the refusal,
   * if any, to fail the request with.
   */
  acceptPlain(socket: Socket, startedPerf: number): Error | null
}

const REFRESH_MS = 60_000
type LookupCallback = (
  err: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void

/** Bare host name of a URL (IPv6 brackets removed). */
export function urlHostname(url: URL): string {
  return url.hostname.replace(/^\[|\]$/g, '')
}

export async function resolveAddresses(
  hostname: string,
  spec: RequestSpec,
  policy: AddressPolicy,
): Promise<LookupAddress[]> {
  const override = spec.resolve?.[hostname.toLowerCase()]
  let addresses: LookupAddress[]
  if (isIP(hostname)) {
    addresses = [{ address: hostname, family: isIP(hostname) }]
  } else if (override) {
    addresses = override.map((address) => {
      const family = isIP(address)
      if (family === 0) throw new UsageError(`--resolve for ${hostname}: "${address}" is not an IP address`)
      return { address, family }
    })
  } else {
    addresses = await new Promise<LookupAddress[]>((resolve, reject) => {
      dnsLookup(hostname, { all: true }, (err, found) => (err ? reject(err) : resolve(found)))
    }).catch((err: NodeJS.ErrnoException) => {
      throw new StampedeError('STAMPEDE_DNS', `cannot resolve ${hostname}: ${err.code ?? err.message}`, {
        cause: err,
      })
    })
  }
  for (const { address } of addresses) assertAllowed(address, policy)
  return addresses
}

export interface ConnectObserver {
  /** Called when a socket is open (TLS done), with the time it took in microseconds. */
  onConnected?(micros: number): void
}

export async function prepareTarget(
  spec: RequestSpec,
  policy: AddressPolicy,
  observer: ConnectObserver = {},
  connectTimeoutMs = spec.timeoutMs,
): Promise<Target> {
  const url = parseTargetUrl(spec.url)
  const hostname = urlHostname(url)
  let addresses = await resolveAddresses(hostname, spec, policy)
  let resolvedAt = Date.now()
  let nextAddress = 0

  // Spread connections over every address the name has, round-robin.
  const pick = (): LookupAddress => addresses[nextAddress++ % addresses.length]!

  // One address per connection, round-robin. Node's net.connect asks for `all` (to race
  // address families): answering with every address would make every connection try the
  // first one first, piling them all on one address.
  const lookup = (_host: string, options: { all?: boolean }, callback: LookupCallback): void => {
    const answer = () => {
      const chosen = pick()
      if (options.all) callback(null, [chosen])
      else callback(null, chosen.address, chosen.family)
    }
    if (Date.now() - resolvedAt < REFRESH_MS || isIP(hostname) || spec.resolve?.[hostname.toLowerCase()]) {
      answer()
      return
    }
    resolveAddresses(hostname, spec, policy).then(
      (fresh) => {
        addresses = fresh
        resolvedAt = Date.now()
        answer()
      },
      (err) => callback(err.cause ?? err, ''),
    )
  }

  const base = buildConnector({
    // An IP literal host skips lookup inside net.connect: hand it the checked address.
    lookup: lookup as never,
    timeout: connectTimeoutMs,
    rejectUnauthorized: !spec.insecure,
    keepAlive: true,
  })

  const connect: buildConnector.connector = (options, callback) => {
    const started = performance.now()
    return base(options, (err, socket) => {
      if (err || !socket) {
        callback(err ?? new Error('connect failed'), null)
        return
      }
      const remote = (socket as Socket).remoteAddress
      try {
        if (!remote)
          throw new StampedeError('STAMPEDE_ADDRESS_UNKNOWN', 'connected socket has no remote address')
        assertAllowed(remote, policy)
      } catch (refusal) {
        socket.destroy()
        callback(refusal as Error, null)
        return
      }
      observer.onConnected?.((performance.now() - started) * 1000)
      callback(null, socket)
    })
  }

  const port = Number(url.port || 80)
  const openPlain = (onread: OnReadOpts): Socket =>
    netConnect({
      host: hostname,
      port,
      lookup: lookup as never,
      onread,
      noDelay: true,
      keepAlive: true,
      keepAliveInitialDelay: 60_000,
    })

  const acceptPlain = (socket: Socket, startedPerf: number): Error | null => {
    const remote = socket.remoteAddress
    try {
      if (!remote)
        throw new StampedeError('STAMPEDE_ADDRESS_UNKNOWN', 'connected socket has no remote address')
      assertAllowed(remote, policy)
    } catch (refusal) {
      return refusal as Error
    }
    observer.onConnected?.((performance.now() - startedPerf) * 1000)
    return null
  }

  return { url, origin: url.origin, hostname, addresses, connect, openPlain, acceptPlain }
}
