/**
 * RedBeat's `rrule` schedule (redbeat/schedules.py): an RFC 5545 recurrence rule, evaluated as
 * python-dateutil's `rrule` evaluates it. Entries in RedBeat's Redis store may carry one; celeriac
 * reads them ({@link rruleFromJSON}) and writes them back in the same JSON ({@link RRuleSchedule.toJSON}).
 *
 * Semantics (RedBeat's): `remaining_estimate(last_run_at)` is the first occurrence strictly after
 * `last_run_at` (`rrule.after`) minus now, or None when the rule has no occurrence left (count or until
 * used up); `is_due` is (False, None) then, else Celery's usual: due when the estimate is <= 0, and the
 * next check is the estimate from now.
 *
 * Wall clock: dateutil expands the rule in `dtstart`'s time zone. RedBeat stores `dtstart` as a UTC
 * timestamp plus its UTC offset in minutes (`dtstart_tz`), and decodes it to a fixed-offset zone, so a
 * rule read from Redis always runs on a fixed offset (no daylight saving time): so does this one.
 *
 * Expansion is done by the `rrule` npm package (a port of dateutil's rrule) for YEARLY to DAILY, fed
 * wall-clock instants (UTC instants shifted by the offset). HOURLY, MINUTELY and SECONDLY rules are
 * expanded here ({@link SubDaily}), as dateutil steps them: the package's sub-daily stepping carries
 * minutes and hours wrongly when byhour/byminute/bysecond are given (it can loop for minutes, or skip
 * occurrences). Where the package and dateutil read options differently, dateutil's reading is used:
 * dtstart loses its sub-second part; an empty `byyearday` or `byeaster` list means "given, no filter";
 * `byeaster` (one offset, freq YEARLY only: the package forces YEARLY) is supported, several offsets
 * are refused, and so is byweekno on a sub-daily rule. Values that can never match (bymonthday 0,
 * byhour 24, ...), which dateutil accepts and then never matches, are refused.
 */
import { createRequire } from 'node:module';
import type * as RRuleModule from 'rrule';
import { pyNumberRepr } from '../../../protocol/repr.ts';
import type { Schedule, ScheduleContext, ScheduleJSON, ScheduleState } from './base.ts';
import { SubDaily } from './rrule-subdaily.ts';

// the rrule package is loaded on first use: an app without rrule entries does not pay for it at start
let rrulePkg: typeof RRuleModule | undefined;
const pkg = (): typeof RRuleModule => (rrulePkg ??= createRequire(import.meta.url)('rrule') as typeof RRuleModule);
type Engine = InstanceType<typeof RRuleModule.RRule>;
type EngineWeekday = InstanceType<typeof RRuleModule.Weekday>;

export const FREQUENCIES = ['YEARLY', 'MONTHLY', 'WEEKLY', 'DAILY', 'HOURLY', 'MINUTELY', 'SECONDLY'] as const;
const WEEKDAY_NAMES = ['MO', 'TU', 'WE', 'TH', 'FR', 'SA', 'SU'] as const;
const YEARLY = 0;
const HOURLY = 4;

/** dateutil's `weekday` instance (`MO`, `FR(+1)`): a weekday, and for MONTHLY/YEARLY its nth in the period. */
export class RRuleWeekday {
  constructor(readonly weekday: number, readonly n: number | null = null) {
    if (!Number.isInteger(weekday) || weekday < 0 || weekday > 6) throw new RangeError(`rrule: weekday must be 0 (MO) to 6 (SU), got ${String(weekday)}`);
    if (n !== null && (!Number.isInteger(n) || n === 0)) throw new RangeError(`rrule: a weekday's n must be a non-zero integer, got ${String(n)}`);
  }

  /** dateutil's repr: `MO`, `FR(+1)`, `SU(-1)`. */
  toString(): string {
    const name = WEEKDAY_NAMES[this.weekday]!;
    return this.n ? `${name}(${this.n > 0 ? '+' : ''}${this.n})` : name;
  }

