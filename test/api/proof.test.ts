import { execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { checkDnsProof, proveHost } from '../../api/proof.js'
import { apiPlane, call } from './harness.js'

const LOOPBACK_OK = { policy: { allowLoopback: true, allowPrivate: false }, timeoutMs: 2000 }

/** A site on 127.0.0.1 whose pages the test sets; it counts what it receives. */
async function site(t: { teardown(fn: () => unknown): void }) {
  const pages = new Map<string, { status: number; body?: string; location?: string }>()
  const seen: string[] = []
  const server: Server = createServer((request, response) => {
    seen.push(request.url ?? '')
    const page = pages.get(request.url ?? '') ?? { status: 404, body: 'no' }
    response.writeHead(page.status, page.location ? { location: page.location } : {})
    response.end(page.body ?? '')
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise((resolve) => server.close(resolve)))
  const port = (server.address() as AddressInfo).port
  return { pages, seen, port, target: { scheme: 'http' as const, host: '127.0.0.1', port } }
}

t.test('the HTTP proof: the token file, same-host redirects only, the address policy', async (t) => {
  const s = await site(t)
  s.pages.set('/stampede-tok1.txt', { status: 200, body: 'tok1\n' })
  t.match(await proveHost(s.target, 'tok1', LOOPBACK_OK), { ok: true, method: 'http' })

  s.pages.set('/stampede-tok2.txt', { status: 200, body: 'something else' })
  t.match(await proveHost(s.target, 'tok2', LOOPBACK_OK), {
    ok: false,
    checks: [{ code: 200, error: 'the body is not the token' }],
  })

  s.pages.set('/stampede-tok3.txt', { status: 302, location: '/proofs/tok3' })
  s.pages.set('/proofs/tok3', { status: 200, body: 'tok3' })
  t.match(
    await proveHost(s.target, 'tok3', LOOPBACK_OK),
    { ok: true },
    'a redirect on the same host is followed',
  )

  s.pages.set('/stampede-tok4.txt', { status: 302, location: `http://localhost:${s.port}/proofs/tok4` })
  s.pages.set('/proofs/tok4', { status: 200, body: 'tok4' })
  const before = s.seen.length
  const other = await proveHost(s.target, 'tok4', LOOPBACK_OK)
  t.match(other, { ok: false, checks: [{ code: 302, error: /redirect to another host/ }] })
  t.equal(s.seen.length, before + 1, 'the other host was never asked')

  s.pages.set('/stampede-tok5.txt', { status: 200, body: 'tok5' })
  const strict = await proveHost(s.target, 'tok5', {
    policy: { allowLoopback: false, allowPrivate: false },
    timeoutMs: 2000,
  })
  t.match(strict, {
    ok: false,
    checks: [{ code: 0, error: /refusing to connect to 127\.0\.0\.1: loopback/ }],
  })
  t.notOk(s.seen.includes('/stampede-tok5.txt'), 'refused before connecting')
})

t.test('the DNS proof: a TXT record _stampede.HOST holding the token', async (t) => {
  const records: Record<string, string[][]> = { '_stampede.example.test': [['v=spf1'], ['tok', '6']] }
  const resolveTxt = async (name: string) => {
    const found = records[name]
    if (!found) throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' })
    return found
  }
  const options = { ...LOOPBACK_OK, resolveTxt }
  t.match(await checkDnsProof('example.test', 'tok6', options), {
    code: 200,
    url: 'dns:_stampede.example.test?type=TXT',
  })
  t.match(await checkDnsProof('example.test', 'tok7', options), { code: 404, error: /no TXT record/ })
  t.match(await checkDnsProof('other.test', 'tok6', options), { code: 0, error: 'ENOTFOUND' })
})

t.test(
  'through the API: refused with the instructions, proven, kept for the TTL, checked again after',
  async (t) => {
    let now = Date.now()
    const plane = await apiPlane(t, { api: { clock: () => now, proofTtlMs: 60_000 } })
    const s = await site(t)
    const { key } = await plane.tenant('alice', {}, [])
    const rush = { request: { url: `http://127.0.0.1:${s.port}/` }, pattern: '1:1' }

    const refused = await call(plane.url, 'POST', '/api/v2/rushes', { key, body: rush })
    t.equal(refused.status, 403)
    t.match(refused.body, {
      title: 'Host not proven',
      host: '127.0.0.1',
      port: s.port,
      uuid: /^[0-9a-f]{32}$/,
    })
    t.match(refused.body.checks, [
      { code: 404, url: `http://127.0.0.1:${s.port}/stampede-${refused.body.uuid}.txt` },
    ])
    const token = refused.body.uuid as string

    const hosts = await call(plane.url, 'GET', '/api/v2/hosts', { key })
    t.match(hosts.body.hosts, [{ host: '127.0.0.1', token, proven: false }])

    s.pages.set(`/stampede-${token}.txt`, { status: 200, body: token })
    const verified = await call(plane.url, 'POST', '/api/v2/hosts/127.0.0.1/verify', {
      key,
      body: { port: s.port },
    })
    t.match(verified.body, { host: '127.0.0.1', proven: true, provenBy: 'http' })
    t.equal(
      (await call(plane.url, 'POST', '/api/v2/rushes', { key, body: rush })).status,
      201,
      'accepted once proven',
    )

    s.pages.delete(`/stampede-${token}.txt`)
    const asked = s.seen.length
    now += 30_000
    t.equal(
      (await call(plane.url, 'POST', '/api/v2/rushes', { key, body: rush })).status,
      201,
      'within the TTL',
    )
    t.equal(s.seen.length, asked, 'no check within the TTL')
    now += 31_000
    const expired = await call(plane.url, 'POST', '/api/v2/rushes', { key, body: rush })
    t.equal(expired.status, 403, 'checked again after the TTL, and gone')
    t.equal(s.seen.length, asked + 1)

    const other = await plane.tenant('bob', {}, [])
    const theirs = await call(plane.url, 'POST', '/api/v2/rushes', { key: other.key, body: rush })
    t.equal(theirs.status, 403, "one tenant's proof is not another's")
    t.not(theirs.body.uuid, token, 'each tenant has its own token')
  },
)

function isolationAvailable(): boolean {
  try {
    execFileSync('unshare', ['-n', '-m', 'true'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

const API = fileURLToPath(new URL('../../dist/api/main.js', import.meta.url))

t.test(
  'inside a network namespace: link-local names, literals and redirects are refused before any connect',
  { skip: isolationAvailable() ? false : 'needs unshare (root)' },
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'stampede-proof-'))
    const hosts = join(dir, 'hosts')
    writeFileSync(
      hosts,
      '127.0.0.1 localhost site.test\n169.254.169.254 metadata.test\nfe80::1 metadata6.test\n',
    )
    // A site inside the namespace that redirects to the metadata service, by name and by address.
    const server = join(dir, 'site.mjs')
    writeFileSync(
      server,
      `import { createServer } from 'node:http'
createServer((q, r) => {
  const to = q.url.includes('byname') ? 'http://metadata.test/latest/' : 'http://169.254.169.254/latest/'
  r.writeHead(302, { location: q.url.startsWith('/stampede-') ? to : '/' }); r.end()
}).listen(8080, '127.0.0.1', () => process.stdout.write('up\\n'))`,
    )
    const script = [
      `mount --bind ${hosts} /etc/hosts`,
      'ip link set lo up',
      `${process.execPath} ${server} > ${dir}/site.log 2>&1 & site=$!`,
      `until grep -q up ${dir}/site.log 2>/dev/null; do sleep 0.05; done`,
      `for url in http://169.254.169.254/ http://metadata.test/ 'http://[fe80::1]/' http://metadata6.test/ 'http://[::ffff:169.254.169.254]/' http://site.test:8080/; do ${process.execPath} ${API} prove "$url" --token byaddr --allow-loopback --allow-private; echo "exit $?"; done`,
      `${process.execPath} ${API} prove http://site.test:8080/ --token byname --allow-loopback; echo "exit $?"`,
      `${process.execPath} ${API} prove http://site.test:8080/ --token byname; echo "exit $?"`,
      'kill $site',
    ].join('\n')
    const output = await new Promise<string>((resolve, reject) => {
      const child = spawn('unshare', ['-n', '-m', 'sh', '-c', script], { stdio: ['ignore', 'pipe', 'pipe'] })
      let out = ''
      child.stdout.on('data', (chunk) => (out += chunk))
      child.stderr.on('data', (chunk) => (out += chunk))
      child.on('error', reject)
      child.on('close', () => resolve(out))
    })
    const results = output
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line))
    const exits = output.split('\n').filter((line) => line.startsWith('exit '))
    t.equal(results.length, 8, `eight checks ran${results.length === 8 ? '' : `: ${output}`}`)
    t.same(exits, Array(8).fill('exit 1'), 'no proof passes')
    for (const [i, what] of [
      'IPv4 literal',
      'a name',
      'IPv6 literal',
      'an IPv6 name',
      'a mapped literal',
    ].entries()) {
      t.match(results[i].checks[0], { code: 0, error: /link-local/ }, `${what}: refused as link-local`)
    }
    t.match(results[5].checks[0], {
      code: 302,
      error: /redirect to another host \(169\.254\.169\.254\) refused/,
    })
    t.match(results[6].checks[0], { code: 302, error: /redirect to another host \(metadata\.test\) refused/ })
    t.match(results[7].checks[0], { code: 0, error: /loopback/ }, 'loopback only where the operator allows')
  },
)
