/**
 * Celery's `schedule` (celery/schedules.py): run every N seconds, ported exactly.
 *
 * As in Celery, `remaining_estimate` adds `run_every` to `last_run_at` as an aware datetime in the
 * app's time zone, which Python does on the wall clock (then reads the result with fold=0); `relative`
 * rounds that end time down to the interval's resolution (`delta_resolution`: days, hours, minutes) on
 * the same wall clock. In UTC (Celery's default) that is plain arithmetic; in a zone with DST an
 * interval that crosses a change is an hour shorter or longer once, exactly as in Python Celery.
 */
import type { Schedule, ScheduleContext, ScheduleJSON, ScheduleState } from './base.ts';
import { fieldsOf, localOf, msToUs, Zone } from './zone.ts';

/** Python's `timedelta(seconds=x)` in microseconds (modf, then round-half-even of the fraction). */
export function secondsToMicros(x: number): number {
  if (!Number.isFinite(x)) throw new RangeError(`run_every must be a finite number of seconds, got ${x}`);
  const whole = Math.trunc(x);
  const frac = (x - whole) * 1e6;
  const fracWhole = Math.trunc(frac);
  const left = frac - fracWhole;
  let r = Math.round(Math.abs(left)) * Math.sign(left);
  if (Math.abs(Math.abs(left) - 0.5) === 0 && (Math.abs(fracWhole) + Math.abs(r)) % 2 === 1) r -= Math.sign(left);
  return whole * 1e6 + fracWhole + r;
}

/** Python's `format(x, '.2f')` (round-half-even on exact ties, where JS's toFixed rounds up). */
export function pyFixed2(x: number): string {
  const eighths = x * 8;
  if (Number.isInteger(eighths) && Math.abs(eighths % 2) === 1 && !Number.isInteger(x * 100)) {
    // x = k/8 with k odd: x*100 ends in .5 exactly -> round half to even
    const hundred = Math.abs(x * 100);
    const lower = Math.floor(hundred);
    const n = lower % 2 === 0 ? lower : lower + 1;
    const s = (n / 100).toFixed(2);
    return x < 0 && n !== 0 ? '-' + s : s;
  }
  return x.toFixed(2);
}

const TIME_UNITS: ReadonlyArray<[string, number]> = [['day', 86400], ['hour', 3600], ['minute', 60], ['second', 1]];

/** Celery's `humanize_seconds(secs)`: `'10.00 seconds'`, `'1.00 minute'`, `'now'`. */
export function humanizeSeconds(secs: number): string {
  const s = Number(pyFixed2(secs));
  for (const [unit, divider] of TIME_UNITS) {
    if (s >= divider) {
      const w = s / divider;
      return `${pyFixed2(w)} ${w !== 1 ? unit + 's' : unit}`;
    }
  }
  return 'now';
}

/** The interval as `schedule()` takes it: seconds, or the parts of a Python timedelta. */
export type RunEvery = number | { days?: number; hours?: number; minutes?: number; seconds?: number; milliseconds?: number };

export class IntervalSchedule implements Schedule {
  readonly kind = 'interval' as const;
  /** `run_every` in microseconds (Python's timedelta). */
  readonly micros: number;
  readonly relative: boolean;

  constructor(runEvery: RunEvery, opts: { relative?: boolean } = {}) {
    if (typeof runEvery === 'number') this.micros = secondsToMicros(runEvery);
    else {
      const { days = 0, hours = 0, minutes = 0, seconds = 0, milliseconds = 0 } = runEvery;
      this.micros = secondsToMicros(days * 86400 + hours * 3600 + minutes * 60 + seconds + milliseconds / 1000);
    }
    this.relative = opts.relative ?? false;
  }

  /** Celery's `schedule.seconds`: `run_every` in seconds, at least 0. */
  get seconds(): number {
    return Math.max(this.micros / 1e6, 0);
  }

  /** Celery's `remaining()`: microseconds from `now` to `last_run_at + run_every` (on the zone's wall clock). */
  remainingMicros(lastRunUs: number, nowUs: number, zoneName: string): number {
    const zone = Zone.get(zoneName);
    let end = zone.toLocal(lastRunUs) + this.micros;
    if (this.relative) end = deltaResolution(end, this.micros);
    return zone.toInstant(end, 0) - nowUs;
  }

  remainingEstimate(lastRunAt: number, now: number, ctx: ScheduleContext): number {
    return this.remainingMicros(msToUs(lastRunAt), msToUs(now), ctx.timezone) / 1000;
  }

  isDue(lastRunAt: number, now: number, ctx: ScheduleContext): ScheduleState {
    const rem = Math.max(this.remainingMicros(msToUs(lastRunAt), msToUs(now), ctx.timezone) / 1e6, 0);
    if (rem === 0) return { isDue: true, next: this.seconds };
    return { isDue: false, next: rem };
  }

  toString(): string {
    return `<freq: ${humanizeSeconds(this.seconds)}>`;
  }

  toJSON(): ScheduleJSON {
    return { type: 'interval', every: this.micros / 1e6, relative: this.relative };
  }
}

/** Celery's `delta_resolution(dt, delta).replace(microsecond=0)` on a local time. */
function deltaResolution(local: number, micros: number): number {
  const secs = Math.max(micros / 1e6, 0);
  const f = fieldsOf(local);
  if (secs / 86400 >= 1) return localOf(f.year, f.month, f.day);
  if (secs / 3600 >= 1) return localOf(f.year, f.month, f.day, f.hour);
  if (secs / 60 >= 1) return localOf(f.year, f.month, f.day, f.hour, f.minute);
  return localOf(f.year, f.month, f.day, f.hour, f.minute, f.second);
}

/** Celery's `schedule(run_every, relative=False)`. */
export function schedule(runEvery: RunEvery, opts?: { relative?: boolean }): IntervalSchedule {
  return new IntervalSchedule(runEvery, opts);
}
