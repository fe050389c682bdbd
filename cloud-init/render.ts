import { isRegionName } from '../lib/couch/names.js'
import { StampedeError } from '../lib/errors.js'

/**
 * The user-data an engine instance boots from, rendered per region by the controller at
 * launch. Pure: options in, text out, nothing read or fetched.
 *
 * - `stock` image (Amazon Linux 2023 as published): fetch the release tarball (a presigned
 *   HTTPS URL, or `s3://` with the instance role), check its SHA-256, run its install.sh
 *   (binary, unit, pre-start step, kernel settings), write the configuration, enable and
 *   start the engine.
 * - `baked` image (amis/engine.pkr.hcl: all of that already installed): write the
 *   configuration, enable and start.
 *
 * The configuration names the region's CouchDB and the SSM parameter that holds the
 * credentials; never the credentials (anything on the instance can read user-data back).
 */
export type ImageKind = 'stock' | 'baked'

export interface ReleaseSource {
  /** The release tarball (`npm run package`): `https://…` (presigned) or `s3://bucket/key`. */
  url: string
  /** Its SHA-256, hex (the `.sha256` file beside it). */
  sha256: string
}

export interface UserDataOptions {
  image: ImageKind
  region: string
  /** This region's CouchDB, without credentials. */
  couchUrl: string
  /** Name (or ARN) of the SSM SecureString parameter holding the CouchDB credentials. */
  credentialsParameter: string
  /** Database name prefix; the engine's default when absent. */
  prefix?: string
  /** Required for the stock image. */
  release?: ReleaseSource
  /** More engine settings, by environment name (`STAMPEDE_CAPACITY`: '50000', …). */
  settings?: Record<string, string>
}

/** EC2 refuses user-data over 16 KB (before base64). */
export const USER_DATA_LIMIT = 16 * 1024

export const ENGINE_ENV_PATH = '/etc/stampede/engine.env'
export const FETCH_RELEASE_PATH = '/usr/local/lib/stampede-engine/fetch-release'

/** Fetches the release, checks its SHA-256 and runs its installer. Shell: passes shellcheck (tested). */
export const FETCH_RELEASE_SCRIPT = `#!/bin/bash
# Fetches the Stampede engine release, checks its SHA-256 and runs its install.sh.
# Usage: fetch-release URL SHA256   (URL: https://… or s3://bucket/key)
set -euo pipefail
url=$1
sha256=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tarball=$work/release.tar.gz
case $url in
  s3://*) aws s3 cp --only-show-errors "$url" "$tarball" ;;
  https://* | http://*) curl -fsS --retry 10 --retry-connrefused --max-time 600 -o "$tarball" "$url" ;;
  *)
    echo "fetch-release: unsupported URL: $url" >&2
    exit 1
    ;;
esac
if ! echo "$sha256  $tarball" | sha256sum --check --quiet --strict - >/dev/null 2>&1; then
  echo "fetch-release: SHA-256 mismatch for $url (expected $sha256)" >&2
  exit 1
fi
tar -xzf "$tarball" -C "$work" --no-same-owner
installers=("$work"/stampede-engine-*/install.sh)
[ -x "\${installers[0]}" ] || {
  echo "fetch-release: no stampede-engine-*/install.sh in the release" >&2
  exit 1
}
"\${installers[0]}"
`

const SSM_NAME = /^(arn:aws[a-z-]*:ssm:[a-z0-9-]+:\d{12}:parameter)?\/?[A-Za-z0-9_.\-/]{1,1011}$/
const SHA256 = /^[0-9a-f]{64}$/
const SETTING = /^STAMPEDE_[A-Z0-9_]+$/
/** What an environment-file value may hold unquoted: URLs, names, numbers. */
const PLAIN_VALUE = /^[A-Za-z0-9_.,:/@%+=?&~-]*$/
/** Settings that would carry or redirect secrets: never in user-data. */
const FORBIDDEN = new Set([
  'STAMPEDE_COUCH_USER',
  'STAMPEDE_COUCH_PASSWORD',
  'STAMPEDE_COUCH_CREDENTIALS_FILE',
  'STAMPEDE_COUCH_CREDENTIALS_SOURCE',
])

function invalid(message: string): never {
  throw new StampedeError('STAMPEDE_USER_DATA', `user-data: ${message}`)
}

