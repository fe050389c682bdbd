import t from 'tap'
import { AddressRefusedError } from '../../lib/errors.js'
import {
  type AddressClass,
  assertAllowed,
  classifyAddress,
  DAEMON_POLICY,
  LOCAL_POLICY,
} from '../../load/safety.js'

// Pure classification: nothing here opens a socket.
const classes: [string, AddressClass][] = [
  ['169.254.169.254', 'link-local'],
  ['169.254.0.1', 'link-local'],
  ['::ffff:169.254.169.254', 'link-local'],
  ['::FFFF:169.254.169.254', 'link-local'],
  ['::ffff:a9fe:a9fe', 'link-local'],
  ['fe80::1', 'link-local'],
  ['febf:ffff::1', 'link-local'],
  ['fe80::1%eth0', 'link-local'],
  ['[fe80::1]', 'link-local'],
  ['fd00:ec2::254', 'link-local'],
  ['127.0.0.1', 'loopback'],
  ['127.255.0.9', 'loopback'],
  ['::ffff:127.0.0.1', 'loopback'],
  ['::1', 'loopback'],
  ['[::1]', 'loopback'],
  ['0.0.0.0', 'loopback'],
  ['::', 'loopback'],
  ['10.0.0.1', 'private'],
  ['10.255.255.255', 'private'],
  ['172.16.0.1', 'private'],
  ['172.31.255.254', 'private'],
  ['192.168.1.1', 'private'],
  ['100.64.0.1', 'private'],
  ['100.127.255.255', 'private'],
  ['198.18.0.1', 'private'],
  ['::ffff:10.1.2.3', 'private'],
  ['fc00::1', 'private'],
  ['fd12:3456::1', 'private'],
  ['fd00:ec2::253', 'private'],
  ['224.0.0.1', 'multicast'],
  ['255.255.255.255', 'multicast'],
  ['ff02::1', 'multicast'],
  ['8.8.8.8', 'public'],
  ['1.1.1.1', 'public'],
  ['172.15.255.255', 'public'],
  ['172.32.0.1', 'public'],
  ['100.63.255.255', 'public'],
  ['100.128.0.1', 'public'],
  ['169.253.255.255', 'public'],
  ['169.255.0.1', 'public'],
  ['2001:4860:4860::8888', 'public'],
  ['::ffff:8.8.8.8', 'public'],
]

t.test('classifyAddress', async (t) => {
  for (const [address, expected] of classes) {
    t.equal(classifyAddress(address), expected, `${address} is ${expected}`)
  }
})

t.test('classifyAddress refuses what is not an IP address', async (t) => {
  for (const bad of ['', 'localhost', 'example.com', '256.1.1.1', '1.2.3', 'fe80::zz']) {
    t.throws(
      () => classifyAddress(bad),
      { name: 'TypeError', message: `not an IP address: ${bad}` },
      JSON.stringify(bad),
    )
  }
})

t.test('assertAllowed', async (t) => {
  const refusedEverywhere = [
    '169.254.169.254',
    '::ffff:169.254.169.254',
    'fe80::1',
    'fd00:ec2::254',
    '224.0.0.1',
    'ff02::1',
  ]
  t.test('refuses link-local and multicast addresses under every policy', async (t) => {
    for (const address of refusedEverywhere) {
      for (const [name, policy] of [
        ['local', LOCAL_POLICY],
        ['daemon', DAEMON_POLICY],
      ] as const) {
        t.throws(
          () => assertAllowed(address, policy),
          { name: 'AddressRefusedError', code: 'STAMPEDE_ADDRESS_REFUSED', address },
          `${address} (${name})`,
        )
      }
    }
    t.throws(() => assertAllowed('169.254.169.254', LOCAL_POLICY), {
      message:
        'refusing to connect to 169.254.169.254: link-local addresses (the cloud metadata service) are never a target',
    })
    t.throws(() => assertAllowed('224.0.0.1', LOCAL_POLICY), {
      message: 'refusing to connect to 224.0.0.1: multicast and reserved addresses are not HTTP targets',
    })
  })
  t.test('the local policy allows loopback and private targets', async (t) => {
    for (const address of [
      '127.0.0.1',
      '::1',
      '0.0.0.0',
      '10.0.0.1',
      '172.16.0.1',
      '192.168.0.10',
      '100.64.1.1',
      'fc00::1',
    ]) {
      t.doesNotThrow(() => assertAllowed(address, LOCAL_POLICY), address)
    }
  })
  t.test('the daemon policy refuses loopback targets and says how to allow them', async (t) => {
    for (const address of ['127.0.0.1', '::1', '0.0.0.0', '::ffff:127.0.0.1']) {
      t.throws(
        () => assertAllowed(address, DAEMON_POLICY),
        new AddressRefusedError(
          address,
          'loopback targets are not allowed here (operator option: allow loopback)',
        ),
        address,
      )
    }
  })
  t.test('the daemon policy refuses private targets and says how to allow them', async (t) => {
    for (const address of ['10.0.0.1', '172.16.0.1', '192.168.0.10', '100.64.1.1', 'fc00::1']) {
      t.throws(
        () => assertAllowed(address, DAEMON_POLICY),
        new AddressRefusedError(
          address,
          'private-range targets are not allowed here (operator option: allow private)',
        ),
        address,
      )
    }
  })
  t.test('loopback and private are allowed separately', async (t) => {
    const loopbackOnly = { allowLoopback: true, allowPrivate: false }
    t.doesNotThrow(() => assertAllowed('127.0.0.1', loopbackOnly))
    t.throws(() => assertAllowed('10.0.0.1', loopbackOnly), { code: 'STAMPEDE_ADDRESS_REFUSED' })
    const privateOnly = { allowLoopback: false, allowPrivate: true }
    t.doesNotThrow(() => assertAllowed('10.0.0.1', privateOnly))
    t.throws(() => assertAllowed('::1', privateOnly), { code: 'STAMPEDE_ADDRESS_REFUSED' })
  })
  t.test('every policy allows public targets', async (t) => {
    for (const address of ['8.8.8.8', '2001:4860:4860::8888']) {
      t.doesNotThrow(() => assertAllowed(address, DAEMON_POLICY), address)
      t.doesNotThrow(() => assertAllowed(address, LOCAL_POLICY), address)
    }
  })
})
