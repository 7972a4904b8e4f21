/**
 * Redis URLs as Celery users write them, turned into ioredis options. Shared by the Redis transport
 * and the Redis result backend. Credentials never leave this module except inside the options.
 *
 *   redis://[[user]:password@]host[:port][/db]
 *   rediss://...?ssl_cert_reqs=required|optional|none&ssl_ca_certs=...&ssl_certfile=...&ssl_keyfile=...
 *       (also CERT_REQUIRED/CERT_OPTIONAL/CERT_NONE; optional verifies like required, as Python does)
 *   sentinel://[:password@]host:port[;sentinel://host2:port2...][/db]  (master name from transport options)
 *       TLS to the master: `broker_use_ssl` / `redis_backend_use_ssl` dict; TLS to the sentinels themselves:
 *       `sentinel_kwargs: {ssl: true, ssl_ca_certs, ...}` (redis-py's Redis(**sentinel_kwargs)), as in kombu/Celery
 *   redis+socket:///path/to/redis.sock[?virtual_host=db]   (also unix://, socket://)
 */
import { readFileSync } from 'node:fs';
import type { RedisOptions } from 'ioredis';
import { ConfigurationError } from '../errors.ts';

export { ConfigurationError };

export interface RedisTarget {
  options: RedisOptions;
  db: number;
  /** The URL with the password replaced by `**`, for logs and errors. */
  safeUrl: string;
  scheme: 'redis' | 'rediss' | 'sentinel' | 'socket';
}

/** Transport options that matter for connecting (`broker_transport_options` / `result_backend_transport_options`). */
export interface RedisConnectOptions {
  /** Sentinel master group name (`master_name`). */
  master_name?: string;
  /**
   * Options for the sentinel connections themselves (`sentinel_kwargs`, redis-py's `Redis(**sentinel_kwargs)`):
   * `password`, `username`, and for sentinels that speak TLS `ssl: true` with `ssl_cert_reqs`,
   * `ssl_ca_certs`, `ssl_certfile`, `ssl_keyfile`, `ssl_check_hostname`.
   */
  sentinel_kwargs?: { password?: string; username?: string; ssl?: boolean; [ssl: `ssl_${string}`]: unknown };
  socket_timeout?: number;
  socket_connect_timeout?: number;
  [other: string]: unknown;
}

/** `redis://user:secret@host/0` -> `redis://user:**@host/0`; also masks every `;`-separated sentinel URL. */
export function safeUrl(url: string): string {
  return url
    .split(';')
    .map((part) => part.replace(/^([a-z+]+:\/\/)([^@/]*)@/i, (_, scheme: string, auth: string) => {
      const i = auth.indexOf(':');
      return i < 0 ? `${scheme}${auth}@` : `${scheme}${auth.slice(0, i)}:**@`;
    }))
    .join(';');
}

function parseDb(path: string, url: string): number {
  const text = path.replace(/^\/+/, '').split('/')[0] ?? '';
  if (text === '') return 0;
  const db = Number(text);
  if (!Number.isInteger(db) || db < 0) throw new ConfigurationError(`invalid Redis db number ${JSON.stringify(text)} in ${safeUrl(url)}`);
  return db;
}

/** `broker_use_ssl` / `redis_backend_use_ssl`: kombu's Redis keys, as Celery users write them. */
export type RedisUseSsl = boolean | null | undefined | Readonly<Record<string, unknown>>;
const USE_SSL_KEYS = new Set(['ssl_cert_reqs', 'ssl_ca_certs', 'ssl_certfile', 'ssl_keyfile', 'ssl_check_hostname']);
const CERT_REQS_BY_NUMBER: Record<number, string> = { 0: 'none', 1: 'optional', 2: 'required' }; // ssl.CERT_*

/** Python's truth value of a `*_use_ssl` setting: None, False and an empty dict are all "off". */
function sslDict(useSsl: RedisUseSsl): Readonly<Record<string, unknown>> | null {
  return !!useSsl && typeof useSsl === 'object' && Object.keys(useSsl).length > 0 ? useSsl : null;
}

