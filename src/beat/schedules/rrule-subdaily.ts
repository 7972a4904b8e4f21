/**
 * The sub-daily part of RedBeat's `rrule` schedule (./rrule.ts): HOURLY, MINUTELY and SECONDLY rules
 * stepped as dateutil steps them, because the `rrule` package's own stepping hangs or skips occurrences
 * for those with by-lists.
 */

/** The fields of a rule this expansion reads (an RRuleSchedule). */
export interface SubDailyRule {
  readonly freq: number;
  readonly dtstart: number;
  readonly dtstartTz: number;
  readonly interval: number;
  readonly count: number | null;
  readonly until: number | null;
  readonly bysetpos: number | number[] | null;
  readonly bymonth: number | number[] | null;
  readonly bymonthday: number | number[] | null;
  readonly byyearday: number | number[] | null;
  /** Weekdays 0..6 (MO..SU), plain or as `{weekday}` (an RRuleWeekday). */
  readonly byweekday: number | { readonly weekday: number } | readonly (number | { readonly weekday: number })[] | null;
  readonly byhour: number | number[] | null;
  readonly byminute: number | number[] | null;
  readonly bysecond: number | number[] | null;
}

const HOURLY = 4;
const asArray = <T>(v: T | readonly T[]): T[] => (Array.isArray(v) ? [...(v as readonly T[])] : [v as T]);
const mod = (a: number, b: number) => ((a % b) + b) % b;
const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
const set = (v: number | number[] | null) => (v === null ? null : new Set(asArray(v)));
/** 10000-01-01T00:00 in wall-clock seconds: dateutil stops at datetime.MAXYEAR. */
const END_OF_TIME = Date.UTC(10000, 0, 1) / 1000;

/**
 * dateutil's HOURLY / MINUTELY / SECONDLY expansion. Its counter starts at dtstart's hour (minute,
 * second) and only ever moves by whole intervals, also when it jumps over a day the day filters
 * remove, so the candidate periods are dtstart's, advanced by n intervals (n >= 0, wall clock). A
 * period counts when its hour (and minute, second, down to the freq's unit) is in byhour (byminute,
 * bysecond) and its day passes the day filters; it yields its time set (HOURLY: byminute x bysecond,
 * MINUTELY: bysecond, defaulting to dtstart's), cut by bysetpos, at or after dtstart, up to until and
 * count. Times here are wall-clock seconds (UTC seconds plus the offset).
 */
export class SubDaily {
  private readonly offset: number;
  private readonly step: number;
  private readonly unit: number;
  private readonly start: number;
  private readonly base: number;
  private readonly until: number | null;
  private readonly count: number | null;
  private readonly hours: Set<number> | null;
  private readonly minutes: Set<number> | null;
  private readonly seconds: Set<number> | null;
  /** Offsets (seconds) of the occurrences within a period, after bysetpos. */
  private readonly times: number[];
  private readonly months: Set<number> | null;
  private readonly monthdays: Set<number> | null;
  private readonly yeardays: Set<number> | null;
  private readonly weekdays: Set<number> | null;

