import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { FlowView } from './core.js';
import type { EdgeStats } from './stats.js';

export const LOOPBACK = '127.0.0.1';

export interface EdgeServerSources {
  registry: Registry;
  stats: () => EdgeStats;
  flows: () => FlowView[];
}

export interface EdgeServer {
  readonly port: number;
  readonly url: string;
  close(): Promise<void>;
}

/**
 * The edge's loopback HTTP server: `/metrics` (Prometheus), `/stats` and
 * `/flows` (JSON, for the CLI). Bound to 127.0.0.1 only: it has no
 * authentication, and the flow table names every connection. Port 0 picks a
 * free port (tests).
 */
export async function startEdgeServer(port: number, sources: EdgeServerSources): Promise<EdgeServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const json = (value: unknown) => {
      const body = JSON.stringify(value);
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
      res.end(body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    try {
      if (path === '/metrics') {
        sources.registry.metrics().then(
          (text) => {
            res.writeHead(200, { 'content-type': sources.registry.contentType });
            res.end(text);
          },
          (err: unknown) => {
            res.writeHead(500, { 'content-type': 'text/plain' }).end(`${String(err)}\n`);
          },
        );
      } else if (path === '/stats') {
        json(sources.stats());
      } else if (path === '/flows') {
        json(sources.flows());
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics, /stats or /flows\n');
      }
    } catch (err) {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`${String(err)}\n`);
    }
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, LOOPBACK, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = (server.address() as AddressInfo).port;
  return {
    port: bound,
    url: `http://${LOOPBACK}:${bound}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
