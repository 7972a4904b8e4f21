/**
 * `inspect conf` (`celery/worker/control.py:conf`) and the settings part of `inspect report`, as a
 * Python worker answers them: `app.conf.table(with_defaults)` censored (`filter_hidden_settings`) and
 * made JSON (`jsonify`: a timedelta as its `str()`).
 *
 * - without defaults (Celery's `conf.without_defaults()`): the settings the app was given (constructor,
 *   config module, `CELERY_BROKER_URL`...), whatever their value, plus what every `celery worker`
 *   sets (`deprecated_settings: None`, `worker_disable_prefetch: False`);
 * - with defaults: Celery's whole table (src/worker/control/celery-settings.ts, Celery's order), each
 *   given setting with its value, the others with Celery's default; settings only celeriac has
 *   (`redbeat_*`, ...) are there when given, as any extra key is in a Python app's conf.
 *
 * Values are in Celery's forms: `task_publish_retry_policy` with `max_retries`..., `result_expires`
 * as seconds when given and `'1 day, 0:00:00'` (the default timedelta) when not. Left as they are:
 * Python floats given as whole numbers (`control_queue_ttl: 300.0`) are JavaScript numbers (`300`).
 */
import { pyRepr } from '../../../protocol/repr.ts';
import type { PyDict, PyValue } from '../../../protocol/values.ts';
import { toCamelCase, type Settings } from '../../config.ts';
import { plainNumbers, PyFloat, type FloatValue } from '../../control/float.ts';
import { CELERY_FLOAT_SETTINGS, CELERY_SETTINGS } from './celery-settings.ts';

const HIDDEN_SETTINGS = /API|TOKEN|KEY|SECRET|PASS|PROFANITIES_LIST|SIGNATURE|DATABASE/i;
const MASK = '********';

/** Settings celeriac's `Settings` holds under another form than Celery's. */
const CELERY_FORM: Record<string, (v: unknown) => PyValue> = {
  task_publish_retry_policy: (v) => {
    const p = v as { maxRetries: number | null; intervalStart: number; intervalStep: number; intervalMax: number };
    return { max_retries: p.maxRetries, interval_start: p.intervalStart, interval_max: p.intervalMax, interval_step: p.intervalStep };
  },
};

/** Settings whose celeriac default differs from Celery's: shown with celeriac's value even when not given. */
const OWN_DEFAULT = new Set(['broker_url', 'beat_schedule_filename']);