  /** RedBeat's JSON for a weekday (`{"__type__": "weekday", "wkday": 4}`), with `n` when there is one. */
  toJSON(): { __type__: 'weekday'; wkday: number; n?: number } {
    return this.n ? { __type__: 'weekday', wkday: this.weekday, n: this.n } : { __type__: 'weekday', wkday: this.weekday };
  }
}

/** A weekday as given: 0..6 (MO..SU, a plain int), `'MO'`, `'+1FR'`, `'FR(-1)'`, `{weekday, n}`, or RedBeat's JSON. */
export type WeekdayInput = number | string | RRuleWeekday | { weekday: number; n?: number | null } | { __type__: 'weekday'; wkday: number; n?: number | null };
type Weekdayish = number | RRuleWeekday;
type Instant = Date | string | number;
type IntList = number | readonly number[];

export interface RRuleOptions {
  /** dateutil's frequency: 0 (YEARLY) to 6 (SECONDLY), or its name (any case). */
  freq: number | string;
  /** First occurrence: a Date, epoch milliseconds or ISO text (no offset: UTC). Default: now. */
  dtstart?: Instant | null;
  /** UTC offset of the wall clock the rule runs on, minutes east (RedBeat's `dtstart_tz`). Default: an ISO dtstart's own offset, else 0. */
  dtstartTz?: number;
  interval?: number;
  wkst?: WeekdayInput | null;
  count?: number | null;
  until?: Instant | null;
  /** The offset `until` is shown in (RedBeat's `until_tz`); it does not change the instant. */
  untilTz?: number;
  bysetpos?: IntList | null;
  bymonth?: IntList | null;
  bymonthday?: IntList | null;
  byyearday?: IntList | null;
  byeaster?: IntList | null;
  byweekno?: IntList | null;
  byweekday?: WeekdayInput | readonly WeekdayInput[] | null;
  byhour?: IntList | null;
  byminute?: IntList | null;
  bysecond?: IntList | null;
}

const ISO_OFFSET = /(Z|[+-]\d\d:?\d\d)$/i;
const NAIVE_DATE_TIME = /^\d{4}-\d\d-\d\d([T ]\d\d:\d\d(:\d\d(\.\d+)?)?)?$/;

function toInstant(value: Instant, field: string): number {
  let ms = Number.NaN;
  if (value instanceof Date) ms = value.getTime();
  else if (typeof value === 'number') ms = value;
  else if (typeof value === 'string') {
    const text = value.trim();
    ms = Date.parse(NAIVE_DATE_TIME.test(text) ? `${text.replace(' ', 'T')}${text.length > 10 ? 'Z' : ''}` : text);
  }
  if (!Number.isFinite(ms)) throw new RangeError(`rrule: ${field} is not a valid instant: ${String(value)}`);
  return ms;
}

/** The UTC offset (minutes) written in ISO text, or undefined. */
function isoOffset(value: unknown): number | undefined {
  if (typeof value !== 'string') return undefined;
  const m = ISO_OFFSET.exec(value.trim());
  if (!m || NAIVE_DATE_TIME.test(value.trim())) return undefined;
  if (m[1]!.toUpperCase() === 'Z') return 0;
  const digits = m[1]!.replace(':', '');
  return (digits[0] === '-' ? -1 : 1) * (Number(digits.slice(1, 3)) * 60 + Number(digits.slice(3, 5)));
}

function toOffset(value: number | undefined, fallback: number, field: string): number {
  const minutes = value ?? fallback;
  if (!Number.isFinite(minutes) || Math.abs(minutes) >= 24 * 60) throw new RangeError(`rrule: ${field} must be a UTC offset in minutes, got ${String(value)}`);
  return minutes;
}

