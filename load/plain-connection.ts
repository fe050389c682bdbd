import type { Socket } from 'node:net'
import type { ExchangeContext } from './exchange.js'

/**
 * Every lean socket of the process reads into this one buffer (`onread`): a response is
 * parsed in the read callback, before the next read can land, so nothing is kept from it
 * but the few bytes of a response head split over two reads. No Buffer, stream chunk or
 * 'data' event per read.
 */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024)

/**
 * The lean path's connection, shared by the one-request exchange (NetExchange) and the
 * pipelined one (PipelineExchange): it opens the socket, checks the address policy on the
 * connected socket (`target.acceptPlain`) before anything is written, and hands the
 * socket's reads and ends to the exchange. Events of a socket the exchange has dropped
 * (or replaced) are ignored.
 */
export abstract class PlainConnection {
  protected readonly context: ExchangeContext
  protected socket: Socket | null = null
  /** The socket's connection is up and accepted by the policy. */
  protected open = false
  #connectStarted = 0

  constructor(context: ExchangeContext) {
    this.context = context
  }

  /** Bytes read into `buf[0, n)` from the current socket. */
  protected abstract read(buf: Buffer, n: number, socket: Socket): void
  /** The connection is up and the policy accepted it. */
  protected abstract accepted(): void
  /** The socket failed or the policy refused it; `connected` says whether it was up. */
  protected abstract failed(err: Error, connected: boolean): void
  /** The other side ended the connection, or it closed. */
  protected abstract ended(): void

  protected connect(): void {
    this.#connectStarted = performance.now()
    const socket = this.context.target.openPlain({
      buffer: READ_BUFFER,
      callback: (nread: number, buf: Uint8Array) => {
        if (socket === this.socket) this.read(buf as Buffer, nread, socket)
        return true
      },
    })
    this.socket = socket
    socket.on('connect', () => {
      if (socket !== this.socket) return
      const refusal = this.context.target.acceptPlain(socket, this.#connectStarted)
      if (refusal) {
        this.failed(refusal, false)
        return
      }
      this.open = true
      this.accepted()
    })
    socket.on('error', (err) => {
      if (socket === this.socket) this.failed(err, this.open)
    })
    socket.on('end', () => {
      if (socket === this.socket) this.ended()
    })
    socket.on('close', () => {
      if (socket === this.socket) this.ended()
    })
  }

  /**
   * Writes a request's bytes on the socket: a Buffer, or a latin1 string (one character per
   * byte), which Node writes straight from the string, without a Buffer in between.
   */
  protected writeWire(wire: Buffer | string): void {
    if (typeof wire === 'string') this.socket!.write(wire, 'latin1')
    else this.socket!.write(wire)
  }

  /** Forgets the socket (its late events are ignored) and destroys it. */
  protected drop(): void {
    const socket = this.socket
    this.socket = null
    this.open = false
    socket?.destroy()
  }
}
