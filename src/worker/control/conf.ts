/**
 * `inspect conf` (`celery/worker/control.py:conf`) and the settings part of `inspect report`, as a
 * Python worker answers them: `app.conf.table(with_defaults)` censored (`filter_hidden_settings`,
 * src/settings-report.ts) and
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
import { plainNumbers, PyFloat, type FloatValue } from '../../control/float.ts';
import { celeryValue, censor, humanize, type ConfSource } from '../../settings-report.ts';
import { CELERY_FLOAT_SETTINGS, CELERY_SETTINGS } from './celery-settings.ts';

/** Settings whose celeriac default differs from Celery's: shown with celeriac's value even when not given. */
const OWN_DEFAULT = new Set(['broker_url', 'beat_schedule_filename']);

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

function valueOf(app: ConfSource, key: string): PyValue {
  return jsonSafe(celeryValue(app.conf, key));
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

/** `app.conf.humanize()`: `key: value` per setting given, censored (src/settings-report.ts). */
export function humanizeConf(app: ConfSource): string {
  return humanize(plainNumbers(confReply(app, false)) as PyDict);
}
