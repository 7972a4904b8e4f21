/**
 * How Celery shows an app's settings (`celery.app.utils`), for both places celeriac shows them: a
 * worker's `inspect conf` / `inspect report` (src/worker/control/) and `celeriac report` (src/cli/report.ts).
 *
 * - `filter_hidden_settings` (`censor`, `filterHiddenSettings`), Celery 5.6's rules exactly: a dict is
 *   censored key by key; a key matching `HIDDEN_SETTINGS` shows `********`; a `*broker_url*` value is
 *   `Connection(url).as_uri(mask=...)`, a `*backend*` value `maybe_sanitize_url(url, mask=...)`; any
 *   other value is left as it is (a password in another URL setting, `redbeat_redis_url`, too).
 * - `celeryValue`: a setting in the form Python's `app.conf` holds it (`task_publish_retry_policy`).
 * - `humanize`: `conf.humanize()`, one `key: pretty(value, width=50)` line per setting.
 * - `formatBugreport`: `bugreport()`'s `BUGREPORT_INFO` layout, the backend as `maybe_sanitize_url`.
 */
import type { PyValue } from '../protocol/values.ts';
import { isPlainObject } from '../protocol/values.ts';
import { toCamelCase, type Settings } from './config.ts';
import { pretty } from './pyformat.ts';

/** Celery 5.6's `HIDDEN_SETTINGS`. */
export const HIDDEN_SETTINGS = /API|TOKEN|KEY|SECRET|PASS|PROFANITIES_LIST|SIGNATURE|DATABASE|BEAT_DBURI/i;
export const MASK = '********';

/** What a settings report reads: the app's settings and which of them were given. */
export interface ConfSource {
  readonly conf: Settings;
  /** Celery's names of the settings given to the app (`conf.without_defaults()`), in order. */
  readonly changedSettings: readonly string[];
}

/** `kombu.utils.url.as_url(..., sanitize=True, mask)`. */
function asUrl(scheme: string, host: string, port: string | number | null, user: string | null, password: string | null, path: string, mask: string): string {
  let out = `${scheme}://`;
  if (user || password) {
    if (user) out += encodeURIComponent(user);
    if (password) out += `:${mask}`;
    out += '@';
  }
  out += host;
  if (port) out += `:${port}`;
  return `${out}/${path}`;
}

function parse(url: string): URL | null {
  try {
    return new URL(url);
  } catch {
    return null;
  }
}

