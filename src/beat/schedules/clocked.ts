/**
 * django-celery-beat's `clocked` schedule (django_celery_beat/clockedschedule.py, 2.4.0): one run at a
 * given instant.
 *
 * django-celery-beat's own code ignores `last_run_at`: `remaining_estimate` is `clocked_time - now`,
 * and `is_due` is `(True, NEVER_CHECK_TIMEOUT)` once that is <= 0, else `(False, seconds left)`. What
 * stops it from running again is not the schedule but the entry: a clocked PeriodicTask must be
 * `one_off`, and its ModelEntry disables the task after its first run (`total_run_count > 0`).
 *
 * Here the schedule itself knows: the entry has run when `lastRunAt >= at` (beat sets last_run_at to
 * the time it sent the task, which is at or after `at`). From then on `remainingEstimate` is null and
 * `isDue` is `{ isDue: false, next: null }` (never again). When due, `next` is null too, where
 * django-celery-beat says NEVER_CHECK_TIMEOUT (1e8 s, because Celery's scheduler cannot take None).
 *
 * Consequence for the beat: a clocked entry must start with a `lastRunAt` before `at` (for instance
 * 0, or its creation time when that is earlier). An entry created after its instant with
 * `lastRunAt = now` counts as run and never fires, where django-celery-beat would run it once at once.
 */
import type { Schedule, ScheduleContext, ScheduleJSON, ScheduleState } from './base.ts';

/** django-celery-beat's NEVER_CHECK_TIMEOUT (seconds): what it answers instead of "never". */
export const NEVER_CHECK_TIMEOUT = 100_000_000;

/** An ISO 8601 date-time without a UTC offset ("naive"): taken as UTC, as `maybe_make_aware` does. */
const NAIVE_DATE_TIME = /^\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d+)?)?$/;

function toInstant(at: Date | string | number): number {
  let ms: number;
  if (at instanceof Date) ms = at.getTime();
  else if (typeof at === 'number') ms = at;
  else if (typeof at === 'string') {
    const text = at.trim();
    ms = Date.parse(NAIVE_DATE_TIME.test(text) ? `${text.replace(' ', 'T')}Z` : text);
  } else {
    throw new TypeError(`clocked: expected a Date, an ISO 8601 string or epoch milliseconds, got ${typeof at}`);
  }
  if (!Number.isFinite(ms)) throw new RangeError(`clocked: not a valid instant: ${String(at)}`);
  return ms;
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** Python's `str()` of an aware UTC datetime: `2024-03-01 12:00:00+00:00`, `.ffffff` when not whole. */
function pyUtcDatetimeStr(ms: number): string {
  const d = new Date(ms);
  const frac = d.getUTCMilliseconds() ? `.${pad(d.getUTCMilliseconds() * 1000, 6)}` : '';
  return `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} `
    + `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}${frac}+00:00`;
}

export class ClockedSchedule implements Schedule {
  readonly kind = 'clocked' as const;
  /** The instant to run at, epoch milliseconds. */
  readonly at: number;

  constructor(at: Date | string | number) {
    this.at = toInstant(at);
  }

  /** Whether an entry whose last run was at `lastRunAt` has had its run. */
  hasRun(lastRunAt: number): boolean {
    return lastRunAt >= this.at;
  }

  /** `clocked_time - now`, or null once it has run. */
  remainingEstimate(lastRunAt: number, now: number, _ctx?: ScheduleContext): number | null {
    return this.hasRun(lastRunAt) ? null : this.at - now;
  }

  isDue(lastRunAt: number, now: number, ctx?: ScheduleContext): ScheduleState {
    const rem = this.remainingEstimate(lastRunAt, now, ctx);
    if (rem === null) return { isDue: false, next: null };
    const seconds = Math.max(rem / 1000, 0);
    return seconds === 0 ? { isDue: true, next: null } : { isDue: false, next: seconds };
  }

  /** django-celery-beat's repr, the instant in UTC: `<clocked: 2024-03-01 12:00:00+00:00>`. */
  toString(): string {
    return `<clocked: ${pyUtcDatetimeStr(this.at)}>`;
  }

  toJSON(): ScheduleJSON {
    return { type: 'clocked', at: new Date(this.at).toISOString() };
  }

  equals(other: unknown): boolean {
    return other instanceof ClockedSchedule && other.at === this.at;
  }
}

/**
 * A one-off run at `at`: a Date, epoch milliseconds, or an ISO 8601 string (one without a UTC offset
 * is UTC, as django-celery-beat's `maybe_make_aware` takes a naive datetime).
 */
export function clocked(at: Date | string | number): ClockedSchedule {
  return new ClockedSchedule(at);
}
