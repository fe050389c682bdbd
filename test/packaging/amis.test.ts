import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { bakedImage, STOCK_IMAGE_PARAMETERS, stockImage } from '../../amis/images.js'
import { ROOT } from './binary.js'
import { parseHclBody } from './hcl.js'

const TEMPLATE = join(ROOT, 'amis/engine.pkr.hcl')
const SHA_VARIABLE = ['$', '{var.release_sha256}'].join('')
const has = (tool: string, ...args: string[]) => spawnSync(tool, args).status === 0
const havePacker = has('packer', 'version')

/** Packer 1.6 (Debian's) lacks the blocks marked `>>> … <<<`: they are cut for it, and said so. */
const forPacker16 = (text: string) => text.replace(/ {2}# >>>[\s\S]*? {2}# <<<\n/g, '')

t.test('the stock image is Amazon Linux 2023 by its public SSM parameter', async (t) => {
  t.same(stockImage(), {
    kind: 'stock',
    imageId: 'resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64',
  })
  t.equal(stockImage('arm64').imageId, `resolve:ssm:${STOCK_IMAGE_PARAMETERS.arm64}`)
  t.same(bakedImage('ami-0123456789abcdef0'), { kind: 'baked', imageId: 'ami-0123456789abcdef0' })
  t.throws(() => bakedImage('stampede-latest'), { code: 'STAMPEDE_IMAGE' })
})

t.test(
  'packer validate accepts the template',
  { skip: !havePacker && 'needs packer (apt-get install packer)' },
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'stampede-packer-'))
    t.teardown(() => rmSync(dir, { recursive: true, force: true }))
    const tarball = join(dir, 'release.tar.gz')
    writeFileSync(tarball, 'stand-in')
    const version = spawnSync('packer', ['version'], { encoding: 'utf8' }).stdout.trim()
    const text = readFileSync(TEMPLATE, 'utf8')
    const old = /Packer v1\.[0-6]\./.test(version)
    const template = join(dir, 'engine.pkr.hcl')
    writeFileSync(template, old ? forPacker16(text) : text)
    if (old)
      t.comment(`${version}: validating without the Packer 1.7+ block (imds_support, metadata_options)`)
    const vars = [
      '-var',
      `release_tarball=${tarball}`,
      '-var',
      `release_sha256=${'0'.repeat(64)}`,
      '-var',
      'version=0.1.0',
    ]
    for (const arch of ['x64', 'arm64']) {
      const result = spawnSync('packer', ['validate', ...vars, '-var', `arch=${arch}`, template], {
        encoding: 'utf8',
        env: { ...process.env, CHECKPOINT_DISABLE: '1' },
      })
      t.equal(result.status, 0, `${arch}: ${result.stdout}${result.stderr}`)
    }
    // The check is real: a misspelt setting and a missing variable are refused.
    writeFileSync(template, (old ? forPacker16(text) : text).replace('ssh_username', 'ssh_usrname'))
    t.not(
      spawnSync('packer', ['validate', ...vars, template], {
        env: { ...process.env, CHECKPOINT_DISABLE: '1' },
      }).status,
      0,
      'a misspelt setting fails',
    )
    writeFileSync(template, old ? forPacker16(text) : text)
    t.not(
      spawnSync('packer', ['validate', template], { env: { ...process.env, CHECKPOINT_DISABLE: '1' } })
        .status,
      0,
      'a missing variable fails',
    )
  },
)

t.test('the block Packer 1.6 cannot validate requires IMDSv2, read back from the template', async (t) => {
  const text = readFileSync(TEMPLATE, 'utf8')
  const blocks = [...text.matchAll(/ {2}# >>>.*\n([\s\S]*?) {2}# <<<\n/g)]
  t.equal(blocks.length, 1, 'one block is cut for Packer 1.6')
  const source = /^source "amazon-ebs" "engine" \{\n([\s\S]*?)^\}/m.exec(text)?.[1] ?? ''
  t.ok(source.includes(blocks[0]![0]), 'inside the amazon-ebs source, where the plugin reads it')
  t.same(
    parseHclBody(blocks[0]![1]!),
    {
      imds_support: 'v2.0',
      metadata_options: { http_endpoint: 'enabled', http_tokens: 'required', http_put_response_hop_limit: 1 },
    },
    'IMDSv2 only, endpoint on, hop limit 1: the same as the controller asks of every launch',
  )
  t.equal(forPacker16(text), text.replace(blocks[0]![0], ''), 'the cut removes that block and nothing else')
  // The reader is strict: what it cannot read fails instead of passing unread.
  t.throws(() => parseHclBody('http_tokens = var.tokens'), /not a literal/)
  t.throws(() => parseHclBody('metadata_options {\n http_tokens = "required"\n'), /./)
  t.throws(() => parseHclBody('a = 1\na = 2'), /set twice/)
})

t.test(
  "the image build's shell passes shellcheck",
  { skip: !has('shellcheck', '--version') && 'needs shellcheck' },
  async (t) => {
    const inline = /inline = \[\n([\s\S]*?)\n\s*\]/.exec(readFileSync(TEMPLATE, 'utf8'))
    t.ok(inline, 'the shell provisioner')
    const lines = [...inline![1]!.matchAll(/^\s*"(.*)",?$/gm)].map((m) => JSON.parse(`"${m[1]!}"`) as string)
    const script = `#!/bin/sh\n${lines.join('\n').replace(SHA_VARIABLE, '0'.repeat(64))}\n`
    const check = spawnSync('shellcheck', ['-'], { input: script, encoding: 'utf8' })
    t.equal(check.status, 0, `${script}\n${check.stdout}`)
  },
)