function toWeekday(value: WeekdayInput, field: string): Weekdayish {
  if (typeof value === 'number') {
    if (!Number.isInteger(value) || value < 0 || value > 6) throw new RangeError(`rrule: ${field} must be 0 (MO) to 6 (SU), got ${value}`);
    return value;
  }
  if (value instanceof RRuleWeekday) return value;
  if (typeof value === 'string') {
    const m = /^([+-]?\d+)?(MO|TU|WE|TH|FR|SA|SU)(?:\(([+-]?\d+)\))?$/i.exec(value.trim());
    if (!m || (m[1] !== undefined && m[3] !== undefined)) throw new RangeError(`rrule: ${field}: not a weekday: ${JSON.stringify(value)}`);
    const n = m[1] ?? m[3];
    return new RRuleWeekday(WEEKDAY_NAMES.indexOf(m[2]!.toUpperCase() as (typeof WEEKDAY_NAMES)[number]), n === undefined ? null : Number(n));
  }
  if (value && typeof value === 'object') {
    const day = 'wkday' in value ? value.wkday : value.weekday;
    return new RRuleWeekday(day, value.n ?? null);
  }
  throw new TypeError(`rrule: ${field}: not a weekday: ${String(value)}`);
}

/** Integer limits per field: values dateutil would never match are refused. */
const LIMITS: Record<string, [number, number, boolean]> = {
  // field: [min, max, may be negative (then -max..-1 too)]
  bysetpos: [1, 366, true], bymonth: [1, 12, false], bymonthday: [1, 31, true], byyearday: [1, 366, true],
  byeaster: [-366, 366, false], byweekno: [1, 53, true], byhour: [0, 23, false], byminute: [0, 59, false],
  bysecond: [0, 59, false],
};

function toIntList(value: IntList | null | undefined, field: string): number | number[] | null {
  if (value === null || value === undefined) return null;
  const [min, max, negative] = LIMITS[field]!;
  const check = (v: unknown): number => {
    const ok = typeof v === 'number' && Number.isInteger(v) && ((v >= min && v <= max) || (negative && v <= -min && v >= -max));
    if (ok) return v;
    if (field === 'bysetpos') throw new RangeError('bysetpos must be between 1 and 366, or between -366 and -1'); // dateutil's
    throw new RangeError(`rrule: ${field} values must be integers from ${negative ? `-${max} to -${min} or ` : ''}${min} to ${max}, got ${String(v)}`);
  };
  if (typeof value === 'number') return check(value);
  if (!Array.isArray(value)) throw new TypeError(`rrule: ${field} must be an integer, a list of integers or null`);
  return value.map(check);
}

const asArray = <T>(v: T | readonly T[]): T[] => (Array.isArray(v) ? [...(v as readonly T[])] : [v as T]);
/** A byxxx list for the package: deduplicated and sorted, as dateutil keeps them (the package emits a day's times in the given order). */
const sorted = (v: number | number[] | null) => (v === null ? null : [...new Set(asArray(v))].sort((a, b) => a - b));

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** Python's `str()` of an aware datetime with a fixed offset (minutes): `2024-01-01 09:30:00+02:00`. */
function pyDatetimeStr(ms: number, offsetMinutes: number): string {
  const d = new Date(ms + offsetMinutes * 60_000);
  const frac = d.getUTCMilliseconds() ? `.${pad(d.getUTCMilliseconds() * 1000, 6)}` : '';
  const off = Math.abs(offsetMinutes);
  return `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} `
    + `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}${frac}`
    + `${offsetMinutes < 0 ? '-' : '+'}${pad(Math.floor(off / 60))}:${pad(Math.floor(off % 60))}`;
}

/** Python's `str()` of a field as RedBeat holds it (None, an int, a list, a weekday). */
function pyStr(value: unknown): string {
  if (value === null || value === undefined) return 'None';
  if (typeof value === 'number') return pyNumberRepr(value);
  if (Array.isArray(value)) return `[${value.map(pyStr).join(', ')}]`;
  return String(value);
}

const jsonValue = (v: Weekdayish | Weekdayish[] | null) => (v instanceof RRuleWeekday ? v.toJSON() : Array.isArray(v) ? v.map((x) => (x instanceof RRuleWeekday ? x.toJSON() : x)) : v);