  constructor(rule: SubDailyRule) {
    const freq = rule.freq;
    this.offset = rule.dtstartTz * 60;
    this.unit = freq === HOURLY ? 3600 : freq === HOURLY + 1 ? 60 : 1;
    this.step = rule.interval * this.unit;
    this.start = rule.dtstart / 1000 + this.offset;
    this.base = this.start - mod(this.start, this.unit);
    this.until = rule.until === null ? null : rule.until / 1000 + this.offset;
    this.count = rule.count;
    const [h0, m0, s0] = [Math.floor(mod(this.start, 86400) / 3600), Math.floor(mod(this.start, 3600) / 60), mod(this.start, 60)];
    // dateutil's __construct_byset: at the freq's own level, only the values the interval reaches
    const reachable = (values: Set<number> | null, start: number, base: number) => {
      if (values === null) return null;
      const g = gcd(rule.interval, base);
      const kept = new Set([...values].filter((v) => g === 1 || mod(v - start, g) === 0));
      if (kept.size === 0) throw new RangeError('Invalid rrule byxxx generates an empty set.'); // dateutil's
      return kept;
    };
    this.hours = freq === HOURLY ? reachable(set(rule.byhour), h0, 24) : set(rule.byhour);
    this.minutes = freq === HOURLY + 1 ? reachable(set(rule.byminute), m0, 60) : set(rule.byminute);
    this.seconds = freq === HOURLY + 2 ? reachable(set(rule.bysecond), s0, 60) : set(rule.bysecond);
    const minutes = freq === HOURLY ? [...(this.minutes ?? [m0])] : [0];
    const seconds = freq < HOURLY + 2 ? [...(this.seconds ?? [s0])] : [0];
    const all = minutes.flatMap((m) => seconds.map((s) => m * 60 + s)).sort((a, b) => a - b);
    if (rule.bysetpos === null) this.times = all;
    else {
      const picked = new Set<number>();
      for (const pos of asArray(rule.bysetpos)) {
        const i = pos > 0 ? pos - 1 : all.length + pos;
        if (i >= 0 && i < all.length) picked.add(all[i]!);
      }
      this.times = [...picked].sort((a, b) => a - b);
    }
    this.months = set(rule.bymonth);
    this.monthdays = set(rule.bymonthday);
    this.yeardays = set(rule.byyearday);
    const wd = rule.byweekday;
    this.weekdays = wd === null ? null : new Set(asArray(wd).map((w) => (typeof w === 'number' ? w : w.weekday)));
    // dateutil raises once its counter finds no valid time in a whole cycle of days
    if (freq > HOURLY) {
      const cycle = 86400 / gcd(this.step, 86400);
      let found = false;
      for (let n = 0; n < cycle && !found; n++) found = this.timeMatches(this.base + n * this.step);
      if (!found) throw new RangeError('Invalid combination of interval and byhour resulting in empty rule.');
    }
  }

  private timeMatches(p: number): boolean {
    const t = mod(p, 86400);
    if (this.hours && !this.hours.has(Math.floor(t / 3600))) return false;
    if (this.unit <= 60 && this.minutes && !this.minutes.has(Math.floor(t / 60) % 60)) return false;
    if (this.unit === 1 && this.seconds && !this.seconds.has(t % 60)) return false;
    return true;
  }

  /** dateutil's day filters for a day (days since 1970-01-01 on the wall clock). */
  private dayPasses(day: number): boolean {
    const d = new Date(day * 86_400_000);
    const year = d.getUTCFullYear();
    const month = d.getUTCMonth() + 1;
    if (this.months && !this.months.has(month)) return false;
    if (this.weekdays && !this.weekdays.has(mod(d.getUTCDay() - 1, 7))) return false;
    if (this.monthdays) {
      const length = new Date(Date.UTC(year, month, 0)).getUTCDate();
      if (!this.monthdays.has(d.getUTCDate()) && !this.monthdays.has(d.getUTCDate() - length - 1)) return false;
    }
    if (this.yeardays) {
      const i = day - Date.UTC(year, 0, 1) / 86_400_000;
      const length = Date.UTC(year + 1, 0, 1) / 86_400_000 - Date.UTC(year, 0, 1) / 86_400_000;
      if (!this.yeardays.has(i + 1) && !this.yeardays.has(i - length)) return false;
    }
    return true;
  }

  after(instant: number): number | null {
    const t = instant / 1000 + this.offset;
    let emitted = 0;
    // Without count nothing before t matters: start at the period that holds t.
    let n = this.count === null ? Math.max(0, Math.floor((t - this.base) / this.step)) : 0;
    for (;;) {
      const p = this.base + n * this.step;
      if ((this.until !== null && p > this.until) || p >= END_OF_TIME) return null;
      const day = Math.floor(p / 86400);
      if (!this.dayPasses(day)) {
        n = Math.max(n + 1, Math.ceil(((day + 1) * 86400 - this.base) / this.step)); // the first period of the next day
        continue;
      }
      if (this.timeMatches(p)) {
        for (const offset of this.times) {
          const r = p + offset;
          if (this.until !== null && r > this.until) return null;
          if (r < this.start) continue;
          if (this.count !== null && ++emitted > this.count) return null;
          if (r > t) return (r - this.offset) * 1000;
        }
      }
      n++;
    }
  }
}