/** The URL's `ssl_*` query parameters, with the `*_use_ssl` dict filling in what the URL leaves out (kombu: the URL wins). */
function sslParams(params: URLSearchParams, useSsl: RedisUseSsl, setting: string): URLSearchParams {
  if (!useSsl || typeof useSsl !== 'object') return params;
  const merged = new URLSearchParams(params);
  for (const [key, value] of Object.entries(useSsl)) {
    if (!USE_SSL_KEYS.has(key)) {
      throw new ConfigurationError(`${setting}: unknown key ${JSON.stringify(key)} for Redis (accepted: ${[...USE_SSL_KEYS].join(', ')})`);
    }
    if (value === null || value === undefined || merged.has(key)) continue;
    const text = key === 'ssl_cert_reqs' && typeof value === 'number' ? CERT_REQS_BY_NUMBER[value] ?? String(value) : String(value);
    merged.set(key, text);
  }
  return merged;
}

function tlsOptions(params: URLSearchParams, url: string): NonNullable<RedisOptions['tls']> {
  const reqs = (params.get('ssl_cert_reqs') ?? 'required').toLowerCase().replace(/^(ssl\.)?cert_/, '');
  if (!['required', 'optional', 'none'].includes(reqs)) {
    throw new ConfigurationError(`ssl_cert_reqs must be required, optional or none (got ${JSON.stringify(reqs)}) in ${safeUrl(url)}`);
  }
  const read = (name: string) => {
    const path = params.get(name);
    if (!path) return undefined;
    try {
      return readFileSync(path);
    } catch (err) {
      throw new ConfigurationError(`cannot read ${name} file ${JSON.stringify(path)}`, { cause: err });
    }
  };
  // Python's ssl: "In client mode, CERT_OPTIONAL has the same meaning as CERT_REQUIRED" (a server always
  // presents a certificate), so only none skips verification. redis-py also checks the host name unless
  // ssl_check_hostname=false; Node always does when verifying.
  const tls: NonNullable<RedisOptions['tls']> = { rejectUnauthorized: reqs !== 'none' };
  if (reqs !== 'none' && /^(false|0|no|off)$/i.test(params.get('ssl_check_hostname') ?? '')) tls.checkServerIdentity = () => undefined;
  const ca = read('ssl_ca_certs');
  const cert = read('ssl_certfile');
  const key = read('ssl_keyfile');
  if (ca) tls.ca = ca;
  if (cert) tls.cert = cert;
  if (key) tls.key = key;
  return tls;
}

// celery/backends/redis.py's messages (raised there as ValueError)
const E_SSL_PARAMS_AND_SCHEME_MISMATCH =
  'SSL connection parameters have been provided but the specified URL scheme is redis://. A Redis SSL connection URL should use the scheme rediss://.';
const E_SSL_CERT_REQS_MISSING_INVALID =
  'A rediss:// URL must have parameter ssl_cert_reqs and this must be set to CERT_REQUIRED, CERT_OPTIONAL, or CERT_NONE';
const CELERY_SSL_PARAM_KEYS = ['ssl_ca_certs', 'ssl_certfile', 'ssl_keyfile', 'ssl_cert_reqs'];
const CELERY_CERT_REQS = new Set<unknown>(['CERT_REQUIRED', 'CERT_OPTIONAL', 'CERT_NONE', 'required', 'optional', 'none', 0, 1, 2]);

/**
 * Celery's `RedisBackend.__init__` checks of `redis_backend_use_ssl` and the URL, stricter than kombu's
 * broker: the setting must be a dict (Celery: `TypeError` from `dict.update`); a redis:// URL with SSL
 * parameters (in the dict or the query) is refused; with TLS on (rediss://, or a dict with a sentinel://
 * URL) `ssl_cert_reqs` must be given (URL query first, then the dict; sentinel:// only the dict) and be
 * one of CERT_REQUIRED/CERT_OPTIONAL/CERT_NONE, required/optional/none (or ssl.CERT_* numbers in the dict).
 * Returns the ssl params to use (the URL's `ssl_*` query merged over the dict).
 */
