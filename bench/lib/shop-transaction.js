// The four-step transaction the transaction benchmarks run against bench/targets/shop-server.js:
// a cookie login, a JSON extraction, four requests per iteration.

/** A request of the shop at `base` (its URL without a trailing slash). */
export const shopRequest = (base, path, extra = {}) => ({
  method: 'GET',
  url: `${base}${path}`,
  headers: {},
  timeoutMs: 10_000,
  ...extra,
})

export const shopTransaction = (base) => ({
  steps: [
    {
      name: 'login',
      request: shopRequest(base, '/login', {
        method: 'POST',
        bodyBase64: Buffer.from('u=ann&p=pw').toString('base64'),
      }),
      extract: [
        { from: 'cookie', name: 'session' },
        { from: 'json', path: '$.token', as: 'token' },
      ],
    },
    {
      name: 'list',
      request: shopRequest(base, '/items', { headers: { authorization: 'Bearer #{token}' } }),
      extract: [{ from: 'json', path: '$.items[0].id', as: 'item' }],
    },
    { name: 'item', request: shopRequest(base, '/items/#{item}') },
    { name: 'logout', request: shopRequest(base, '/logout') },
  ],
})
