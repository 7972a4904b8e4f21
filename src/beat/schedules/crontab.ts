/**
 * Celery's `crontab` schedule (celery/schedules.py), ported from Celery 5.6: the same fields, parser,
 * errors, repr and next-run arithmetic (`remaining_delta`, `_delta_to_next`, `ffwd`, `remaining`),
 * done on the wall clock of the app's zone (or the entry's own `timezone`) as Python does on aware
 * datetimes, and `is_due` with `beat_cron_starting_deadline`.
 *
 * Around DST celeriac differs from Python Celery on purpose, in two cases only (`dst: 'celeriac'`, the
 * default); `dst: 'celery'` gives Python's answer instant for instant:
 * - gap: a wall time the spring change skips runs when the gap ends (Python: `gap length` later, e.g.
 *   a 02:30 entry at 03:30, merged with a 03:30 run);
 * - repeat: a wall time of the repeated autumn hour runs once, at its first occurrence. Python also
 *   does, except when the last run is in the second pass: then it takes the first occurrence, already
 *   past, and the entry is due again on every beat tick until the wall clock reaches it again.
 */
import type { CronSpec, Schedule, ScheduleContext, ScheduleJSON, ScheduleState } from './base.ts';
import { CronParseError, CrontabParser } from './crontab-parser.ts';
import { civilToDays, daysInMonth, fieldsOf, localOf, msToUs, US_PER_DAY, Zone } from './zone.ts';

export { CronParseError, CrontabParser, pyRepr, weekday, yearmonth } from './crontab-parser.ts';

/** How wall times that DST skips or repeats are run: celeriac's fixes (default) or Python Celery's. */
export type DstMode = 'celeriac' | 'celery';

export interface CrontabFields {
  minute?: CronSpec; hour?: CronSpec;
  dayOfWeek?: CronSpec; dayOfMonth?: CronSpec; monthOfYear?: CronSpec;
  day_of_week?: CronSpec; day_of_month?: CronSpec; month_of_year?: CronSpec;
  /** The entry's own IANA zone, instead of the app's. */
  timezone?: string;
  /** `'celery'`: Python Celery's DST behaviour, for comparison (`celeriac crontab --celery-exact`). */
  dst?: DstMode;
}

export interface CrontabOrig {
  minute: CronSpec; hour: CronSpec; dayOfWeek: CronSpec; dayOfMonth: CronSpec; monthOfYear: CronSpec;
}

/** A wall time in a zone and its instant (Python's aware datetime), both integer microseconds. */
interface Aware { readonly local: number; readonly instant: number }

/** Which DST case decided a run (celeriac mode), for tests and `explain`. */
export type DstCase = 'gap' | 'repeat' | null;

const CRON_INVALID_TYPE = (type: string) =>
  `Argument cronspec needs to be of any of the following types: int, str, or an iterable type. <class '${type}'> was given.`;

/** A field as a membership table plus sorted values. */
class Field {
  readonly values: readonly number[];
  readonly has: Uint8Array;
  readonly min: number;
  readonly max: number;
  /** nextAbove[i]: the smallest value > i, or -1. */
  private readonly nextAbove: Int16Array;
  constructor(readonly set: ReadonlySet<number>, size: number) {
    this.values = [...set].sort((a, b) => a - b);
    this.has = new Uint8Array(size + 1);
    for (const v of this.values) this.has[v] = 1;
    this.min = this.values[0]!;
    this.max = this.values[this.values.length - 1]!;
    this.nextAbove = new Int16Array(size + 1).fill(-1);
    let next = -1;
    for (let i = size; i >= 0; i--) {
      this.nextAbove[i] = next;
      if (this.has[i]) next = i;
    }
  }
  above(i: number): number {
    return this.nextAbove[i]!;
  }
}

/** Python's str() of a spec, as the repr shows it. */
function pyStr(spec: CronSpec): string {
  if (typeof spec === 'string') return spec;
  if (typeof spec === 'number') return String(spec);
  return `[${spec.join(', ')}]`;
}