/** `kombu.utils.url.as_url(..., sanitize=True, mask)`. */
function asUrl(scheme: string, host: string, port: string | number | null, user: string | null, password: string | null, path: string): string {
  let out = `${scheme}://`;
  if (user || password) {
    if (user) out += encodeURIComponent(user);
    if (password) out += `:${MASK}`;
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
export function sanitizeUrl(url: PyValue): PyValue {
  if (typeof url !== 'string' || !url.includes('://')) return url;
  const u = parse(url);
  if (!u) return url;
  const path = decodeURIComponent(u.pathname.replace(/^\//, ''));
  return asUrl(u.protocol.replace(/:$/, ''), u.hostname, u.port || null, decodeURIComponent(u.username) || null, decodeURIComponent(u.password) || null, path);
}

const TRANSPORT_DEFAULTS: Record<string, { port: number; user?: string; password?: string }> = {
  amqp: { port: 5672, user: 'guest', password: 'guest' },
  amqps: { port: 5671, user: 'guest', password: 'guest' },
  redis: { port: 6379 },
  rediss: { port: 6379 },
  sentinel: { port: 26379 },
};

/** `Connection(url).as_uri(mask=...)`: the first URL of a failover list, with the transport's defaults. */
export function connectionUri(url: PyValue): PyValue {
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
    decodeURIComponent(u.password) || d.password || null, encodeURI(vhost).replace(/%25/g, '%'));
}

/** `filter_hidden_settings`' `maybe_censor`: dicts recursively, then secrets, broker URLs, backend URLs. */
export function censor(key: string, value: PyValue): PyValue {
  if (isDict(value)) {
    const out: PyDict = {};
    for (const [k, v] of Object.entries(value as PyDict)) out[k] = censor(k, v);
    return out;
  }
  if (HIDDEN_SETTINGS.test(key)) return MASK;
  if (key.toLowerCase().includes('broker_url')) return connectionUri(value);
  if (key.toLowerCase().includes('backend')) return sanitizeUrl(value);
  return value;
}

/** A setting's value made JSON: `jsonify(..., unknown_type_filter=safe_repr)`. */
export function jsonSafe(v: unknown, depth = 0): PyValue {
  if (v === null || v === undefined) return null;
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return v;
  if (typeof v === 'bigint') return v;
  if (typeof v === 'function') return `<function ${(v as { name?: string }).name || '<lambda>'}>`;
  if (v instanceof RegExp) return `re.compile(${pyRepr(v.source)})`;
  if (v instanceof Date) return v.toISOString().replace('Z', '+00:00');
  if (depth > 6) return String(v);
  if (Array.isArray(v)) return v.map((x) => jsonSafe(x, depth + 1));
  if (v instanceof Map) return jsonSafe(Object.fromEntries(v), depth);
  if (v instanceof Set) return [...v].map((x) => jsonSafe(x, depth + 1));
  if (typeof v === 'object') {
    const out: PyDict = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) out[k] = jsonSafe(x, depth + 1);
    return out;
  }
  return String(v);
}

/** What the conf reply reads: the app's settings and which of them were given. */
export interface ConfSource {
  readonly conf: Settings;
  /** Celery's names of the settings given to the app (`conf.without_defaults()`). */
  readonly changedSettings: readonly string[];
}

function valueOf(app: ConfSource, key: string): PyValue {
  const v = (app.conf as unknown as Record<string, unknown>)[toCamelCase(key)];
  const form = CELERY_FORM[key];
  return form ? form(v) : jsonSafe(v);
}

/** What every Python worker's conf has besides the settings given (the `celery worker` command sets them). */
const WORKER_SET: readonly (readonly [string, PyValue])[] = [['deprecated_settings', null], ['worker_disable_prefetch', false]];

/** The `conf` inspect reply. */
export function confReply(app: ConfSource, withDefaults: boolean): Record<string, FloatValue> {
  const given = new Set(app.changedSettings);
  const out: Record<string, FloatValue> = {};
  if (!withDefaults) {
    for (const key of given) out[key] = censor(key, valueOf(app, key));
    for (const [key, v] of WORKER_SET) if (!(key in out)) out[key] = v;
    return out;
  }
  for (const [key, dflt] of CELERY_SETTINGS) {
    if (given.has(key) || OWN_DEFAULT.has(key)) out[key] = censor(key, valueOf(app, key));
    else if (key === 'worker_disable_prefetch') out[key] = false;
    // a default Celery holds as a float (`control_queue_ttl: 300.0`) is written so
    else if (CELERY_FLOAT_SETTINGS.has(key) && typeof dflt === 'number') out[key] = new PyFloat(dflt);
    else out[key] = dflt;
  }
  for (const key of given) if (!(key in out)) out[key] = censor(key, valueOf(app, key));
  return out;
}

function isDict(v: PyValue): v is PyDict {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Date) && !(v instanceof Uint8Array);
}

/** `repr()` as pprint writes it: dict keys sorted (pprint's `sort_dicts`). */
function sortedRepr(v: PyValue): string {
  if (isDict(v)) return `{${Object.keys(v).sort().map((k) => `${pyRepr(k)}: ${sortedRepr(v[k]!)}`).join(', ')}}`;
  if (Array.isArray(v)) return `[${v.map(sortedRepr).join(', ')}]`;
  return pyRepr(v);
}

/**
 * `pprint.pformat(value, indent, width)` for dicts and lists: one line when it fits, else one item
 * per line (PrettyPrinter's `_pprint_dict` / `_pprint_list`); other values as their repr.
 */
function pformat(value: PyValue, indentPerLevel: number, width: number, indent = 0, allowance = 0): string {
  const rep = sortedRepr(value);
  if (rep.length <= width - indent - allowance || !(isDict(value) || (Array.isArray(value) && value.length))) return rep;
  const [open, close] = isDict(value) ? ['{', '}'] : ['[', ']'];
  let out = open + ' '.repeat(Math.max(0, indentPerLevel - 1));
  const inner = indent + indentPerLevel;
  const delim = `,\n${' '.repeat(inner)}`;
  if (isDict(value)) {
    const keys = Object.keys(value).sort();
    keys.forEach((k, i) => {
      const last = i === keys.length - 1;
      const kr = pyRepr(k);
      out += `${kr}: ${pformat(value[k]!, indentPerLevel, width, inner + kr.length + 2, last ? allowance + 1 : 1)}`;
      if (!last) out += delim;
    });
  } else {
    const items = value as PyValue[];
    items.forEach((x, i) => {
      const last = i === items.length - 1;
      out += pformat(x, indentPerLevel, width, inner, last ? allowance + 1 : 1);
      if (!last) out += delim;
    });
  }
  return out + close;
}

/**
 * `celery.utils.text.pretty(value, width=50)` as `conf.humanize()` prints each setting: a dict on the
 * next line without its opening brace (`pformat(value, 4, 80)[1:]`), else `pformat(value, width=50)`.
 */
function pretty(value: PyValue): string {
  if (isDict(value)) return `\n ${pformat(value, 4, 80).slice(1)}`;
  return pformat(value, 1, 50);
}

/** `app.conf.humanize()`: `key: value` per setting given, censored. */
export function humanizeConf(app: ConfSource): string {
  return Object.entries(plainNumbers(confReply(app, false)) as PyDict).map(([k, v]) => `${k}: ${pretty(v)}`).join('\n');
}
