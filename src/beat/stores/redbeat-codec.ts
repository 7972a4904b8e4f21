/**
 * RedBeat's JSON (redbeat/decoder.py), read and written the way Python RedBeat does, so a celeriac beat
 * and a Python RedBeat share one Redis store. An entry is a hash with two fields:
 *
 *   definition  {"name", "task", "args", "kwargs", "options", "schedule", "enabled"}
 *   meta        {"last_run_at": <datetime or null>, "total_run_count": n}
 *
 * Schedules are tagged dicts: `{"__type__": "interval", "every": s, "relative": b}`, `{"__type__":
 * "crontab", "minute", "hour", "day_of_week", "day_of_month", "month_of_year"}` and RedBeat's rrule
 * shape (passed through as is, `{"__type__": "weekday"}` items included). Datetimes are `{"__type__":
 * "datetime", year, month, day, hour, minute, second, microsecond, timezone}` with `timezone` an IANA key
 * (Python writes `app.now()`, so the app's zone), a number of seconds east of UTC (a fixed offset, as
 * a float: `7200.0`), or `"UTC"` (also what a naive datetime is written as, and the default when absent).
 * celeriac writes `last_run_at` in the app's zone too: Celery's crontab reads the wall-clock fields of
 * `last_run_at` in the datetime's own zone, so any other zone would shift a Python beat's crontabs.
 *
 * Schedules RedBeat cannot represent (solar, clocked, a crontab with its own time zone): Python's
 * decoder leaves an unknown `__type__` as a dict and `ScheduleEntry` then fails on it
 * (`'dict' object has no attribute 'app'`; a crontab with a `timezone` key: `unexpected keyword argument
 * 'timezone'`), which kills a Python beat (`beat raised exception`) as soon as the entry is due. So in a
 * store shared with Python (the default) encoding one throws {@link UnrepresentableScheduleError}; only
 * with `redbeatCompatible: false` (a store no Python RedBeat reads) are they written, tagged
 * `celeriac.solar`, `celeriac.clocked`, `celeriac.crontab`. A crontab whose zone is the app's zone
 * is written as a plain crontab.
 */
import { ConfigurationError } from '../../errors.ts';
import { parseKombuJson, stringifyKombuJson } from '../../../protocol/serialization/index.ts';
import { PyDateTime, isPlainObject, type PyValue } from '../../../protocol/values.ts';
import type { CronSpec, Schedule, ScheduleJSON } from '../schedules/base.ts';
import { Zone, fieldsOf, localOf, msToUs } from '../schedules/zone.ts';
import type { EntryDefinition, EntryMeta } from '../store.ts';

export interface RedBeatCodecOptions {
  /** Turns the stored form back into a schedule (the schedules' registry). */
  readonly fromJSON: (json: ScheduleJSON) => Schedule;
  /**
   * False when no Python RedBeat reads the store: schedules RedBeat cannot represent are then stored
   * (tagged `celeriac.*`) instead of refused. @default true
   */
  readonly redbeatCompatible?: boolean;
  /** The app's time zone: a crontab in this zone is stored as a plain RedBeat crontab. */
  readonly timezone?: string;
}

/** A schedule that Python RedBeat could not load, refused for a store shared with it. */
export class UnrepresentableScheduleError extends ConfigurationError {
  override name = 'UnrepresentableScheduleError';
  override readonly code = 'EREDBEATSCHEDULE';
}

/** The RedBeat datetime dict. */
export interface RedBeatDateTime {
  __type__: 'datetime';
  year: number; month: number; day: number; hour: number; minute: number; second: number; microsecond: number;
  timezone: string | number;
}

const CELERIAC_TAG = 'celeriac.';

// ---------------------------------------------------------------------------------------------
// datetimes
// ---------------------------------------------------------------------------------------------

/** A zone name or a fixed offset in seconds east of UTC: its offset (us) at an instant (us). */
function offsetUs(zone: string | number, instantUs: number): number {
  return typeof zone === 'number' ? Math.round(zone * 1e6) : Zone.get(zone).offsetAt(instantUs);
}

/** An instant (epoch ms, microseconds as the fraction) as RedBeat's datetime dict; `zone` 'UTC' by default. */
export function encodeDateTime(epochMs: number, zone: string | number = 'UTC'): RedBeatDateTime {
  const us = msToUs(epochMs);
  const f = fieldsOf(us + offsetUs(zone, us));
  return {
    __type__: 'datetime', year: f.year, month: f.month, day: f.day, hour: f.hour, minute: f.minute, second: f.second,
    microsecond: f.micro, timezone: zone,
  };
}

/**
 * RedBeat's datetime dict to an instant (epoch ms; microseconds kept as the fraction). A wall time that
 * a zone skips or repeats resolves as Python's `ZoneInfo` does with fold=0.
 */