/** Celery's `crontab._expand_cronspec`. */
function expand(spec: CronSpec | null, max: number, min: number): Set<number> {
  let result: Set<number>;
  if (typeof spec === 'number') {
    if (!Number.isInteger(spec)) throw new CronParseError('TypeError', CRON_INVALID_TYPE('float'));
    result = new Set([spec]);
  } else if (typeof spec === 'string') result = new CrontabParser(max, min).parse(spec);
  else if (Array.isArray(spec)) result = new Set(spec as number[]);
  else throw new CronParseError('TypeError', CRON_INVALID_TYPE(spec === null ? 'NoneType' : typeof spec));
  for (const n of result) {
    if (typeof n !== 'number' || !Number.isInteger(n) || n >= max + min || n < min) {
      throw new CronParseError('ValueError', `Invalid crontab pattern.  Valid range is ${min}-${max - 1 + min}. '${String(n)}' was found.`);
    }
  }
  if (result.size === 0) throw new CronParseError('ValueError', 'max() arg is an empty sequence');
  return result;
}

export class CrontabSchedule implements Schedule {
  readonly kind = 'crontab' as const;
  /** The specs as given (Celery's `_orig_*`). */
  readonly orig: Readonly<CrontabOrig>;
  readonly minute: ReadonlySet<number>;
  readonly hour: ReadonlySet<number>;
  readonly dayOfWeek: ReadonlySet<number>;
  readonly dayOfMonth: ReadonlySet<number>;
  readonly monthOfYear: ReadonlySet<number>;
  readonly timezone: string | undefined;
  readonly dst: DstMode;
  private readonly f: { minute: Field; hour: Field; dow: Field; dom: Field; moy: Field };
  private readonly allDomMoy: boolean;

  constructor(fields: CrontabFields = {}) {
    const pick = (a: CronSpec | undefined, b: CronSpec | undefined): CronSpec => a ?? b ?? '*';
    const orig: CrontabOrig = {
      minute: fields.minute ?? '*',
      hour: fields.hour ?? '*',
      dayOfWeek: pick(fields.dayOfWeek, fields.day_of_week),
      dayOfMonth: pick(fields.dayOfMonth, fields.day_of_month),
      monthOfYear: pick(fields.monthOfYear, fields.month_of_year),
    };
    this.orig = Object.freeze(orig);
    // Celery's order, so the first invalid field reported is the same
    this.hour = expand(orig.hour, 24, 0);
    this.minute = expand(orig.minute, 60, 0);
    this.dayOfWeek = expand(orig.dayOfWeek, 7, 0);
    this.dayOfMonth = expand(orig.dayOfMonth, 31, 1);
    this.monthOfYear = expand(orig.monthOfYear, 12, 1);
    this.f = {
      minute: new Field(this.minute, 59), hour: new Field(this.hour, 23), dow: new Field(this.dayOfWeek, 6),
      dom: new Field(this.dayOfMonth, 31), moy: new Field(this.monthOfYear, 12),
    };
    this.allDomMoy = orig.dayOfMonth === '*' && orig.monthOfYear === '*';
    if (fields.timezone !== undefined) Zone.get(fields.timezone);
    this.timezone = fields.timezone;
    this.dst = fields.dst ?? 'celeriac';
  }

  /** Celery's `crontab.from_string`: `'minute hour day_of_month month_of_year day_of_week'`, single spaces. */
  static fromString(expr: string, opts: { timezone?: string; dst?: DstMode } = {}): CrontabSchedule {
    const parts = expr.split(' ');
    if (parts.length < 5) throw new CronParseError('ValueError', `not enough values to unpack (expected 5, got ${parts.length})`);
    if (parts.length > 5) throw new CronParseError('ValueError', 'too many values to unpack (expected 5)');
    const [minute, hour, dayOfMonth, monthOfYear, dayOfWeek] = parts as [string, string, string, string, string];
    return new CrontabSchedule({ minute, hour, dayOfWeek, dayOfMonth, monthOfYear, ...opts });
  }

  private zoneFor(ctx: ScheduleContext): Zone {
    return Zone.get(this.timezone ?? ctx.timezone);
  }