function celeryBackendSsl(scheme: string, query: URLSearchParams, useSsl: RedisUseSsl): { tls: boolean; params: URLSearchParams } {
  if (useSsl !== undefined && useSsl !== null && useSsl !== false && (typeof useSsl !== 'object' || Array.isArray(useSsl))) {
    throw new ConfigurationError(
      `redis_backend_use_ssl must be a dict of ssl_cert_reqs, ssl_ca_certs, ssl_certfile, ssl_keyfile (got ${JSON.stringify(useSsl)}; Celery fails with TypeError)`,
    );
  }
  const dict = sslDict(useSsl);
  const plain = scheme === 'redis' || scheme === 'valkey';
  if (plain && (CELERY_SSL_PARAM_KEYS.some((k) => (dict && k in dict) || query.has(k)))) {
    throw new ConfigurationError(E_SSL_PARAMS_AND_SCHEME_MISMATCH);
  }
  const tls = !!dict || scheme === 'rediss' || scheme === 'valkeys';
  if (!tls) return { tls, params: new URLSearchParams() };
  // Celery takes the URL's ssl params only for rediss:// (and only non-empty ones)
  const fromUrl = new URLSearchParams();
  if (!plain && scheme !== 'sentinel') {
    for (const k of CELERY_SSL_PARAM_KEYS) if (query.get(k)) fromUrl.set(k, query.get(k)!);
  }
  const reqs = fromUrl.get('ssl_cert_reqs') ?? dict?.ssl_cert_reqs;
  if (!CELERY_CERT_REQS.has(reqs)) throw new ConfigurationError(E_SSL_CERT_REQS_MISSING_INVALID);
  return { tls, params: sslParams(fromUrl, dict, 'redis_backend_use_ssl') };
}

const SENTINEL_KWARGS_KEYS = new Set(['password', 'username', 'ssl', ...USE_SSL_KEYS]);

/**
 * `sentinel_kwargs` with `ssl: true` → TLS for the connections to the sentinels (redis-py:
 * `Redis(host, port, **sentinel_kwargs)`, whose `ssl_cert_reqs` defaults to required). `ssl_*` keys
 * without `ssl: true` are ignored, as redis-py does.
 */
function sentinelTls(kwargs: RedisConnectOptions['sentinel_kwargs'], url: string): RedisOptions['tls'] | undefined {
  if (!kwargs) return undefined;
  for (const key of Object.keys(kwargs)) {
    if (key.startsWith('ssl') && !SENTINEL_KWARGS_KEYS.has(key)) {
      throw new ConfigurationError(`sentinel_kwargs: unsupported key ${JSON.stringify(key)} (TLS keys accepted: ssl, ${[...USE_SSL_KEYS].join(', ')})`);
    }
  }
  if (!kwargs.ssl) return undefined;
  const ssl = Object.fromEntries(Object.entries(kwargs).filter(([k]) => USE_SSL_KEYS.has(k)));
  return tlsOptions(sslParams(new URLSearchParams(), ssl, 'sentinel_kwargs'), url);
}

/**
 * `useSsl` is `broker_use_ssl` (or `redis_backend_use_ssl` with `role` 'backend'): a dict of
 * `ssl_cert_reqs` ('required'/'optional'/'none', CERT_*, or ssl.CERT_* numbers 2/1/0), `ssl_ca_certs`,
 * `ssl_certfile`, `ssl_keyfile`, `ssl_check_hostname`. As in kombu, a dict turns TLS on for redis:// too,
 * and parameters in the URL's query win over the dict. With a sentinel:// URL the dict means TLS to the
 * master the sentinels name (kombu's and Celery's `SentinelManagedSSLConnection`).
 *
 * `role` 'backend' applies Celery's `RedisBackend` rules instead (see {@link celeryBackendSsl}): the
 * same URL and settings fail in celeriac exactly where they fail in Celery, with Celery's message.
 */
