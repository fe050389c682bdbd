import { EventEmitter } from 'node:events'
import type { OnReadOpts } from 'node:net'
import type { Recorder } from '../../load/recorder.js'
import type { Target } from '../../load/target.js'

/**
 * A socket stand-in for the lean HTTP path's tests (NetExchange, PipelineExchange, the
 * transaction runtime): the test hands it bytes as reads of its own choosing, split where it
 * likes, into the shared read buffer as libuv would.
 */
export class FakeSocket extends EventEmitter {
  written: Buffer[] = []
  destroyed = false
  remoteAddress = '127.0.0.1'
  constructor(
    readonly onread: OnReadOpts,
    /** Fill the buffer's first bytes with 'A' before each read: stale bytes a parser must not read. */
    readonly stale = false,
  ) {
    super()
  }
  write(data: Buffer | string, encoding?: BufferEncoding): boolean {
    this.written.push(typeof data === 'string' ? Buffer.from(data, encoding) : data)
    return true
  }
  cork(): void {}
  uncork(): void {}
  destroy(): this {
    this.destroyed = true
    return this
  }
  /** One read of `bytes`. */
  read(bytes: Buffer): void {
    const buffer = this.onread.buffer as Buffer
    if (this.stale) buffer.fill(0x41, 0, 256)
    bytes.copy(buffer)
    this.onread.callback.call(this as never, bytes.length, buffer)
  }
}

/** A plain-`http:` target whose connections are FakeSockets (kept in `sockets`), the policy allowing all. */
export function fakePlainTarget(options: { stale?: boolean } = {}): {
  target: Target
  sockets: FakeSocket[]
} {
  const sockets: FakeSocket[] = []
  const target = {
    openPlain(onread: OnReadOpts) {
      const socket = new FakeSocket(onread, options.stale)
      sockets.push(socket)
      return socket
    },
    acceptPlain: () => null,
  } as unknown as Target
  return { target, sockets }
}

type Outcome = { hit: number; rx: number } | { error: string; rx: number } | { timeout: true; rx: number }

/** A recorder that keeps what an exchange told it: each request's outcome and the bytes written. */
export function recording() {
  const outcomes: Outcome[] = []
  const wrote: number[] = []
  const recorder = {
    sent() {},
    wrote(_now: number, bytes: number) {
      wrote.push(bytes)
    },
    connected() {},
    hit(_now: number, _latency: number, status: number, rx: number) {
      outcomes.push({ hit: status, rx })
    },
    error(_now: number, kind: string, rx: number) {
      outcomes.push({ error: kind, rx })
    },
    timeout(_now: number, rx: number) {
      outcomes.push({ timeout: true, rx })
    },
  }
  return { outcomes, wrote, recorder: recorder as unknown as Recorder }
}
