/**
 * Listens on 127.0.0.1. With port 0, an `EADDRINUSE` (the ephemeral range exhausted for a moment,
 * as when a load test on the same machine holds tens of thousands of sockets) is retried a few times.
 */
export async function listenLocal(server: import('node:http').Server, port: number): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject)
        server.listen(port, '127.0.0.1', () => {
          server.off('error', reject)
          resolve()
        })
      })
      return (server.address() as import('node:net').AddressInfo).port
    } catch (error) {
      if (port !== 0 || (error as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt >= 20) throw error
      await new Promise((resolve) => setTimeout(resolve, 50 * attempt))
    }
  }
}
