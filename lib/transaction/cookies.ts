/**
 * A user's cookie jar: name → value, kept across steps and iterations. One jar per user
 * and a transaction's steps usually share one site, so the jar ignores Domain and Path
 * (docs/transactions.md says so); `Max-Age=0` or an `Expires` in the past removes a cookie.
 */
export class CookieJar {
  readonly #cookies = new Map<string, string>()
  /** The header text, built once per change of the jar, not per request. */
  #header: string | undefined
  #stale = false

  get size(): number {
    return this.#cookies.size
  }

  get(name: string): string | undefined {
    return this.#cookies.get(name)
  }

  set(name: string, value: string): void {
    this.#cookies.set(name, value)
    this.#stale = true
  }

  /** Takes one `Set-Cookie` value; returns the cookie's name (undefined if malformed). */
  receive(setCookie: string, nowMs: number): string | undefined {
    const semi = setCookie.indexOf(';')
    const pair = semi < 0 ? setCookie : setCookie.slice(0, semi)
    const eq = pair.indexOf('=')
    if (eq <= 0) return undefined
    const name = pair.slice(0, eq).trim()
    let value = pair.slice(eq + 1).trim()
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1)
    if (name === '') return undefined
    if (semi >= 0 && expired(setCookie.slice(semi + 1), nowMs)) {
      if (this.#cookies.delete(name)) this.#stale = true
    } else if (this.#cookies.get(name) !== value) {
      // A cookie set again to the value it has (a session renewed) leaves the header as it is.
      this.#cookies.set(name, value)
      this.#stale = true
    }
    return name
  }

  /** The `cookie` header to send, or undefined when the jar is empty. */
  header(): string | undefined {
    if (!this.#stale) return this.#header
    this.#stale = false
    if (this.#cookies.size === 0) this.#header = undefined
    else {
      let out = ''
      for (const [name, value] of this.#cookies) out += out === '' ? `${name}=${value}` : `; ${name}=${value}`
      this.#header = out
    }
    return this.#header
  }

  clear(): void {
    this.#cookies.clear()
    this.#header = undefined
    this.#stale = false
  }
}

/** Attributes that can expire a cookie (most Set-Cookie values have neither: no split then). */
const EXPIRY = /max-age|expires/i

function expired(attributes: string, nowMs: number): boolean {
  if (!EXPIRY.test(attributes)) return false
  for (const raw of attributes.split(';')) {
    const eq = raw.indexOf('=')
    const key = (eq < 0 ? raw : raw.slice(0, eq)).trim().toLowerCase()
    const value = eq < 0 ? '' : raw.slice(eq + 1).trim()
    if (key === 'max-age' && /^-?\d+$/.test(value)) return Number(value) <= 0
    if (key === 'expires') {
      const at = Date.parse(value)
      if (!Number.isNaN(at) && at <= nowMs) return true
    }
  }
  return false
}
