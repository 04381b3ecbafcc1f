// A load balancer in front of several replicas, as an ingress would be: one issuer address, and each request
// sent to the replica the test picks (one of them, or each in turn), so a flow can hop between replicas.
import { createServer, request, type Server } from 'node:http';
import { freePort } from './server.js';

export interface Balancer {
  issuer: string;
  /** Replica ports; `route` picks among them: an index, or 'alternate' for each in turn. */
  replicas: number[];
  route: number | 'alternate';
  /** Which replica served each request so far (indexes into replicas). */
  served: number[];
  close(): Promise<void>;
}

export async function startBalancer(): Promise<Balancer> {
  const port = await freePort();
  let turn = 0;
  const balancer: Balancer = {
    issuer: `http://localhost:${port}`,
    replicas: [],
    route: 'alternate',
    served: [],
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
  const server: Server = createServer((req, res) => {
    const index = balancer.route === 'alternate' ? turn++ % balancer.replicas.length : balancer.route;
    balancer.served.push(index);
    const upstream = request({ host: '127.0.0.1', port: balancer.replicas[index], method: req.method, path: req.url, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode!, answer.rawHeaders);
      answer.pipe(res);
    });
    upstream.once('error', (error) => {
      res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`replica ${index} failed: ${error.message}`);
    });
    req.pipe(upstream);
  });
  // Routed per request, not per connection: a keep-alive connection does not pin a client to one replica.
  await new Promise<void>((resolve) => server.listen(port, resolve));
  return balancer;
}