export class RRuleSchedule implements Schedule {
  readonly kind = 'rrule' as const;
  readonly freq: number;
  /** First occurrence, epoch ms (whole seconds, as dateutil keeps it). */
  readonly dtstart: number;
  /** UTC offset of the rule's wall clock, minutes east. */
  readonly dtstartTz: number;
  readonly interval: number;
  readonly wkst: Weekdayish | null;
  readonly count: number | null;
  readonly until: number | null;
  readonly untilTz: number;
  readonly bysetpos: number | number[] | null;
  readonly bymonth: number | number[] | null;
  readonly bymonthday: number | number[] | null;
  readonly byyearday: number | number[] | null;
  readonly byeaster: number | number[] | null;
  readonly byweekno: number | number[] | null;
  readonly byweekday: Weekdayish | Weekdayish[] | null;
  readonly byhour: number | number[] | null;
  readonly byminute: number | number[] | null;
  readonly bysecond: number | number[] | null;
  /** The `rrule` package's rule (YEARLY to DAILY), or null: sub-daily rules are expanded by {@link SubDaily}. */
  private readonly engine: Engine | null;
  private readonly subDaily: SubDaily | null;

  constructor(options: RRuleOptions) {
    const { freq } = options;
    if (typeof freq === 'string') {
      const i = (FREQUENCIES as readonly string[]).indexOf(freq.toUpperCase());
      if (i < 0) throw new RangeError(`rrule: unknown freq ${JSON.stringify(freq)}: one of ${FREQUENCIES.join(', ')}`);
      this.freq = i;
    } else if (Number.isInteger(freq) && freq >= 0 && freq <= 6) {
      this.freq = freq;
    } else {
      throw new RangeError(`rrule: freq must be 0 (YEARLY) to 6 (SECONDLY) or a name, got ${String(freq)}`);
    }
    const start = options.dtstart === null || options.dtstart === undefined ? Date.now() : toInstant(options.dtstart, 'dtstart');
    this.dtstart = Math.floor(start / 1000) * 1000;
    this.dtstartTz = toOffset(options.dtstartTz, isoOffset(options.dtstart) ?? 0, 'dtstartTz');
    this.interval = options.interval ?? 1;
    if (!Number.isInteger(this.interval) || this.interval < 1) throw new RangeError(`rrule: interval must be a positive integer, got ${String(options.interval)}`);
    this.wkst = options.wkst === null || options.wkst === undefined ? null : toWeekday(options.wkst, 'wkst');
    this.count = options.count ?? null;
    if (this.count !== null && (!Number.isInteger(this.count) || this.count < 0)) throw new RangeError(`rrule: count must be a non-negative integer, got ${String(this.count)}`);
    // Occurrences fall on whole seconds, so a whole-second until keeps the same ones (and is what RedBeat's JSON keeps).
    this.until = options.until === null || options.until === undefined ? null : Math.floor(toInstant(options.until, 'until') / 1000) * 1000;
    this.untilTz = toOffset(options.untilTz, isoOffset(options.until) ?? 0, 'untilTz');
    this.bysetpos = toIntList(options.bysetpos, 'bysetpos');
    this.bymonth = toIntList(options.bymonth, 'bymonth');
    this.bymonthday = toIntList(options.bymonthday, 'bymonthday');
    this.byyearday = toIntList(options.byyearday, 'byyearday');
    this.byeaster = toIntList(options.byeaster, 'byeaster');
    this.byweekno = toIntList(options.byweekno, 'byweekno');
    const wd = options.byweekday;
    this.byweekday = wd === null || wd === undefined ? null : Array.isArray(wd) ? wd.map((w: WeekdayInput) => toWeekday(w, 'byweekday')) : toWeekday(wd as WeekdayInput, 'byweekday');
    this.byhour = toIntList(options.byhour, 'byhour');
    this.byminute = toIntList(options.byminute, 'byminute');
    this.bysecond = toIntList(options.bysecond, 'bysecond');
    if (this.freq >= HOURLY) {
      if (this.byweekno !== null) throw new RangeError('rrule: byweekno is supported with freq YEARLY to DAILY only');
      if (this.byeaster !== null) throw new RangeError('rrule: byeaster is supported with freq YEARLY only');
      this.engine = null;
      this.subDaily = new SubDaily(this);
    } else {
      this.engine = this.build();
      this.subDaily = null;
    }
  }

