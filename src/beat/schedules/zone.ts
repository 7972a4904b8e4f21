/**
 * Time zones for the schedules, with Python's `zoneinfo` semantics: instant -> wall clock in a zone,
 * and wall clock + `fold` -> instant, as CPython resolves it (a wall time in a spring-forward gap
 * with fold=0 takes the offset before the transition; an ambiguous autumn wall time with fold=0 is
 * the first, earlier occurrence, with fold=1 the second).
 *
 * Offsets come from `Intl.DateTimeFormat` (the tz database Node ships), never from a table kept here.
 * Each zone caches its offsets by hour of UTC: an hour with no transition costs two `Intl` calls once,
 * an hour with one also finds the transition's second by bisection, once.
 *
 * Internally times are integer microseconds (Python datetimes are microsecond-exact): an *instant* is
 * microseconds since the epoch, a *local* (wall) time is the same count for the wall-clock fields read
 * as if they were UTC.
 */

const HOUR_US = 3_600_000_000;
const SECOND_US = 1_000_000;
/** Every instant whose wall time is `local` lies within this of it (offsets span -12h .. +14h). */
const WINDOW_BEFORE_US = 15 * HOUR_US;
const WINDOW_AFTER_US = 13 * HOUR_US;

/** One hour of UTC in a zone: its offset, or the transition inside it. */
interface HourInfo {
  readonly start: number; // offset (us) at the hour's first microsecond
  readonly end: number; // offset at its last second
  readonly transition: number; // first instant (us) with `end`'s offset; NaN when start === end
}

export class Zone {
  readonly name: string;
  private readonly fmt: Intl.DateTimeFormat | null;
  private readonly hours = new Map<number, HourInfo>();

  private constructor(name: string) {
    this.name = name;
    this.fmt = name === 'UTC' ? null : new Intl.DateTimeFormat('en-US', {
      timeZone: name, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric',
      hour: 'numeric', minute: 'numeric', second: 'numeric', era: 'short',
    });
  }

  private static readonly cache = new Map<string, Zone>();

  /** The zone for an IANA name; throws a RangeError naming it when Node's tz database does not know it. */
  static get(name: string): Zone {
    let z = Zone.cache.get(name);
    if (z === undefined) {
      if (typeof name !== 'string' || name === '') throw new RangeError(`unknown time zone ${JSON.stringify(name)}`);
      if (name === 'UTC' || name === 'Etc/UTC') z = new Zone('UTC');
      else {
        try {
          z = new Zone(name);
        } catch {
          throw new RangeError(`unknown time zone ${JSON.stringify(name)} (not an IANA zone name)`);
        }
      }
      Zone.cache.set(name, z);
    }
    return z;
  }

  /** Offset from UTC (microseconds) at an instant (microseconds since the epoch). */
  offsetAt(instant: number): number {
    if (this.fmt === null) return 0;
    const hour = Math.floor(instant / HOUR_US);
    let info = this.hours.get(hour);
    if (info === undefined) info = this.hourInfo(hour);
    if (info.start === info.end || instant < info.transition) return info.start;
    return info.end;
  }

  /** Local (wall-clock) microseconds of an instant. */
  toLocal(instant: number): number {
    return instant + this.offsetAt(instant);
  }

  /**
   * The instant of a wall time, as zoneinfo resolves it for `fold` (0 or 1). At most one transition is
   * assumed within a day around it (true of every DST rule; the tz database has no two closer).
   */
  toInstant(local: number, fold: 0 | 1 = 0): number {
    if (this.fmt === null) return local;
    const t = this.transitionNear(local);
    if (t === null) return local - this.offsetAt(local - WINDOW_BEFORE_US);
    const [at, before, after] = t;
    // zoneinfo's wall-clock transition list: fold=0 switches at utc + max(offsets), fold=1 at utc + min
    const wallSwitch = at + (fold === 0 ? Math.max(before, after) : Math.min(before, after));
    return local - (local < wallSwitch ? before : after);
  }

  /**
   * How a wall time exists: `'gap'` (skipped by a forward change; `end` is the instant the gap ends),
   * `'repeat'` (occurs twice: `first` and `second` instants), or `'single'`.
   */
  classify(local: number): { kind: 'single' } | { kind: 'gap'; end: number } | { kind: 'repeat'; first: number; second: number } {
    if (this.fmt === null) return { kind: 'single' };
    const t = this.transitionNear(local);
    if (t === null) return { kind: 'single' };
    const [at, before, after] = t;
    if (after > before) {
      // wall times in [at + before, at + after) do not exist
      if (local >= at + before && local < at + after) return { kind: 'gap', end: at };
    } else if (after < before) {
      // wall times in [at + after, at + before) occur twice
      if (local >= at + after && local < at + before) return { kind: 'repeat', first: local - before, second: local - after };
    }
    return { kind: 'single' };
  }