export function decodeDateTime(d: Record<string, unknown>): number {
  const num = (k: string, dflt?: number): number => {
    const v = d[k] ?? dflt;
    if (typeof v !== 'number' || !Number.isInteger(v)) throw new TypeError(`datetime ${k} is ${JSON.stringify(v)}`);
    return v;
  };
  const zone = d.timezone ?? 'UTC';
  const local = localOf(num('year'), num('month'), num('day'), num('hour', 0), num('minute', 0), num('second', 0), num('microsecond', 0));
  let us: number;
  if (typeof zone === 'number') us = local - Math.round(zone * 1e6);
  else if (typeof zone === 'string') us = Zone.get(zone).toInstant(local, 0);
  else throw new TypeError(`datetime timezone is ${JSON.stringify(zone)}`);
  return us / 1000;
}

function isRedBeatDateTime(v: unknown): v is Record<string, unknown> {
  return isPlainObject(v) && v.__type__ === 'datetime' && 'year' in v;
}

/** A RedBeat datetime in args/kwargs/options as the PyDateTime Python would send (its offset kept). */
function toPyDateTime(d: Record<string, unknown>): PyDateTime {
  const us = msToUs(decodeDateTime(d));
  const off = offsetUs(d.timezone === undefined ? 'UTC' : (d.timezone as string | number), us);
  const f = fieldsOf(us + off);
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  const abs = Math.abs(Math.round(off / 1e6));
  const offText = `${off < 0 ? '-' : '+'}${p(Math.floor(abs / 3600))}:${p(Math.floor(abs / 60) % 60)}${abs % 60 ? `:${p(abs % 60)}` : ''}`;
  const frac = f.micro ? `.${p(f.micro, 6)}` : '';
  return new PyDateTime(`${p(f.year, 4)}-${p(f.month)}-${p(f.day)}T${p(f.hour)}:${p(f.minute)}:${p(f.second)}${frac}${offText}`);
}

/** RedBeat datetime dicts inside a value become PyDateTimes. */
function decodeValue(v: unknown): PyValue {
  if (Array.isArray(v)) return v.map(decodeValue);
  if (isRedBeatDateTime(v)) return toPyDateTime(v);
  if (isPlainObject(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, decodeValue(x)]));
  return v as PyValue;
}

/** Dates inside a value become RedBeat datetime dicts (Python's RedBeatJSONEncoder). */
function encodeValue(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(encodeValue);
  if (v instanceof Date) {
    if (v instanceof PyDateTime) {
      const ms = v.getTime() + (v.microsecond % 1000) / 1000;
      return encodeDateTime(ms, v.naive ? 'UTC' : (v.utcoffsetMinutes ?? 0) * 60);
    }
    return encodeDateTime(v.getTime());
  }
  if (isPlainObject(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, encodeValue(x)]));
  return v;
}

// ---------------------------------------------------------------------------------------------
// schedules
// ---------------------------------------------------------------------------------------------

/** A schedule in RedBeat's tagged form; throws {@link UnrepresentableScheduleError} (see the module notes). */
export function encodeSchedule(json: ScheduleJSON, options: Omit<RedBeatCodecOptions, 'fromJSON'> = {}, name = '?'): Record<string, unknown> {
  const compatible = options.redbeatCompatible ?? true;
  const refuse = (what: string): never => {
    throw new UnrepresentableScheduleError(
      `beat entry ${JSON.stringify(name)}: ${what} cannot be stored in RedBeat's format (a Python RedBeat reading this `
      + "store would crash on it); use another schedule, or, if no Python RedBeat shares the store, set redbeat_celeriac_only",
    );
  };
  switch (json.type) {
    case 'interval':
      return { __type__: 'interval', every: json.every, relative: json.relative };
    case 'crontab': {
      const { type: _t, timezone, ...fields } = json;
      const cron = {
        minute: fields.minute, hour: fields.hour, day_of_week: fields.day_of_week,
        day_of_month: fields.day_of_month, month_of_year: fields.month_of_year,
      };
      if (timezone === undefined || timezone === options.timezone) return { __type__: 'crontab', ...cron };
      if (compatible) return refuse(`a crontab with its own time zone (${timezone})`);
      return { __type__: `${CELERIAC_TAG}crontab`, ...cron, timezone };
    }
    case 'rrule': {
      const { type: _t, ...fields } = json;
      return { __type__: 'rrule', ...fields };
    }
    case 'solar':
    case 'clocked': {
      if (compatible) return refuse(`a ${json.type} schedule`);
      const { type, ...fields } = json;
      return { __type__: `${CELERIAC_TAG}${type}`, ...fields };
    }
    default:
      throw new UnrepresentableScheduleError(`beat entry ${JSON.stringify(name)}: unknown schedule type ${JSON.stringify((json as { type: unknown }).type)}`);
  }
}

