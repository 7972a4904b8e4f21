/**
 * What every beat schedule is: Celery's `BaseSchedule` (celery/schedules.py) with time passed in instead
 * of read from a clock, so the beat, the store, the `celeriac crontab` command and the differential tests
 * drive the same code with the instants they choose.
 *
 * Instants are milliseconds since the epoch (UTC). Celery's schedules read wall-clock fields (hour, day,
 * weekday) of `last_run_at` and `now` in the app's time zone (`timezone`, `enable_utc`); here that zone
 * comes in the {@link ScheduleContext}, and a schedule built with its own `timezone` uses that instead
 * (a per-entry time zone, which Celery does not have).
 */

/** What a schedule is evaluated under: the app's settings that Celery's `BaseSchedule` reads. */
export interface ScheduleContext {
  /** IANA zone of the app (Celery's `app.timezone`: `timezone`, or UTC, or the local zone without `enable_utc`). */
  readonly timezone: string;
  /** `beat_cron_starting_deadline` in seconds, or null (Celery's default). */
  readonly cronStartingDeadline?: number | null;
}

/** Celery's `schedstate`: whether the entry is due now, and in how many seconds to look again (null: never). */
export interface ScheduleState {
  readonly isDue: boolean;
  readonly next: number | null;
}

/** The plain form of a schedule, for stores, `celeriac beat list` and the RedBeat codec. */
export type ScheduleJSON =
  | { type: 'interval'; every: number; relative: boolean }
  | {
    type: 'crontab'; minute: CronSpec; hour: CronSpec; day_of_week: CronSpec; day_of_month: CronSpec;
    month_of_year: CronSpec; timezone?: string;
  }
  | { type: 'solar'; event: string; lat: number; lon: number }
  | { type: 'clocked'; at: string }
  | { type: 'rrule'; [field: string]: unknown };

/** A crontab field as Celery takes it: a number, a string such as `'0-59/15'` or `'mon-fri'`, or numbers. */
export type CronSpec = number | string | readonly number[];

export interface Schedule {
  readonly kind: ScheduleJSON['type'];
  /**
   * Celery's `remaining_estimate(last_run_at)`: milliseconds from `now` to the run that follows
   * `lastRunAt` (negative when it is overdue), or null when the schedule never runs again (a clocked
   * entry already run, an exhausted rrule).
   */
  remainingEstimate(lastRunAt: number, now: number, ctx: ScheduleContext): number | null;
  /** Celery's `is_due(last_run_at)` at `now`. */
  isDue(lastRunAt: number, now: number, ctx: ScheduleContext): ScheduleState;
  /** Celery's repr, e.g. `<crontab: 0 4 * * * (m/h/dM/MY/d)>` or `<freq: 10.00 seconds>`. */
  toString(): string;
  toJSON(): ScheduleJSON;
}