/** `maybe_sanitize_url(url, mask)`: the password masked, the query dropped (kombu's `sanitize_url`). */
export function sanitizeUrl<T>(url: T, mask = MASK): T | string {
  if (typeof url !== 'string' || !url.includes('://')) return url;
  const u = parse(url);
  if (!u) return url;
  const path = decodeURIComponent(u.pathname.replace(/^\//, ''));
  return asUrl(u.protocol.replace(/:$/, ''), u.hostname, u.port || null, decodeURIComponent(u.username) || null, decodeURIComponent(u.password) || null, path, mask);
}

const TRANSPORT_DEFAULTS: Record<string, { port: number; user?: string; password?: string }> = {
  amqp: { port: 5672, user: 'guest', password: 'guest' },
  amqps: { port: 5671, user: 'guest', password: 'guest' },
  redis: { port: 6379 },
  rediss: { port: 6379 },
  sentinel: { port: 26379 },
};

/** `Connection(url).as_uri(mask=...)`: the first URL of a failover list, with the transport's defaults. */
export function connectionUri<T>(url: T, mask = MASK): T | string {
  if (typeof url !== 'string') return url;
  const first = url.split(';')[0]!.trim();
  const u = parse(first);
  if (!u) return url;
  let scheme = u.protocol.replace(/:$/, '');
  if (scheme === 'pyamqp') scheme = 'amqp';
  const d = TRANSPORT_DEFAULTS[scheme] ?? { port: 0 };
  const path = decodeURIComponent(u.pathname.replace(/^\//, ''));
  const vhost = path === '' ? '/' : path;
  return asUrl(scheme, u.hostname || 'localhost', u.port || d.port || null, decodeURIComponent(u.username) || d.user || null,
    decodeURIComponent(u.password) || d.password || null, encodeURI(vhost).replace(/%25/g, '%'), mask);
}

/** `filter_hidden_settings`' `maybe_censor`: dicts recursively, then secrets, broker URLs, backend URLs. */
export function censor<T>(key: string, value: T): T | string {
  if (isPlainObject(value)) return filterHiddenSettings(value) as T;
  if (HIDDEN_SETTINGS.test(key)) return MASK;
  if (key.toLowerCase().includes('broker_url')) return connectionUri(value);
  if (key.toLowerCase().includes('backend')) return sanitizeUrl(value);
  // better than Celery, which prints them: a password in any other URL setting (redbeat_redis_url,
  // a sentinel or cache URL) is masked too, since Flower and `report` outputs get pasted around
  if (typeof value === 'string' && URL_WITH_PASSWORD.test(value)) return sanitizeUrl(value);
  return value;
}

/** `scheme://user:password@host...` (a password present, possibly empty user). */
const URL_WITH_PASSWORD = /^[a-z][a-z0-9+.-]*:\/\/[^/\s@]*:[^@/\s]+@/i;

/** `celery.app.utils.filter_hidden_settings(conf)`: each setting censored (`censor`). */
export function filterHiddenSettings<T>(conf: Record<string, T>): Record<string, T | string> {
  const out: Record<string, T | string> = {};
  for (const [k, v] of Object.entries(conf)) out[k] = censor(k, v);
  return out;
}

/** Settings celeriac's `Settings` holds under another form than Celery's. */
const CELERY_FORM: Record<string, (v: unknown) => PyValue> = {
  task_publish_retry_policy: (v) => {
    const p = v as { maxRetries: number | null; intervalStart: number; intervalStep: number; intervalMax: number };
    return { max_retries: p.maxRetries, interval_start: p.intervalStart, interval_max: p.intervalMax, interval_step: p.intervalStep };
  },
};

/** A setting (Celery's name) as Python's `app.conf` holds it: celeriac's value, in Celery's form where that differs. */
export function celeryValue(conf: Settings, key: string): unknown {
  const v = (conf as unknown as Record<string, unknown>)[toCamelCase(key)];
  const form = CELERY_FORM[key];
  return form ? form(v) : v;
}

/** `conf.humanize()` of a settings table already censored: `key: pretty(value, width=50)` per line. */
export function humanize(table: Record<string, unknown>): string {
  return Object.entries(table).map(([k, v]) => `${k}: ${pretty(v, 50)}`).join('\n');
}

/** The fields of Celery's `BUGREPORT_INFO`, with whatever stands for Python's versions and platform. */
export interface BugreportFields {
  /** The two `software ->` lines (Celery's `celery:… kombu:… py:…` and `billiard:… driver:…`). */
  readonly software: readonly [string, string];
  /** `system:{system} arch:{arch}`. */
  readonly system: string;
  readonly arch: string;
  readonly kernelVersion: string;
  /** `imp:` (Python's implementation). */
  readonly imp: string;
  readonly loader: string;
  readonly transport: string;
  /** `app.conf.result_backend`, shown as `maybe_sanitize_url(result_backend or 'disabled')`. */
  readonly resultBackend: string | null | undefined;
  /** `app.conf.humanize()` (`humanize`). */
  readonly settings: string;
}

/** Celery's `bugreport(app)` text from its fields. */
export function formatBugreport(f: BugreportFields): string {
  return [
    '',
    `software -> ${f.software[0]}`,
    `            ${f.software[1]}`.trimEnd(),
    `platform -> system:${f.system} arch:${f.arch}`,
    `            kernel version:${f.kernelVersion} imp:${f.imp}`,
    `loader   -> ${f.loader}`,
    `settings -> transport:${f.transport} results:${sanitizeUrl(f.resultBackend || 'disabled', '**')}`,
    '',
    f.settings,
    '',
  ].join('\n');
}
