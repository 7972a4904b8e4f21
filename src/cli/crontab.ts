/**
 * `celeriac crontab '<minute> <hour> <day_of_month> <month_of_year> <day_of_week>'`: print the next run
 * times of a crontab entry as the beat computes them (Celery's `crontab.from_string` fields and
 * arithmetic, each run computed from the one before as `last_run_at`), one ISO 8601 instant a line in
 * the `--tz` zone. No app needed.
 *
 *   celeriac crontab '30 2 * * *' --after 2026-03-28T12:00 --tz Europe/Berlin -n 3
 */
import type { Command } from 'commander';
import { CronParseError, crontab, type CrontabSchedule } from '../beat/schedules/crontab.ts';
import { formatInstant, localOf, daysInMonth, Zone } from '../beat/schedules/zone.ts';
import { globalsOf } from './context.ts';
import { reportError, UsageError } from './exit.ts';
import { parseInteger } from './values.ts';

interface CrontabFlags {
  after?: string;
  tz: string;
  count: string;
  celeryExact?: boolean;
}

const DEFAULT_COUNT = 5;
const WALL = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?)?$/;
const OFFSET = /(?:Z|[+-]\d{2}:?\d{2})$/i;

/** The zone named by --tz, or a usage error. */
export function parseZone(name: string): Zone {
  try {
    return Zone.get(name);
  } catch {
    throw new UsageError(`--tz must be an IANA time zone name such as Europe/Berlin or UTC, got ${JSON.stringify(name)}`);
  }
}

/** `--after`: an ISO 8601 instant (with Z or an offset), or a wall time in `zone` (read as Python reads it, fold=0). */
export function parseAfter(text: string, zone: Zone): number {
  const bad = () => new UsageError(`--after must be an ISO 8601 date-time, e.g. 2026-03-29T01:30 (wall time in --tz) or 2026-03-29T01:30:00Z, got ${JSON.stringify(text)}`);
  const t = text.trim();
  if (OFFSET.test(t)) {
    const ms = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(t) ? Date.parse(t) : NaN;
    if (Number.isNaN(ms)) throw bad();
    return ms;
  }
  const m = WALL.exec(t);
  if (!m) throw bad();
  const [y, mo, d, h = 0, mi = 0, s = 0] = m.slice(1, 7).map((v) => (v === undefined ? undefined : Number(v))) as number[];
  const micro = m[7] === undefined ? 0 : Number(m[7].padEnd(6, '0'));
  if (mo! < 1 || mo! > 12 || d! < 1 || d! > daysInMonth(y!, mo!) || h > 23 || mi > 59 || s > 59) throw bad();
  return zone.toInstant(localOf(y!, mo!, d!, h, mi, s, micro), 0) / 1000;
}

/** The crontab of an expression, or a usage error with Celery's reason. */
export function parseExpression(expr: string, celeryExact: boolean): CrontabSchedule {
  try {
    return crontab.fromString(expr, { dst: celeryExact ? 'celery' : 'celeriac' });
  } catch (err) {
    if (!(err instanceof CronParseError)) throw err;
    const hint = /values to unpack/.test(err.message)
      ? ' (five fields separated by single spaces: minute hour day_of_month month_of_year day_of_week)'
      : '';
    throw new UsageError(`invalid crontab expression ${JSON.stringify(expr)}: ${err.name}: ${err.message}${hint}`, { cause: err });
  }
}

/** The next `count` runs after `after` (ms), each from the previous as last_run_at, with now = last_run_at. */
export function nextRuns(c: CrontabSchedule, after: number, count: number, timezone: string): number[] {
  const ctx = { timezone };
  const out: number[] = [];
  let last = after;
  for (let i = 0; i < count; i++) {
    last = last + c.remainingEstimate(last, last, ctx);
    out.push(last);
  }
  return out;
}

export function registerCrontab(program: Command): void {
  program
    .command('crontab')
    .description(
      'Print the next run times of a crontab entry as the beat computes them, one ISO 8601 instant a line ' +
        'in the --tz zone (each run computed from the previous one). Fields as Celery\'s crontab.from_string: ' +
        'minute hour day_of_month month_of_year day_of_week; day and month names, ranges, steps and lists ' +
        'as Celery accepts them, 0 = Sunday, day of month AND day of week. A wrong expression exits 64 with ' +
        'Celery\'s reason. No app needed.',
    )
    .argument('<expression>', "five fields separated by single spaces, e.g. '*/15 9-17 * * mon-fri'")
    .option('--after <iso>', 'first last_run_at: an ISO 8601 instant, or a wall time in --tz without an offset (default: now)')
    .option('--tz <zone>', "the beat's time zone (Celery's timezone setting), an IANA name", 'UTC')
    .option('-n, --count <n>', `how many run times to print`, String(DEFAULT_COUNT))
    .option('--celery-exact', "around DST, Python Celery's run times instead of celeriac's (see README: crontab and DST)")
    .action((expr: string, flags: CrontabFlags, command: Command) => {
      const g = globalsOf(command);
      try {
        const zone = parseZone(flags.tz);
        const count = parseInteger('-n/--count', flags.count, 1);
        const after = flags.after === undefined ? Date.now() : parseAfter(flags.after, zone);
        const c = parseExpression(expr, flags.celeryExact ?? false);
        let runs: number[];
        try {
          runs = nextRuns(c, after, count, zone.name);
        } catch (err) {
          if (err instanceof CronParseError) throw new UsageError(`crontab expression ${JSON.stringify(expr)} never runs: ${err.name}: ${err.message}`, { cause: err });
          throw err;
        }
        process.stdout.write(runs.map((ms) => formatInstant(ms, zone)).join('\n') + '\n');
      } catch (err) {
        process.exitCode = reportError('crontab', err, { traceback: g.traceback ?? false });
      }
    });
}