  /**
   * Python's `last_run_at + delta` of `remaining_delta`: the wall time (local microseconds) of the run
   * after `last`, with `now`'s date deciding `execute_this_hour` as in Celery.
   */
  private nextWall(last: Aware, nowLocal: number): number {
    const { minute, hour, dow, dom, moy } = this.f;
    const l = fieldsOf(last.local);
    const dowNum = (l.weekday + 1) % 7; // isoweekday() % 7: Sunday 0
    const thisDate = moy.has[l.month] === 1 && dom.has[l.day] === 1 && dow.has[dowNum] === 1;
    if (thisDate && hour.has[l.hour] === 1 && l.minute < minute.max) {
      const n = fieldsOf(nowLocal);
      if (l.day === n.day && l.month === n.month && l.year === n.year) {
        return localOf(l.year, l.month, l.day, l.hour, minute.above(l.minute));
      }
    }
    const nextMinute = minute.min;
    if (thisDate && l.hour < hour.max) return localOf(l.year, l.month, l.day, hour.above(l.hour), nextMinute);
    const nextHour = hour.min;
    if (this.allDomMoy) {
      let nextDay = dow.above(dowNum);
      if (nextDay < 0) nextDay = dow.min;
      const addWeek = nextDay === dowNum ? 1 : 0;
      const wd = (((nextDay - 1) % 7) + 7) % 7; // Python's weekday(): Monday 0
      const base = localOf(l.year, l.month, l.day, nextHour, nextMinute);
      return base + (((7 - l.weekday + wd) % 7) + addWeek * 7) * US_PER_DAY;
    }
    const [y, m, d] = this.deltaToNext(last.local, l.year, l.month, l.day, nextHour, nextMinute);
    return localOf(y, m, d, nextHour, nextMinute);
  }

  /** Celery's `_delta_to_next`: the next (year, month, day) the day and month fields allow. */
  private deltaToNext(lastLocal: number, year: number, month: number, day: number, nextHour: number, nextMinute: number): [number, number, number] {
    const days = this.f.dom.values;
    const months = this.f.moy.values;
    let dom: number;
    let moy: number;
    if (this.f.moy.has[month] === 1) {
      dom = bisectRight(days, day);
      moy = bisectLeft(months, month);
    } else {
      dom = 0;
      moy = bisectRight(months, month);
      if (moy === months.length) moy = 0;
    }
    const rollOver = (): void => {
      for (let i = 0; i < 2000; i++) {
        const flag = dom === days.length
          || days[dom]! > daysInMonth(year, months[moy]!) || year > 9999
          // is_before_last_run: same tzinfo on both sides, so Python compares wall clocks
          || localOf(year, months[moy]!, days[dom]!, nextHour, nextMinute) < lastLocal;
        if (!flag) return;
        dom = 0;
        moy += 1;
        if (moy === months.length) {
          moy = 0;
          year += 1;
        }
      }
      throw new CronParseError('RuntimeError', 'unable to rollover, time specification is probably invalid');
    };
    rollOver();
    for (;;) {
      const wd = ((civilToDays(year, months[moy]!, days[dom]!) + 4) % 7 + 7) % 7; // Sunday 0
      if (this.f.dow.has[wd] === 1) break;
      dom += 1;
      rollOver();
    }
    return [year, months[moy]!, days[dom]!];
  }

  /** The instant of the run after `last`, and the DST case that decided it (celeriac mode). */
  private resolve(zone: Zone, last: Aware, nowLocal: number, mode: DstMode): { at: number; dst: DstCase } {
    let wall = this.nextWall(last, nowLocal);
    if (mode === 'celery') return { at: zone.toInstant(wall, 0), dst: null };
    let dst: DstCase = null;
    for (let i = 0; i < 1000; i++) {
      const c = zone.classify(wall);
      if (c.kind === 'single') return { at: zone.toInstant(wall, 0), dst };
      if (c.kind === 'gap') return { at: c.end, dst: 'gap' };
      if (c.first > last.instant) return { at: c.first, dst };
      // this wall time already had its run in the first pass: go on from its second occurrence
      dst = 'repeat';
      last = { local: wall, instant: c.second };
      wall = this.nextWall(last, nowLocal);
    }
    throw new CronParseError('RuntimeError', 'unable to leave the repeated hour');
  }