/** The engine's environment file, checked. */
export function engineEnv(options: UserDataOptions): string {
  const { region, couchUrl, credentialsParameter } = options
  if (!isRegionName(region)) invalid(`invalid region "${region}"`)
  let url: URL
  try {
    url = new URL(couchUrl)
  } catch {
    invalid(`invalid CouchDB URL "${couchUrl}"`)
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') invalid('the CouchDB URL must be http(s)')
  if (url.username || url.password)
    invalid('the CouchDB URL must not carry credentials: name an SSM parameter instead')
  if (!SSM_NAME.test(credentialsParameter) || credentialsParameter.includes('//')) {
    invalid(
      `"${credentialsParameter}" is not an SSM parameter name (the name goes in user-data, never the credentials)`,
    )
  }
  const settings: [string, string][] = [
    ['STAMPEDE_COUCH_URL', couchUrl.replace(/\/+$/, '')],
    ['STAMPEDE_REGION', region],
    ['STAMPEDE_IDENTITY', 'imds'],
    ['STAMPEDE_COUCH_CREDENTIALS_SSM', credentialsParameter],
  ]
  if (options.prefix !== undefined) settings.push(['STAMPEDE_DB_PREFIX', options.prefix])
  for (const [key, value] of Object.entries(options.settings ?? {})) {
    if (!SETTING.test(key)) invalid(`setting "${key}" is not a STAMPEDE_* name`)
    if (FORBIDDEN.has(key)) invalid(`${key} would put credentials in user-data: use credentialsParameter`)
    if (settings.some(([known]) => known === key)) invalid(`${key} is set by its own option`)
    settings.push([key, value])
  }
  for (const [key, value] of settings) {
    if (!PLAIN_VALUE.test(value))
      invalid(`${key}: value "${value}" has characters an environment file would need quoted`)
  }
  return settings.map(([key, value]) => `${key}=${value}\n`).join('')
}

const quote = (text: string) => JSON.stringify(text)

/** A `|` block scalar, indented under its key. */
function block(text: string, indent: string): string {
  return `|\n${text
    .replace(/\n$/, '')
    .split('\n')
    .map((line) => (line ? `${indent}${line}` : ''))
    .join('\n')}\n`
}

function writeFile(path: string, permissions: string, content: string): string {
  return [
    `  - path: ${path}`,
    '    owner: root:root',
    `    permissions: ${quote(permissions)}`,
    `    content: ${block(content, '      ')}`,
  ].join('\n')
}

/** A runcmd entry as an argv list (never a shell string), one item per line. */
function argv(args: string[]): string {
  return args.map((arg, i) => `${i === 0 ? '  - - ' : '    - '}${quote(arg)}`).join('\n')
}

/** The user-data for one launch; throws STAMPEDE_USER_DATA on a bad option or when over 16 KB. */
export function renderUserData(options: UserDataOptions): string {
  const env = engineEnv(options)
  const files = [writeFile(ENGINE_ENV_PATH, '0644', env)]
  const runcmd: string[] = []
  if (options.image === 'stock') {
    const release = options.release ?? invalid('the stock image needs release: {url, sha256}')
    if (!/^(https:\/\/|s3:\/\/)[^\s]+$/.test(release.url))
      invalid('release.url must be https://… (presigned) or s3://bucket/key')
    if (!SHA256.test(release.sha256)) invalid('release.sha256 must be 64 hex digits')
    files.push(writeFile(FETCH_RELEASE_PATH, '0755', FETCH_RELEASE_SCRIPT))
    runcmd.push(argv([FETCH_RELEASE_PATH, release.url, release.sha256]))
  } else if (options.image === 'baked') {
    if (options.release) invalid('the baked image has its release built in: no release option')
  } else {
    invalid(`image must be stock or baked, not "${String(options.image)}"`)
  }
  runcmd.push(argv(['systemctl', 'enable', '--now', 'stampede-engine.service']))
  const text = [
    '#cloud-config',
    `# Stampede engine (${options.image} image) in ${options.region}: rendered by the controller.`,
    'write_files:',
    ...files,
    'runcmd:',
    ...runcmd,
    '',
  ]
    .join('\n')
    .replace(/\n\n+(?= {2}- |runcmd:)/g, '\n')
  const size = Buffer.byteLength(text)
  if (size > USER_DATA_LIMIT) invalid(`${size} bytes, over EC2's ${USER_DATA_LIMIT}-byte limit`)
  return text
}
