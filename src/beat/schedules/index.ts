/**
 * The schedules beat understands, and the way back from their plain form (`toJSON()`, what the file
 * store and `celeriac beat list --json` write) to the schedule.
 */
import { ConfigurationError } from '../../errors.ts';
import type { CronSpec, Schedule, ScheduleJSON } from './base.ts';
import { clocked } from './clocked.ts';
import { crontab } from './crontab.ts';
import { schedule } from './interval.ts';
import { rruleFromJSON } from './rrule.ts';
import { solar } from './solar.ts';

export type { CronSpec, Schedule, ScheduleContext, ScheduleJSON, ScheduleState } from './base.ts';
export { clocked, ClockedSchedule } from './clocked.ts';
export { crontab, CrontabSchedule, CronParseError } from './crontab.ts';
export { schedule, IntervalSchedule } from './interval.ts';
export { RRuleSchedule, rrule } from './rrule.ts';
export { solar, SolarSchedule, SOLAR_EVENTS } from './solar.ts';

/** A schedule from its plain form; throws a ConfigurationError naming what is wrong. */
export function scheduleFromJSON(json: ScheduleJSON): Schedule {
  switch (json.type) {
    case 'interval':
      return schedule(json.every, { relative: json.relative });
    case 'crontab':
      return crontab({
        minute: json.minute as CronSpec, hour: json.hour as CronSpec, day_of_week: json.day_of_week as CronSpec,
        day_of_month: json.day_of_month as CronSpec, month_of_year: json.month_of_year as CronSpec,
        ...(json.timezone !== undefined ? { timezone: json.timezone } : {}),
      });
    case 'solar':
      return solar(json.event, json.lat, json.lon);
    case 'clocked':
      return clocked(json.at);
    case 'rrule':
      return rruleFromJSON(json);
    default:
      throw new ConfigurationError(`unknown schedule type ${JSON.stringify((json as { type?: unknown }).type)}`);
  }
}