  private remainingUs(zone: Zone, last: Aware, now: Aware, mode: DstMode = this.dst): number {
    return this.resolve(zone, last, now.local, mode).at - now.instant;
  }

  private aware(zone: Zone, instantMs: number): Aware {
    const instant = msToUs(instantMs);
    return { local: zone.toLocal(instant), instant };
  }

  remainingEstimate(lastRunAt: number, now: number, ctx: ScheduleContext): number {
    const zone = this.zoneFor(ctx);
    return this.remainingUs(zone, this.aware(zone, lastRunAt), this.aware(zone, now)) / 1000;
  }

  /**
   * The run after `lastRunAt` (milliseconds), Python Celery's (`celeryRunAt`), and which DST rule made
   * them differ (null when they agree).
   */
  explain(lastRunAt: number, now: number, ctx: ScheduleContext): { runAt: number; celeryRunAt: number; dstCase: DstCase } {
    const zone = this.zoneFor(ctx);
    const last = this.aware(zone, lastRunAt);
    const n = this.aware(zone, now);
    const mine = this.resolve(zone, last, n.local, this.dst);
    const py = this.resolve(zone, last, n.local, 'celery');
    return { runAt: mine.at / 1000, celeryRunAt: py.at / 1000, dstCase: mine.at === py.at ? null : mine.dst };
  }

  /** Celery's `crontab.is_due`, with `beat_cron_starting_deadline` from the context. */
  isDue(lastRunAt: number, now: number, ctx: ScheduleContext): ScheduleState {
    const zone = this.zoneFor(ctx);
    const last = this.aware(zone, lastRunAt);
    const nowA = this.aware(zone, now);
    let remDelta = this.remainingUs(zone, last, nowA);
    let remSecs = remDelta / 1e6;
    let rem = Math.max(remSecs, 0);
    let due = rem === 0;
    const deadline = ctx.cronStartingDeadline ?? null;
    let passed = false;
    if (deadline !== null) {
      let checked = last;
      let lastFeasible = remSecs;
      for (let guard = 0; remSecs < 0 && guard < 1_000_000; guard++) {
        // `last_date_checked + abs(rem_delta)`: wall-clock addition, fold 0
        const local = checked.local + Math.abs(remDelta);
        checked = { local, instant: zone.toInstant(local, 0) };
        remDelta = this.remainingUs(zone, checked, nowA);
        remSecs = remDelta / 1e6;
        if (remSecs < 0) lastFeasible = remSecs;
      }
      passed = -lastFeasible > deadline;
      if (passed) due = false;
    }
    if (due || passed) rem = Math.max(this.remainingUs(zone, nowA, nowA) / 1e6, 0);
    return { isDue: due, next: rem };
  }

  toString(): string {
    const o = this.orig;
    return `<crontab: ${pyStr(o.minute)} ${pyStr(o.hour)} ${pyStr(o.dayOfMonth)} ${pyStr(o.monthOfYear)} ${pyStr(o.dayOfWeek)} (m/h/dM/MY/d)>`;
  }

  toJSON(): ScheduleJSON {
    const o = this.orig;
    const json: ScheduleJSON = {
      type: 'crontab', minute: o.minute, hour: o.hour, day_of_week: o.dayOfWeek, day_of_month: o.dayOfMonth,
      month_of_year: o.monthOfYear,
    };
    if (this.timezone !== undefined) json.timezone = this.timezone;
    return json;
  }
}

function bisectRight(xs: readonly number[], x: number): number {
  let lo = 0, hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (x < xs[mid]!) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

function bisectLeft(xs: readonly number[], x: number): number {
  let lo = 0, hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (xs[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Celery's `crontab(minute='*', hour='*', day_of_week='*', day_of_month='*', month_of_year='*')`. */
export function crontab(fields?: CrontabFields): CrontabSchedule {
  return new CrontabSchedule(fields);
}
crontab.fromString = (expr: string, opts?: { timezone?: string; dst?: DstMode }): CrontabSchedule => CrontabSchedule.fromString(expr, opts);