  /** The `rrule` package's rule on the wall clock (instants shifted by the offset), read as dateutil reads the options. */
  private build(): Engine {
    const shift = this.dtstartTz * 60_000;
    let byyearday = sorted(this.byyearday);
    let byeaster: number | null = null;
    if (this.byeaster !== null) {
      const offsets = asArray(this.byeaster);
      if (offsets.length > 1) throw new RangeError('rrule: byeaster with more than one offset is not supported');
      if (offsets.length === 1) {
        if (this.freq !== YEARLY) throw new RangeError('rrule: byeaster is supported with freq YEARLY only');
        byeaster = offsets[0]!;
      }
    }
    // dateutil: a list given empty is "given" (no default from dtstart) but filters nothing; the package
    // takes an empty byyearday as not given. Every day of the year filters nothing and counts as given.
    const emptyGiven = (byyearday !== null && byyearday.length === 0) || (this.byeaster !== null && byeaster === null);
    if (emptyGiven && (byyearday === null || byyearday.length === 0)) byyearday = Array.from({ length: 366 }, (_, i) => i + 1);
    const { RRule, Weekday } = pkg();
    const weekday = (w: Weekdayish): number | EngineWeekday => (typeof w === 'number' ? w : new Weekday(w.weekday, w.n ?? undefined));
    return new RRule({
      freq: this.freq,
      dtstart: new Date(this.dtstart + shift),
      interval: this.interval,
      wkst: this.wkst === null ? null : typeof this.wkst === 'number' ? this.wkst : this.wkst.weekday,
      count: this.count,
      until: this.until === null ? null : new Date(this.until + shift),
      bysetpos: sorted(this.bysetpos),
      bymonth: sorted(this.bymonth),
      bymonthday: sorted(this.bymonthday),
      byyearday,
      byeaster,
      byweekno: sorted(this.byweekno),
      byweekday: this.byweekday === null ? null : asArray(this.byweekday).map(weekday),
      byhour: sorted(this.byhour),
      byminute: sorted(this.byminute),
      bysecond: sorted(this.bysecond),
    }, true);
  }

  /** dateutil's `rrule.after(instant)`: the first occurrence strictly after it (epoch ms), or null. */
  after(instant: number): number | null {
    if (this.subDaily) return this.subDaily.after(instant);
    const shift = this.dtstartTz * 60_000;
    const next = this.engine!.after(new Date(instant + shift), false);
    return next ? next.getTime() - shift : null;
  }

  /** RedBeat's `remaining_estimate`: next occurrence after lastRunAt minus now, or null when exhausted. */
  remainingEstimate(lastRunAt: number, now: number, _ctx?: ScheduleContext): number | null {
    const next = this.after(lastRunAt);
    return next === null ? null : next - now;
  }

  /** RedBeat's `is_due`. */
  isDue(lastRunAt: number, now: number, ctx?: ScheduleContext): ScheduleState {
    const rem = this.remainingEstimate(lastRunAt, now, ctx);
    if (rem === null) return { isDue: false, next: null };
    const seconds = Math.max(rem / 1000, 0);
    if (seconds !== 0) return { isDue: false, next: seconds };
    const again = this.remainingEstimate(now, now, ctx);
    return { isDue: true, next: again === null ? null : Math.max(again / 1000, 0) };
  }

  /** RedBeat's RRULE_REPR. */
  toString(): string {
    const f = (v: unknown) => pyStr(v);
    return `<rrule: freq: ${this.freq}, dtstart: ${pyDatetimeStr(this.dtstart, this.dtstartTz)}, interval: ${f(this.interval)}, `
      + `wkst: ${f(this.wkst)}, count: ${f(this.count)}, until: ${this.until === null ? 'None' : pyDatetimeStr(this.until, this.untilTz)}, `
      + `bysetpos: ${f(this.bysetpos)}, bymonth: ${f(this.bymonth)}, bymonthday: ${f(this.bymonthday)}, `
      + `byyearday: ${f(this.byyearday)}, byeaster: ${f(this.byeaster)}, byweekno: ${f(this.byweekno)}, `
      + `byweekday: ${f(this.byweekday)}, byhour: ${f(this.byhour)}, byminute: ${f(this.byminute)}, bysecond: ${f(this.bysecond)}>`;
  }