export function parseRedisUrl(url: string, transport: RedisConnectOptions = {}, useSsl?: RedisUseSsl, role: 'broker' | 'backend' = 'broker'): RedisTarget {
  const sslSetting = role === 'backend' ? 'redis_backend_use_ssl' : 'broker_use_ssl';
  const safe = safeUrl(url);
  const scheme = /^([a-z+]+):\/\//i.exec(url)?.[1]?.toLowerCase();
  const common: RedisOptions = { lazyConnect: true, maxRetriesPerRequest: null };
  if (transport.socket_connect_timeout !== undefined) common.connectTimeout = transport.socket_connect_timeout * 1000;
  if (transport.socket_timeout !== undefined) common.commandTimeout = transport.socket_timeout * 1000;

  if (scheme === 'redis' || scheme === 'rediss' || scheme === 'valkey' || scheme === 'valkeys') {
    let u: URL;
    try {
      u = new URL(url);
    } catch (err) {
      throw new ConfigurationError(`invalid Redis URL ${safe}`, { cause: err });
    }
    const db = u.searchParams.has('db') ? parseDb(u.searchParams.get('db')!, url) : parseDb(u.pathname, url);
    const options: RedisOptions = { ...common, host: u.hostname || '127.0.0.1', port: u.port ? Number(u.port) : 6379, db };
    if (u.username) options.username = decodeURIComponent(u.username);
    if (u.password) options.password = decodeURIComponent(u.password);
    if (role === 'backend') {
      const ssl = celeryBackendSsl(scheme, u.searchParams, useSsl);
      if (ssl.tls) options.tls = tlsOptions(ssl.params, url);
      return { options, db, safeUrl: safe, scheme: ssl.tls ? 'rediss' : 'redis' };
    }
    const tls = scheme === 'rediss' || scheme === 'valkeys' || !!sslDict(useSsl);
    if (tls) options.tls = tlsOptions(sslParams(u.searchParams, sslDict(useSsl), sslSetting), url);
    return { options, db, safeUrl: safe, scheme: tls ? 'rediss' : 'redis' };
  }

  if (scheme === 'sentinel') {
    const parts = url.split(';').map((p) => p.trim()).filter(Boolean);
    const sentinels: { host: string; port: number }[] = [];
    let password: string | undefined;
    let db = 0;
    for (const part of parts) {
      let u: URL;
      try {
        u = new URL(part);
      } catch (err) {
        throw new ConfigurationError(`invalid sentinel URL ${safeUrl(part)}`, { cause: err });
      }
      sentinels.push({ host: u.hostname, port: u.port ? Number(u.port) : 26379 });
      if (u.password) password = decodeURIComponent(u.password);
      if (u.pathname && u.pathname !== '/') db = parseDb(u.pathname, url);
    }
    if (!transport.master_name) {
      throw new ConfigurationError(`a sentinel:// URL needs the master name: set broker_transport_options.master_name (${safe})`);
    }
    const options: RedisOptions = { ...common, sentinels, name: transport.master_name, db };
    if (password) options.password = password;
    if (transport.sentinel_kwargs?.password) options.sentinelPassword = transport.sentinel_kwargs.password;
    if (transport.sentinel_kwargs?.username) options.sentinelUsername = transport.sentinel_kwargs.username;
    const toSentinels = sentinelTls(transport.sentinel_kwargs, url);
    if (toSentinels) options.sentinelTLS = toSentinels;
    // TLS to the master: the *_use_ssl dict (Celery's backend checks it first; kombu takes it as is)
    const master = role === 'backend'
      ? (celeryBackendSsl('sentinel', new URLSearchParams(), useSsl).tls ? tlsOptions(sslParams(new URLSearchParams(), sslDict(useSsl), sslSetting), url) : undefined)
      : sslDict(useSsl) ? tlsOptions(sslParams(new URLSearchParams(), sslDict(useSsl), sslSetting), url) : undefined;
    if (master) {
      options.tls = master;
      options.enableTLSForSentinelMode = true;
    }
    return { options, db, safeUrl: safe, scheme: 'sentinel' };
  }

  if (scheme === 'redis+socket' || scheme === 'unix' || scheme === 'socket') {
    const rest = url.slice(url.indexOf('://') + 3);
    const [path, query = ''] = rest.split('?') as [string, string?];
    const params = new URLSearchParams(query);
    const dbText = params.get('virtual_host') ?? params.get('db') ?? '0';
    const db = parseDb(dbText, url);
    const options: RedisOptions = { ...common, path: path.replace(/^[^@]*@/, ''), db };
    const auth = /^([^@]*)@/.exec(path)?.[1];
    if (auth?.includes(':')) options.password = decodeURIComponent(auth.slice(auth.indexOf(':') + 1));
    return { options, db, safeUrl: safe, scheme: 'socket' };
  }

  throw new ConfigurationError(`not a Redis URL: ${safe} (use redis://, rediss://, sentinel:// or redis+socket://)`);
}
