import { createServer, type Server, type Socket } from 'node:net'
import t from 'tap'
import { LOCAL_POLICY } from '../../load/safety.js'
import { prepareTarget } from '../../load/target.js'

async function listen(server: Server, host: string, port: number): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => resolve())
  })
  return (server.address() as { port: number }).port
}

t.test('connections spread round-robin over every address the name has', async (t) => {
  const hosts = ['127.0.0.1', '127.0.0.2', '127.0.0.3']
  const accepted = new Map<string, number>()
  const servers = hosts.map((host) =>
    createServer((socket) => {
      accepted.set(host, (accepted.get(host) ?? 0) + 1)
      socket.on('error', () => {})
    }),
  )
  const port = await listen(servers[0]!, hosts[0]!, 0)
  for (const [i, server] of servers.entries()) if (i > 0) await listen(server, hosts[i]!, port)
  t.teardown(() => {
    for (const server of servers) server.close()
  })

  const target = await prepareTarget(
    {
      method: 'GET',
      url: `http://spread.test:${port}/`,
      headers: {},
      timeoutMs: 1000,
      resolve: { 'spread.test': hosts },
    },
    LOCAL_POLICY,
  )
  const sockets: Socket[] = []
  for (let i = 0; i < 9; i++) {
    const socket = await new Promise<Socket>((resolve, reject) => {
      target.connect(
        {
          hostname: 'spread.test',
          host: `spread.test:${port}`,
          protocol: 'http:',
          port: String(port),
        } as never,
        (err, socket) => (err ? reject(err) : resolve(socket as Socket)),
      )
    })
    sockets.push(socket)
  }
  const remotes = sockets.map((socket) => socket.remoteAddress)
  for (const socket of sockets) socket.destroy()
  for (const host of hosts)
    t.equal(remotes.filter((remote) => remote === host).length, 3, `3 connections to ${host}`)
})