  /**
   * RedBeat's JSON (RedBeatJSONEncoder) without its `__type__`, which the store codec adds: freq as an
   * int, dtstart/until as UTC timestamps in whole seconds with their offsets in minutes, weekday
   * objects as `{"__type__": "weekday", "wkday": n}` (plus `n` when set, which RedBeat drops).
   */
  toJSON(): ScheduleJSON {
    const json: { type: 'rrule'; [field: string]: unknown } = {
      type: 'rrule', freq: this.freq, interval: this.interval, wkst: jsonValue(this.wkst), count: this.count,
      bysetpos: this.bysetpos, bymonth: this.bymonth, bymonthday: this.bymonthday, byyearday: this.byyearday,
      byeaster: this.byeaster, byweekno: this.byweekno, byweekday: jsonValue(this.byweekday), byhour: this.byhour,
      byminute: this.byminute, bysecond: this.bysecond,
      dtstart: Math.floor(this.dtstart / 1000), dtstart_tz: this.dtstartTz,
    };
    if (this.until !== null) Object.assign(json, { until: Math.floor(this.until / 1000), until_tz: this.untilTz });
    return json;
  }
}

/** RedBeat's `rrule(freq, dtstart=..., ...)`. */
export function rrule(options: RRuleOptions): RRuleSchedule {
  return new RRuleSchedule(options);
}

/**
 * Reads RedBeat's JSON for an rrule (with `type` or `__type__`, or neither): dtstart and until in
 * seconds since the epoch with `dtstart_tz` / `until_tz` in minutes, weekdays as ints or RedBeat's
 * weekday objects.
 */
export function rruleFromJSON(json: Readonly<Record<string, unknown>>): RRuleSchedule {
  const known = new Set(['type', '__type__', 'freq', 'dtstart', 'dtstart_tz', 'interval', 'wkst', 'count', 'until', 'until_tz',
    'bysetpos', 'bymonth', 'bymonthday', 'byyearday', 'byeaster', 'byweekno', 'byweekday', 'byhour', 'byminute', 'bysecond']);
  const unknown = Object.keys(json).filter((k) => !known.has(k));
  if (unknown.length) throw new TypeError(`rrule: unexpected field(s) ${unknown.join(', ')}`); // RedBeat's rrule(**d) raises TypeError too
  const seconds = (v: unknown, field: string): number | null => {
    if (v === null || v === undefined) return null;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new TypeError(`rrule: ${field} must be seconds since the epoch, got ${JSON.stringify(v)}`);
    return v * 1000;
  };
  const minutes = (v: unknown, field: string): number | undefined => {
    if (v === null || v === undefined) return undefined;
    if (typeof v !== 'number') throw new TypeError(`rrule: ${field} must be minutes, got ${JSON.stringify(v)}`);
    return v;
  };
  const j = json as Record<string, never>;
  if (json.freq === undefined) throw new TypeError('rrule: freq is missing');
  return new RRuleSchedule({
    freq: json.freq as number | string, dtstart: seconds(json.dtstart, 'dtstart'), dtstartTz: minutes(json.dtstart_tz, 'dtstart_tz'),
    interval: j.interval ?? 1, wkst: j.wkst, count: j.count, until: seconds(json.until, 'until'), untilTz: minutes(json.until_tz, 'until_tz'),
    bysetpos: j.bysetpos, bymonth: j.bymonth, bymonthday: j.bymonthday, byyearday: j.byyearday, byeaster: j.byeaster,
    byweekno: j.byweekno, byweekday: j.byweekday, byhour: j.byhour, byminute: j.byminute, bysecond: j.bysecond,
  });
}
