/**
 * The HTTP side of metrics: `GET /metrics` in Prometheus' text format (celery-exporter's endpoint),
 * `GET /health`, and `/` (a link to /metrics), on node:http.
 *
 * A port already in use (or not allowed) is a {@link MetricsServerError} with one clear line and
 * `exitCode` 69 (EX_UNAVAILABLE: the service cannot be offered), never a crash.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

/** `EX_UNAVAILABLE` (sysexits.h), what `celeriac worker --metrics-port` / `celeriac exporter` exit with. */
export const EX_UNAVAILABLE = 69;

export class MetricsServerError extends Error {
  override name = 'MetricsServerError';
  readonly exitCode = EX_UNAVAILABLE;
}

export interface MetricsServerOptions {
  registry: Registry;
  port: number;
  /** @default '0.0.0.0' (celery-exporter's `--host`) */
  host?: string;
  /** Run before each scrape (the exporter reads queue lengths and times out workers); a throw is a 500. */
  beforeScrape?: () => Promise<void> | void;
  /** `/health`: resolves with the text of a healthy answer, throws for a 500. @default 'OK' */
  health?: () => Promise<string> | string;
  /** Scrape failures. @default nothing */
  onError?: (err: Error) => void;
}

export interface MetricsServer {
  /** `http://host:port/metrics`. */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

const INDEX = `<!doctype html>
<html lang="en">
  <head><meta charset="utf-8"><title>celeriac metrics</title></head>
  <body><h1>celeriac metrics</h1><p><a href="/metrics">Metrics</a></p></body>
</html>
`;

/** Listens; rejects with a {@link MetricsServerError} when the address cannot be had. */
export async function serveMetrics(o: MetricsServerOptions): Promise<MetricsServer> {
  const host = o.host ?? '0.0.0.0';
  const server = createServer((req, res) => void handle(o, req, res));
  await listen(server, o.port, host);
  const port = (server.address() as AddressInfo).port;
  const shown = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shown === '0.0.0.0' ? '127.0.0.1' : shown}:${port}/metrics`,
    port,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections?.();
    }),
  };
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      server.off('listening', onListening);
      const where = `${host.includes(':') ? `[${host}]` : host}:${port}`;
      const why = err.code === 'EADDRINUSE' ? `port ${port} is already in use (${where}): stop what holds it or choose another port`
        : err.code === 'EACCES' ? `not allowed to listen on ${where} (ports below 1024 need privileges)`
          : err.code === 'EADDRNOTAVAIL' || err.code === 'ENOTFOUND' ? `no such local address: ${host}`
            : `cannot listen on ${where}: ${err.message}`;
      reject(new MetricsServerError(`metrics: ${why}`, { cause: err }));
    };
    const onListening = () => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, host);
  });
}

async function handle(o: MetricsServerOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = (req.url ?? '/').split('?', 1)[0];
  try {
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain', 'Method Not Allowed\n');
    if (path === '/metrics') {
      try {
        await o.beforeScrape?.();
      } catch (err) {
        o.onError?.(err as Error);
        return send(res, 500, 'text/plain', `Failed to scrape metrics: ${(err as Error)?.message ?? String(err)}\n`);
      }
      return send(res, 200, o.registry.contentType, await o.registry.metrics());
    }
    if (path === '/health') {
      try {
        return send(res, 200, 'text/plain', `${o.health ? await o.health() : 'OK'}\n`);
      } catch (err) {
        return send(res, 500, 'text/plain', `${(err as Error)?.message ?? String(err)}\n`);
      }
    }
    if (path === '/') return send(res, 200, 'text/html; charset=utf-8', INDEX);
    return send(res, 404, 'text/plain', 'Not Found\n');
  } catch (err) {
    o.onError?.(err as Error);
    if (!res.headersSent) send(res, 500, 'text/plain', 'Internal Server Error\n');
    else res.end();
  }
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}
