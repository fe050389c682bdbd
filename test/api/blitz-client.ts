// biome-ignore-all lint/suspicious/noExplicitAny: JSON answers of the API, read field by field
/**
 * A blitz.io API v1 client written only from the description in issue 9 (as blitz's own
 * clients were: JSON bodies labelled as forms, header names in blitz's case, an empty PUT
 * to abort). It knows nothing of Stampede's code.
 */
export class BlitzClient {
  constructor(
    readonly base: string,
    readonly user: string,
    readonly key: string,
  ) {}

  async #request(method: string, path: string, body?: unknown, contentType?: string): Promise<any> {
    const headers: Record<string, string> = { 'X-API-User': this.user, 'X-API-Key': this.key }
    if (contentType) headers['Content-Type'] = contentType
    const response = await fetch(`${this.base}${path}`, {
      method,
      headers,
      ...(body !== undefined && { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    })
    return response.json()
  }

  login(): Promise<{ ok?: boolean; api_key?: string; error?: string }> {
    return this.#request('GET', '/login/api')
  }

  about(): Promise<any> {
    return this.#request('GET', '/api/1/account/about')
  }

  /** blitz's clients post JSON labelled as a form. */
  execute(job: unknown, contentType = 'application/x-www-form-urlencoded'): Promise<any> {
    return this.#request('POST', '/api/1/curl/execute', job, contentType)
  }

  status(id: string): Promise<any> {
    return this.#request('GET', `/api/1/jobs/${id}/status`)
  }

  /** An empty PUT, as the original clients send it. */
  abort(id: string): Promise<any> {
    return this.#request('PUT', `/api/1/jobs/${id}/abort`, '', 'application/json')
  }

  /** Polls until the job is completed; `every` ms between polls (blitz: 2,000). */
  async wait(id: string, every: number): Promise<any> {
    for (;;) {
      const status = await this.status(id)
      if (status.status === 'completed' || status.error) return status
      await new Promise((resolve) => setTimeout(resolve, every))
    }
  }
}

/** Hits per second from a cumulative timeline, as blitz's clients difference it. */
export function hitsPerSecond(timeline: { timestamp: number; executed: number }[]): number[] {
  return timeline.map((point, i) => {
    const before = timeline[i - 1] ?? { timestamp: 0, executed: 0 }
    return (point.executed - before.executed) / (point.timestamp - before.timestamp)
  })
}
