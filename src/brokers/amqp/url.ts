/**
 * AMQP broker URLs with kombu's rules (`kombu.utils.url.parse_url`, `kombu.transport.pyamqp`):
 *
 *   amqp://user:pass@host:5672//      vhost "/"
 *   amqp://user:pass@host:5672/       vhost "/" (an empty vhost means the default)
 *   amqp://host/foo                   vhost "foo" (the path, percent-decoded, without its first "/")
 *   amqps://host                      TLS, port 5671
 *   pyamqp://, librabbitmq://         the same as amqp:// (kombu's aliases)
 *   amqp://a//;amqp://b//             failover: the connection tries them in turn (kombu round-robin)
 *
 * Defaults are kombu's: user `guest`, password `guest`, host `localhost`, port 5672 (5671 with TLS).
 * Query parameters kombu reads: `ssl` (true/1), `heartbeat`, `connect_timeout`, `frame_max`.
 * TLS options come from `broker_use_ssl` (kombu's dict: `ca_certs`, `certfile`, `keyfile`, `cert_reqs`,
 * `server_hostname`). {@link safeUrlOf} never contains the password.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { ConfigurationError } from '../../errors.ts';

/** One broker endpoint, as amqplib's `connect(options, socketOptions)` wants it. */
export interface AmqpEndpoint {
  protocol: 'amqp' | 'amqps';
  hostname: string;
  port: number;
  username: string;
  password: string;
  vhost: string;
  /** From the URL query, if given (else the `broker_heartbeat` setting). */
  heartbeat?: number;
  frameMax?: number;
  connectTimeout?: number;
  /** The URL without its password. */
  safeUrl: string;
}

const SCHEMES = new Set(['amqp', 'amqps', 'pyamqp', 'librabbitmq']);

/** Whether `url` names an AMQP broker (the first URL of a `;` failover list decides). */
export function isAmqpUrl(url: string): boolean {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url.trim())?.[1]?.toLowerCase();
  return scheme !== undefined && SCHEMES.has(scheme);
}

/**
 * `amqp://user:**@host:5672//`: the password is replaced by `**`, as kombu's `maybe_sanitize_url`
 * (in every URL of a `;` failover list).
 */
export function safeUrlOf(url: string): string {
  return url
    .split(';')
    .map((part) => part.replace(/^(\s*[a-z][a-z0-9+.-]*:\/\/)([^:@/]*):([^@/]*)@/i, (_m, s: string, u: string) => `${s}${u}:**@`))
    .join(';');
}

function truthy(v: string): boolean {
  return ['1', 'true', 'yes', 'on', 'y'].includes(v.toLowerCase());
}

/** Parse one AMQP URL (see the module notes); `useSsl` is the `broker_use_ssl` setting. */
export function parseAmqpUrl(url: string, useSsl: unknown = false): AmqpEndpoint {
  const safe = safeUrlOf(url.trim());
  const m = /^([a-z][a-z0-9+.-]*):\/\/(?:([^:@/]*)(?::([^@/]*))?@)?(\[[^\]]+\]|[^:/?]*)(?::(\d*))?(\/[^?]*)?(?:\?(.*))?$/i.exec(url.trim());
  if (!m) throw new ConfigurationError(`invalid AMQP broker URL ${safe}: expected amqp://user:password@host:port/vhost`);
  const scheme = m[1]!.toLowerCase();
  if (!SCHEMES.has(scheme)) throw new ConfigurationError(`not an AMQP broker URL: ${safe} (schemes: amqp, amqps, pyamqp)`);
  const query = new URLSearchParams(m[7] ?? '');
  const tls = scheme === 'amqps' || (query.has('ssl') && truthy(query.get('ssl')!)) || (useSsl !== false && useSsl !== null && useSsl !== undefined);
  let port = tls ? 5671 : 5672;
  if (m[5]) {
    port = Number(m[5]);
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new ConfigurationError(`invalid port in AMQP broker URL ${safe}`);
  }
  const decode = (s: string | undefined, what: string): string | undefined => {
    if (s === undefined) return undefined;
    try {
      return decodeURIComponent(s);
    } catch {
      throw new ConfigurationError(`invalid percent-encoding in the ${what} of AMQP broker URL ${safe}`);
    }
  };
  // kombu: the path without its leading "/" is the vhost; "" (and no path) means "/"
  const vhost = decode((m[6] ?? '').slice(1), 'virtual host') || '/';
  const host = (m[4] ?? '').replace(/^\[(.*)\]$/, '$1') || 'localhost';
  const ep: AmqpEndpoint = {
    protocol: tls ? 'amqps' : 'amqp',
    hostname: host,
    port,
    username: decode(m[2], 'user name') || 'guest',
    password: decode(m[3], 'password') ?? 'guest',
    vhost,
    safeUrl: safe,
  };
  const num = (key: string): number | undefined => {
    const v = query.get(key);
    if (v === null) return undefined;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new ConfigurationError(`invalid ${key}=${v} in AMQP broker URL ${safe}`);
    return n;
  };
  const hb = num('heartbeat');
  if (hb !== undefined) ep.heartbeat = hb;
  const fm = num('frame_max');
  if (fm !== undefined) ep.frameMax = fm;
  const ct = num('connect_timeout');
  if (ct !== undefined) ep.connectTimeout = ct;
  return ep;
}

