import { BlockList, isIP } from 'node:net'
import { AddressRefusedError } from '../lib/errors.js'

/**
 * Where a load may go. Link-local addresses (169.254.0.0/16, fe80::/10: the cloud
 * metadata service lives there) are refused always. Loopback and private ranges are
 * for the operator to allow: the local command line allows them, engine daemons do not
 * unless told to.
 */
export interface AddressPolicy {
  allowLoopback: boolean
  allowPrivate: boolean
}

export const LOCAL_POLICY: AddressPolicy = { allowLoopback: true, allowPrivate: true }
export const DAEMON_POLICY: AddressPolicy = { allowLoopback: false, allowPrivate: false }

export type AddressClass = 'link-local' | 'loopback' | 'private' | 'public' | 'multicast'

function blockList(v4: string[], v6: string[]): BlockList {
  const list = new BlockList()
  for (const cidr of v4) {
    const [net, bits] = cidr.split('/')
    list.addSubnet(net!, Number(bits), 'ipv4')
  }
  for (const cidr of v6) {
    const [net, bits] = cidr.split('/')
    list.addSubnet(net!, Number(bits), 'ipv6')
  }
  return list
}

// The EC2 metadata service's IPv6 address sits in the unique-local range; it is refused
// like its IPv4 twin, not merely treated as private.
const LINK_LOCAL = blockList(['169.254.0.0/16'], ['fe80::/10', 'fd00:ec2::254/128'])
const LOOPBACK = blockList(['127.0.0.0/8', '0.0.0.0/8'], ['::1/128', '::/128'])
const PRIVATE = blockList(
  ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', '198.18.0.0/15'],
  ['fc00::/7'],
)
const MULTICAST = blockList(['224.0.0.0/4', '240.0.0.0/4'], ['ff00::/8'])

/** An IPv4-mapped IPv6 address (`::ffff:169.254.169.254`) is judged as the IPv4 it carries. */
function unwrapMapped(address: string): string {
  const match = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)
  return match ? match[1]! : address
}

export function classifyAddress(address: string): AddressClass {
  const plain = unwrapMapped(address.replace(/^\[|\]$/g, '').replace(/%.*$/, ''))
  const family = isIP(plain)
  if (family === 0) throw new TypeError(`not an IP address: ${address}`)
  const type = family === 4 ? 'ipv4' : 'ipv6'
  if (LINK_LOCAL.check(plain, type)) return 'link-local'
  if (LOOPBACK.check(plain, type)) return 'loopback'
  if (MULTICAST.check(plain, type)) return 'multicast'
  if (PRIVATE.check(plain, type)) return 'private'
  return 'public'
}

/** Throws AddressRefusedError when the policy forbids `address`. */
export function assertAllowed(address: string, policy: AddressPolicy): void {
  switch (classifyAddress(address)) {
    case 'link-local':
      throw new AddressRefusedError(
        address,
        'link-local addresses (the cloud metadata service) are never a target',
      )
    case 'multicast':
      throw new AddressRefusedError(address, 'multicast and reserved addresses are not HTTP targets')
    case 'loopback':
      if (!policy.allowLoopback) {
        throw new AddressRefusedError(
          address,
          'loopback targets are not allowed here (operator option: allow loopback)',
        )
      }
      return
    case 'private':
      if (!policy.allowPrivate) {
        throw new AddressRefusedError(
          address,
          'private-range targets are not allowed here (operator option: allow private)',
        )
      }
      return
    case 'public':
      return
  }
}