  /** The transition (instant, offset before, offset after) among the instants a wall time can be, if any. */
  private transitionNear(local: number): [number, number, number] | null {
    const lo = local - WINDOW_BEFORE_US;
    const hi = local + WINDOW_AFTER_US;
    const before = this.offsetAt(lo);
    const after = this.offsetAt(hi);
    if (before === after) return null;
    // the hour that holds the change: walk hours (at most 28), each cached
    for (let h = Math.floor(lo / HOUR_US); h <= Math.floor(hi / HOUR_US); h++) {
      const info = this.hours.get(h) ?? this.hourInfo(h);
      if (info.start !== info.end) return [info.transition, info.start, info.end];
      if (info.start !== before) return [h * HOUR_US, before, info.start];
    }
    return null;
  }

  private hourInfo(hour: number): HourInfo {
    const t0 = hour * HOUR_US;
    const start = this.rawOffset(t0);
    const end = this.rawOffset(t0 + HOUR_US - SECOND_US);
    let transition = NaN;
    if (start !== end) {
      // transitions fall on whole seconds: bisect the first second with the new offset
      let lo = 0; // seconds into the hour with `start`
      let hi = 3599; // with `end`
      while (hi - lo > 1) {
        const mid = (lo + hi) >> 1;
        if (this.rawOffset(t0 + mid * SECOND_US) === start) lo = mid;
        else hi = mid;
      }
      transition = t0 + hi * SECOND_US;
    }
    const info: HourInfo = { start, end, transition };
    if (this.hours.size > 200_000) this.hours.clear();
    this.hours.set(hour, info);
    return info;
  }

  /** The offset at an instant straight from Intl (whole seconds). */
  private rawOffset(instant: number): number {
    const sec = Math.floor(instant / SECOND_US);
    const parts = this.fmt!.formatToParts(new Date(sec * 1000));
    let y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0, bc = false;
    for (const p of parts) {
      switch (p.type) {
        case 'year': y = Number(p.value); break;
        case 'month': mo = Number(p.value); break;
        case 'day': d = Number(p.value); break;
        case 'hour': h = Number(p.value); break;
        case 'minute': mi = Number(p.value); break;
        case 'second': s = Number(p.value); break;
        case 'era': bc = /^B/i.test(p.value); break;
        default: break;
      }
    }
    if (bc) y = 1 - y;
    const wallSec = civilToDays(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
    return (wallSec - sec) * SECOND_US;
  }
}

// ---- civil calendar on local microseconds (proleptic Gregorian, as Python's datetime) ----

const DAY_US = 86_400 * SECOND_US;

/** Days since 1970-01-01 of a civil date (any year, proleptic Gregorian). */
export function civilToDays(y: number, m: number, d: number): number {
  const yy = m <= 2 ? y - 1 : y;
  const era = Math.floor(yy / 400);
  const yoe = yy - era * 400;
  const mp = (m + 9) % 12;
  const doy = Math.floor((153 * mp + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/** Wall-clock fields of a local time. `weekday` is Python's `weekday()`: Monday 0 .. Sunday 6. */
export interface Fields {
  year: number; month: number; day: number; hour: number; minute: number; second: number; micro: number; weekday: number;
}

export function fieldsOf(local: number): Fields {
  const days = Math.floor(local / DAY_US);
  let rem = local - days * DAY_US;
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  const year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  const hour = Math.floor(rem / HOUR_US); rem -= hour * HOUR_US;
  const minute = Math.floor(rem / 60_000_000); rem -= minute * 60_000_000;
  const second = Math.floor(rem / SECOND_US); rem -= second * SECOND_US;
  const weekday = (((days + 3) % 7) + 7) % 7; // 1970-01-01 was a Thursday (3)
  return { year, month, day, hour, minute, second, micro: rem, weekday };
}

/** Local microseconds of wall-clock fields (Python's `datetime(...)`, fields already valid). */
export function localOf(year: number, month: number, day: number, hour = 0, minute = 0, second = 0, micro = 0): number {
  return civilToDays(year, month, day) * DAY_US + hour * HOUR_US + minute * 60_000_000 + second * SECOND_US + micro;
}

/** Days in a month (`calendar.monthrange(y, m)[1]`). */
export function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0)) ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

export const US_PER_MS = 1000;
export const US_PER_DAY = DAY_US;

/** Milliseconds (maybe fractional) -> integer microseconds. */
export function msToUs(ms: number): number {
  return Math.round(ms * US_PER_MS);
}

/** ISO 8601 with the zone's offset, e.g. `2026-03-29T03:00:00+02:00` (fractions only when present). */
export function formatInstant(instantMs: number, zone: Zone): string {
  const us = msToUs(instantMs);
  const off = zone.offsetAt(us);
  const f = fieldsOf(us + off);
  const p2 = (n: number) => String(n).padStart(2, '0');
  let s = `${String(f.year).padStart(4, '0')}-${p2(f.month)}-${p2(f.day)}T${p2(f.hour)}:${p2(f.minute)}:${p2(f.second)}`;
  if (f.micro) s += '.' + String(f.micro).padStart(6, '0').replace(/0+$/, '');
  const o = Math.round(off / SECOND_US);
  const sign = o < 0 ? '-' : '+';
  const a = Math.abs(o);
  s += `${sign}${p2(Math.floor(a / 3600))}:${p2(Math.floor((a % 3600) / 60))}`;
  if (a % 60) s += `:${p2(a % 60)}`;
  return s;
}