/** A `;`-separated failover list (kombu), each parsed. */
export function parseAmqpUrls(url: string, useSsl: unknown = false): AmqpEndpoint[] {
  const parts = url.split(';').map((s) => s.trim()).filter(Boolean);
  if (parts.length === 0) throw new ConfigurationError('empty AMQP broker URL');
  return parts.map((p) => parseAmqpUrl(p, useSsl));
}

const CERT_REQS: Record<string, number> = { CERT_NONE: 0, CERT_OPTIONAL: 1, CERT_REQUIRED: 2 };

function readPem(path: unknown, key: string): Buffer {
  if (typeof path !== 'string' || path === '') throw new ConfigurationError(`broker_use_ssl.${key} must be a file path`);
  try {
    return readFileSync(path);
  } catch (err) {
    throw new ConfigurationError(`broker_use_ssl.${key}: cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * kombu's `broker_use_ssl` dict → Node TLS socket options. `cert_reqs`: `ssl.CERT_NONE` (0 or
 * 'CERT_NONE') disables verification; CERT_OPTIONAL / CERT_REQUIRED (default) verify the server.
 */
export function tlsSocketOptions(useSsl: unknown, endpoint: AmqpEndpoint): Record<string, unknown> {
  if (endpoint.protocol !== 'amqps') return {};
  // SNI: a host name only (RFC 6066; Node warns about an IP); the certificate is checked against the host either way
  const out: Record<string, unknown> = isIP(endpoint.hostname) ? {} : { servername: endpoint.hostname };
  if (useSsl === true || useSsl === false || useSsl === null || useSsl === undefined) return out;
  if (typeof useSsl !== 'object' || Array.isArray(useSsl)) throw new ConfigurationError('broker_use_ssl must be true/false or a dict');
  const known = new Set(['ca_certs', 'certfile', 'keyfile', 'cert_reqs', 'server_hostname', 'ssl_version', 'ciphers']);
  for (const [k, v] of Object.entries(useSsl as Record<string, unknown>)) {
    if (!known.has(k)) throw new ConfigurationError(`broker_use_ssl: unknown key ${JSON.stringify(k)} (accepted: ${[...known].join(', ')})`);
    if (v === undefined || v === null) continue;
    if (k === 'ca_certs') out.ca = readPem(v, k);
    else if (k === 'certfile') out.cert = readPem(v, k);
    else if (k === 'keyfile') out.key = readPem(v, k);
    else if (k === 'server_hostname') out.servername = String(v);
    else if (k === 'ciphers') out.ciphers = String(v);
    else if (k === 'cert_reqs') {
      const n = typeof v === 'number' ? v : CERT_REQS[String(v).replace(/^ssl\./, '')];
      if (n !== 0 && n !== 1 && n !== 2) throw new ConfigurationError(`broker_use_ssl.cert_reqs must be CERT_NONE, CERT_OPTIONAL or CERT_REQUIRED (0, 1, 2), got ${JSON.stringify(v)}`);
      out.rejectUnauthorized = n !== 0;
    }
  }
  return out;
}