/** RedBeat's tagged schedule (or celeriac's) to the plain form. */
export function decodeSchedule(raw: unknown): ScheduleJSON {
  if (!isPlainObject(raw) || typeof raw.__type__ !== 'string') throw new TypeError(`schedule is not a tagged object: ${JSON.stringify(raw)}`);
  const { __type__: tag, ...fields } = raw;
  const type = (tag as string).startsWith(CELERIAC_TAG) ? (tag as string).slice(CELERIAC_TAG.length) : tag;
  switch (type) {
    case 'interval':
      if (typeof fields.every !== 'number') throw new TypeError(`interval every is ${JSON.stringify(fields.every)}`);
      return { type: 'interval', every: fields.every, relative: Boolean(fields.relative) };
    case 'crontab': {
      const f = (k: string) => (fields[k] ?? '*') as CronSpec;
      const out = { type: 'crontab' as const, minute: f('minute'), hour: f('hour'), day_of_week: f('day_of_week'), day_of_month: f('day_of_month'), month_of_year: f('month_of_year') };
      return typeof fields.timezone === 'string' ? { ...out, timezone: fields.timezone } : out;
    }
    case 'rrule':
      return { type: 'rrule', ...fields };
    case 'solar':
      return { type: 'solar', event: String(fields.event), lat: Number(fields.lat), lon: Number(fields.lon) };
    case 'clocked':
      return { type: 'clocked', at: String(fields.at) };
    default:
      throw new TypeError(`unknown schedule type ${JSON.stringify(tag)}`);
  }
}

// ---------------------------------------------------------------------------------------------
// definition and meta
// ---------------------------------------------------------------------------------------------

/** The `definition` field's text, as Python's `json.dumps(..., cls=RedBeatJSONEncoder)` writes it. */
export function encodeDefinition(def: EntryDefinition, options: Omit<RedBeatCodecOptions, 'fromJSON'> = {}): string {
  return stringifyKombuJson({
    name: def.name,
    task: def.task,
    args: encodeValue(def.args),
    kwargs: encodeValue(def.kwargs),
    options: encodeValue(def.options),
    schedule: encodeSchedule(def.schedule.toJSON(), options, def.name),
    enabled: def.enabled,
  } as PyValue);
}

/** Parses the `definition` field (Python's or ours); throws on what cannot be read. */
export function decodeDefinition(text: string, fromJSON: (json: ScheduleJSON) => Schedule, fallbackName?: string): EntryDefinition {
  const d = parseKombuJson(text) as unknown;
  if (!isPlainObject(d)) throw new TypeError('definition is not an object');
  const name = typeof d.name === 'string' ? d.name : fallbackName;
  if (name === undefined) throw new TypeError('definition has no name');
  if (typeof d.task !== 'string') throw new TypeError(`definition task is ${JSON.stringify(d.task)}`);
  const args = d.args == null ? [] : decodeValue(d.args);
  const kwargs = d.kwargs == null ? {} : decodeValue(d.kwargs);
  const options = d.options == null ? {} : decodeValue(d.options);
  if (!Array.isArray(args)) throw new TypeError('definition args is not a list');
  if (!isPlainObject(kwargs) || !isPlainObject(options)) throw new TypeError('definition kwargs/options is not a dict');
  return {
    name,
    task: d.task,
    schedule: fromJSON(decodeSchedule(d.schedule)),
    args,
    kwargs: kwargs as Record<string, PyValue>,
    options: options as Record<string, PyValue>,
    enabled: d.enabled === undefined ? true : Boolean(d.enabled),
  };
}

/**
 * The `meta` field's text, `last_run_at` in `zone` (the app's, as Python's beat writes `app.now()`):
 * Celery's crontab reads the wall-clock fields of `last_run_at` in the datetime's own zone, so a UTC
 * `last_run_at` would make a Python beat run a crontab at the UTC hour.
 */
export function encodeMeta(meta: EntryMeta, zone = 'UTC'): string {
  return stringifyKombuJson({
    last_run_at: meta.lastRunAt === null ? null : encodeDateTime(meta.lastRunAt, zone),
    total_run_count: meta.totalRunCount,
  } as unknown as PyValue);
}

/** Parses the `meta` field (absent: never ran). */
export function decodeMeta(text: string | null | undefined): EntryMeta {
  if (!text) return { lastRunAt: null, totalRunCount: 0 };
  const m = parseKombuJson(text) as unknown;
  if (!isPlainObject(m)) throw new TypeError('meta is not an object');
  const last = m.last_run_at;
  let lastRunAt: number | null = null;
  if (isRedBeatDateTime(last)) lastRunAt = decodeDateTime(last);
  else if (last != null) throw new TypeError(`meta last_run_at is ${JSON.stringify(last)}`);
  const count = m.total_run_count;
  return { lastRunAt, totalRunCount: typeof count === 'number' ? count : 0 };
}

/**
 * The sorted-set score RedBeat gives a due instant: `calendar.timegm(due.utctimetuple())`, whole seconds
 * (truncated); -1 for never (RedBeat's scores below zero are never loaded).
 */
export function redbeatScore(dueAt: number | null): number {
  return dueAt === null ? -1 : Math.floor(dueAt / 1000);
}
