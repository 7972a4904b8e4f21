/**
 * Opening an AMQP connection with amqplib the way kombu's pyamqp transport does: heartbeat from
 * `broker_heartbeat` (Celery's default 120 s; the URL's `?heartbeat=` wins), TLS from `amqps://` /
 * `broker_use_ssl`, a connect timeout, and the `;` failover list tried in turn (kombu round-robin).
 * Every failure is a {@link BrokerConnectionError} naming the safe URL (never the password).
 *
 * Also kombu's reconnect schedule: {@link reconnectIntervals} (`ensure_connection`: 2 s, +2 s each
 * retry, at most 30 s) and the `broker_connection_*` settings.
 */
import amqplib, { type ChannelModel } from 'amqplib';
import { BrokerConnectionError } from '../errors.ts';
import { installLenientHeaderFrames } from './frames.ts';
import { tlsSocketOptions, type AmqpEndpoint } from './url.ts';

export interface ConnectSettings {
  /** Seconds; 0 disables. */
  heartbeat: number;
  /** Seconds; 0 = no limit. */
  connectTimeout: number;
  useSsl: unknown;
  /** Shown to RabbitMQ (management UI "client properties"). */
  clientName?: string;
}

/** Opens a connection to one endpoint. */
export async function openConnection(ep: AmqpEndpoint, s: ConnectSettings): Promise<ChannelModel> {
  installLenientHeaderFrames();
  const heartbeat = Math.round(ep.heartbeat ?? s.heartbeat);
  const timeoutSeconds = ep.connectTimeout ?? s.connectTimeout;
  const socketOptions: Record<string, unknown> = {
    ...tlsSocketOptions(s.useSsl, ep),
    clientProperties: { product: 'celeriac', connection_name: s.clientName ?? 'celeriac' },
    // py-amqp sets TCP_NODELAY (amqp/transport.py KNOWN_TCP_OPTS defaults); amqplib leaves Nagle on,
    // which holds small frames (acks, publishes) back until the previous segment is acknowledged
    noDelay: true,
  };
  if (timeoutSeconds > 0) socketOptions.timeout = Math.round(timeoutSeconds * 1000);
  const options = {
    protocol: ep.protocol,
    hostname: ep.hostname,
    port: ep.port,
    username: ep.username,
    password: ep.password,
    // amqplib unescapes the vhost it is given (querystring.unescape): escape it so a '%' in it survives
    vhost: encodeURIComponent(ep.vhost),
    heartbeat,
    ...(ep.frameMax !== undefined ? { frameMax: ep.frameMax } : {}),
  };
  try {
    return await amqplib.connect(options, socketOptions);
  } catch (err) {
    const e = err as Error & { code?: string };
    const msg = e.message.includes(ep.password) && ep.password ? e.message.split(ep.password).join('**') : e.message;
    const why = describeTlsError(msg, e.code);
    throw new BrokerConnectionError(`cannot connect to the AMQP broker ${ep.safeUrl}: ${why}`, { cause: err });
  }
}

/** OpenSSL's "…:SSL routines:fn:reason:file:line…" reduced to its reason, with what to check. */
export function describeTlsError(message: string, code?: string): string {
  const m = /SSL routines:[^:]*:([^:]+):/.exec(message);
  let why = m ? `TLS handshake failed: ${m[1]}` : message.trim();
  if (/certificate required/i.test(why) || code === 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED') {
    why += ' (the broker requires a client certificate: broker_use_ssl certfile/keyfile)';
  } else if (/self[- ]signed certificate|unable to verify the first certificate|unable to get local issuer/i.test(why)) {
    why += " (the broker's certificate is not signed by a CA in broker_use_ssl ca_certs)";
  } else if (/bad certificate|unknown ca/i.test(why)) {
    why += ' (the broker refused the client certificate: broker_use_ssl certfile/keyfile)';
  }
  return why;
}

/** Tries each endpoint once, starting at `start`; resolves with the connection and the endpoint index. */
export async function openFailover(eps: AmqpEndpoint[], start: number, s: ConnectSettings): Promise<{ conn: ChannelModel; index: number }> {
  let last: unknown;
  for (let i = 0; i < eps.length; i++) {
    const index = (start + i) % eps.length;
    try {
      return { conn: await openConnection(eps[index]!, s), index };
    } catch (err) {
      last = err;
    }
  }
  throw last;
}

/** kombu `ensure_connection` intervals (interval_start=2, interval_step=2, interval_max=30), in ms. */
export function* reconnectIntervals(startMs = 2000, stepMs = 2000, maxMs = 30_000): Generator<number> {
  let cur = startMs;
  for (;;) {
    yield Math.min(cur, maxMs);
    cur += stepMs;
  }
}

export interface RetrySettings {
  /** `broker_connection_retry`. */
  retry: boolean;
  /** `broker_connection_retry_on_startup` (null: follows `retry`). */
  retryOnStartup: boolean | null;
  /** `broker_connection_max_retries` (null: forever; 0: no retry, as kombu's `retry_over_time`). */
  maxRetries: number | null;
  /** First wait, ms (tests shorten it). @default 2000 */
  intervalStartMs?: number;
  intervalStepMs?: number;
  intervalMaxMs?: number;
}
