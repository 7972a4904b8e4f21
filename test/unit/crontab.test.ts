// Celery's crontab: the parser, its error texts, repr, next runs, is_due with beat_cron_starting_deadline,
// and celeriac's two DST fixes with concrete instants (each also against Python's answer, dst: 'celery').
// Expected values were computed with Python Celery 5.6.3 (test/contract/crontab-differential.test.ts
// compares thousands more against a live Python).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CronParseError, CrontabParser, crontab, type CrontabSchedule } from '../../src/beat/schedules/crontab.ts';
import { formatInstant, Zone } from '../../src/beat/schedules/zone.ts';

const sorted = (s: Set<number>) => [...s].sort((a, b) => a - b);

/** The next `n` runs from `after` (each from the previous as last_run_at, now = last_run_at), as ISO in `tz`. */
function runs(c: CrontabSchedule, after: string, tz: string, n = 2): string[] {
  const ctx = { timezone: tz };
  let t = Date.parse(after);
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    t += c.remainingEstimate(t, t, ctx);
    out.push(formatInstant(t, Zone.get(tz)));
  }
  return out;
}
const both = (expr: string, after: string, tz: string, n = 2) => ({
  celeriac: runs(crontab.fromString(expr), after, tz, n),
  celery: runs(crontab.fromString(expr, { dst: 'celery' }), after, tz, n),
});

describe('crontab_parser', () => {
  test("Celery's docstring examples, wrap-around ranges, names in any case, steps", () => {
    assert.deepEqual(sorted(new CrontabParser(60).parse('*/15')), [0, 15, 30, 45]);
    assert.deepEqual(sorted(new CrontabParser(24).parse('*/4')), [0, 4, 8, 12, 16, 20]);
    assert.deepEqual(sorted(new CrontabParser(7).parse('*')), [0, 1, 2, 3, 4, 5, 6]);
    assert.deepEqual(sorted(new CrontabParser(31, 1).parse('*/3')), [1, 4, 7, 10, 13, 16, 19, 22, 25, 28, 31]);
    assert.deepEqual(sorted(new CrontabParser(12, 1).parse('2-12/2')), [2, 4, 6, 8, 10, 12]);
    assert.deepEqual(sorted(new CrontabParser(7).parse('fri-mon')), [0, 1, 5, 6]);
    assert.deepEqual(sorted(new CrontabParser(24).parse('22-2')), [0, 1, 2, 22, 23]);
    assert.deepEqual(sorted(new CrontabParser(24).parse('22-2/2')), [0, 2, 22]);
    assert.deepEqual(sorted(new CrontabParser(7).parse('MON-Fri')), [1, 2, 3, 4, 5]);
    assert.deepEqual(sorted(new CrontabParser(7).parse('sunday,Saturn')), [0, 6]);
  });

  test('what Python lets through: months before weekdays, int() forms, re.match prefixes', () => {
    assert.deepEqual(sorted(new CrontabParser(7).parse('mar')), [3]); // yearmonth('mar') is tried first
    assert.deepEqual(sorted(new CrontabParser(60).parse('1_0,+7')), [7, 10]);
    assert.deepEqual(sorted(new CrontabParser(60).parse('1-5/2-3')), [1, 3, 5]);
    assert.deepEqual(sorted(new CrontabParser(60).parse('*/20/3')), [0, 20, 40]);
    assert.deepEqual(sorted(new CrontabParser(60).parse('٣')), [3]); // any Unicode decimal digit
  });

  test("Celery's error texts and exception classes", () => {
    const cases: Array<[string, number, number, string, string]> = [
      ['*/0', 60, 0, 'ValueError', 'slice step cannot be zero'],
      ['1-5/0', 60, 0, 'ValueError', 'slice step cannot be zero'],
      ['*/', 60, 0, 'ParseException', 'empty filter'],
      ['1-5/', 60, 0, 'ParseException', 'empty filter'],
      ['-5', 60, 0, 'ParseException', 'negative numbers not supported'],
      [',5', 60, 0, 'ParseException', 'empty part'],
      ['5,', 60, 0, 'ParseException', 'empty part'],
      ['*/abc', 60, 0, 'ValueError', "invalid literal for int() with base 10: 'abc'"],
      ['5-70', 60, 0, 'ValueError', 'Invalid end range: 70 > 59.'],
      ['70-5', 60, 0, 'ValueError', 'Invalid end range: 70 > 59.'],
      ['xyz', 7, 0, 'ValueError', "Invalid weekday literal 'xyz'."],
      ['*5', 60, 0, 'ValueError', "Invalid weekday literal '*5'."],
      ['0', 31, 1, 'ValueError', 'Invalid beginning range: 0 < 1.'],
      ['13', 12, 1, 'ValueError', 'Invalid end range: 13 > 12.'],
      [' -5', 60, 0, 'ValueError', 'Invalid beginning range: -5 < 0.'],
      ['mon-xyz', 7, 0, 'ValueError', "Invalid weekday literal 'xyz'."],
      ["it's", 7, 0, 'ValueError', 'Invalid weekday literal "it\'s".'],
      ['99999999999999999999', 60, 0, 'ValueError', 'Invalid end range: 99999999999999999999 > 59.'],
    ];
    for (const [spec, max, min, kind, message] of cases) {
      assert.throws(() => new CrontabParser(max, min).parse(spec), (err: unknown) => {
        assert.ok(err instanceof CronParseError, spec);
        assert.equal(err.kind, kind, spec);
        assert.equal(err.name, kind, spec);
        assert.equal(err.message, message, spec);
        return true;
      });
    }
  });

  test('crontab() field values and from_string field counts', () => {
    const err = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return `${(e as Error).name}: ${(e as Error).message}`;
      }
      return 'no error';
    };
    assert.equal(err(() => crontab({ minute: 60 })), "ValueError: Invalid crontab pattern.  Valid range is 0-59. '60' was found.");
    assert.equal(err(() => crontab({ hour: [1, 24] })), "ValueError: Invalid crontab pattern.  Valid range is 0-23. '24' was found.");
    assert.equal(err(() => crontab({ day_of_month: 0 })), "ValueError: Invalid crontab pattern.  Valid range is 1-31. '0' was found.");
    assert.equal(err(() => crontab({ minute: 1.5 })), "TypeError: Argument cronspec needs to be of any of the following types: int, str, or an iterable type. <class 'float'> was given.");
    assert.equal(err(() => crontab.fromString('* * * *')), 'ValueError: not enough values to unpack (expected 5, got 4)');
    assert.equal(err(() => crontab.fromString('* * * * * *')), 'ValueError: too many values to unpack (expected 5)');
    assert.equal(err(() => crontab.fromString('*  * * *')), 'ParseException: empty part'); // split(' '): an empty field
    assert.equal(err(() => crontab({ timezone: 'Mars/Olympus' })), 'RangeError: unknown time zone "Mars/Olympus" (not an IANA zone name)');
  });
});

describe('crontab', () => {
  test('repr, toJSON, orig and expanded fields; camelCase or snake_case keys', () => {
    assert.equal(String(crontab()), '<crontab: * * * * * (m/h/dM/MY/d)>');
    assert.equal(String(crontab({ minute: [1, 2], hour: 5 })), '<crontab: [1, 2] 5 * * * (m/h/dM/MY/d)>');
    const c = crontab.fromString('*/15 9-17 1,15 jan-mar mon-fri');
    assert.equal(String(c), '<crontab: */15 9-17 1,15 jan-mar mon-fri (m/h/dM/MY/d)>');
    assert.deepEqual(c.toJSON(), { type: 'crontab', minute: '*/15', hour: '9-17', day_of_week: 'mon-fri', day_of_month: '1,15', month_of_year: 'jan-mar' });
    assert.deepEqual(c.orig, { minute: '*/15', hour: '9-17', dayOfWeek: 'mon-fri', dayOfMonth: '1,15', monthOfYear: 'jan-mar' });
    assert.deepEqual(sorted(c.monthOfYear as Set<number>), [1, 2, 3]);
    assert.deepEqual(crontab({ day_of_week: 'sat', timezone: 'Asia/Kolkata' }).toJSON(), {
      type: 'crontab', minute: '*', hour: '*', day_of_week: 'sat', day_of_month: '*', month_of_year: '*', timezone: 'Asia/Kolkata',
    });
    assert.equal(String(crontab({ dayOfWeek: 'sat' })), String(crontab({ day_of_week: 'sat' })));
  });

  test('next runs: minutes, hours, weekdays, day of month AND day of week, 0 = Sunday', () => {
    assert.deepEqual(runs(crontab.fromString('*/15 9-17 * * mon-fri'), '2026-03-06T17:50:00Z', 'UTC', 2), ['2026-03-09T09:00:00+00:00', '2026-03-09T09:15:00+00:00']);
    // Friday the 13th: both fields must match (Celery's AND, not cron's OR)
    assert.deepEqual(runs(crontab.fromString('0 0 13 * fri'), '2026-01-01T00:00:00Z', 'UTC', 2), ['2026-02-13T00:00:00+00:00', '2026-03-13T00:00:00+00:00']);
    assert.deepEqual(runs(crontab.fromString('0 12 * * 0'), '2026-03-02T00:00:00Z', 'UTC', 1), ['2026-03-08T12:00:00+00:00']);
    assert.deepEqual(runs(crontab.fromString('0 0 29 2 *'), '2026-01-01T00:00:00Z', 'UTC', 2), ['2028-02-29T00:00:00+00:00', '2032-02-29T00:00:00+00:00']);
    // seconds of last_run_at do not matter: the next minute of the set after its minute
    assert.deepEqual(runs(crontab.fromString('* * * * *'), '2026-01-01T10:00:59.999Z', 'UTC', 1), ['2026-01-01T10:01:00+00:00']);
  });

  test("a per-entry time zone replaces the app's", () => {
    const c = crontab({ minute: 0, hour: 9, timezone: 'Asia/Kolkata' });
    assert.deepEqual(runs(c, '2026-01-01T00:00:00Z', 'UTC', 1), ['2026-01-01T03:30:00+00:00']);
  });

  test('impossible dates: RuntimeError as Celery', () => {
    assert.throws(() => crontab.fromString('0 0 30 2 *').remainingEstimate(0, 0, { timezone: 'UTC' }), /unable to rollover, time specification is probably invalid/);
  });

  test('is_due and beat_cron_starting_deadline (values from Python Celery)', () => {
    const due = (expr: string, last: string, now: string, deadline: number | null, tz = 'UTC') =>
      crontab.fromString(expr).isDue(Date.parse(last), Date.parse(now), { timezone: tz, cronStartingDeadline: deadline });
    assert.deepEqual(due('0 * * * *', '2026-01-01T10:00:00Z', '2026-01-01T13:30:00Z', null), { isDue: true, next: 1800 });
    assert.deepEqual(due('0 * * * *', '2026-01-01T10:00:00Z', '2026-01-01T13:30:00Z', 3600), { isDue: true, next: 1800 });
    assert.deepEqual(due('0 * * * *', '2026-01-01T10:00:00Z', '2026-01-01T13:30:00Z', 60), { isDue: false, next: 1800 });
    assert.deepEqual(due('0 9 * * *', '2026-01-01T09:00:00Z', '2026-01-03T12:00:00Z', 60), { isDue: false, next: 75600 });
    assert.deepEqual(due('0 9 * * *', '2026-01-01T09:00:00Z', '2026-01-03T09:00:30Z', 60), { isDue: true, next: 86370 });
    assert.deepEqual(due('*/10 * * * *', '2026-01-01T09:00:00Z', '2026-01-01T09:05:00Z', 300), { isDue: false, next: 300 });
    assert.deepEqual(due('*/10 * * * *', '2026-01-01T09:00:00Z', '2026-01-01T09:10:00Z', 0), { isDue: true, next: 600 });
    assert.deepEqual(due('*/10 * * * *', '2026-01-01T09:00:00Z', '2026-01-01T09:10:00.500Z', 0), { isDue: false, next: 599.5 });
  });
});

describe('DST: celeriac fixes (default) against Python Celery (dst: celery)', () => {
  test('Berlin spring forward: a skipped 02:30 runs at 03:00 CEST, when the gap ends (Python: 03:30)', () => {
    assert.deepEqual(both('30 2 * * *', '2026-03-28T12:00:00Z', 'Europe/Berlin'), {
      celeriac: ['2026-03-29T03:00:00+02:00', '2026-03-30T02:30:00+02:00'],
      celery: ['2026-03-29T03:30:00+02:00', '2026-03-30T02:30:00+02:00'],
    });
  });

  test('Berlin: several skipped times run once, right after the gap; 02:30 and 03:30 stay two runs (Python merges them)', () => {
    assert.deepEqual(both('15,45 2 * * *', '2026-03-28T12:00:00Z', 'Europe/Berlin'), {
      celeriac: ['2026-03-29T03:00:00+02:00', '2026-03-30T02:15:00+02:00'],
      celery: ['2026-03-29T03:15:00+02:00', '2026-03-30T02:15:00+02:00'],
    });
    assert.deepEqual(both('30 2,3 * * *', '2026-03-28T12:00:00Z', 'Europe/Berlin', 3), {
      celeriac: ['2026-03-29T03:00:00+02:00', '2026-03-29T03:30:00+02:00', '2026-03-30T02:30:00+02:00'],
      celery: ['2026-03-29T03:30:00+02:00', '2026-03-30T02:30:00+02:00', '2026-03-30T03:30:00+02:00'],
    });
  });

  test('where Python is right, the same: */15 goes from 01:45 CET to 03:00 CEST', () => {
    const r = both('*/15 * * * *', '2026-03-29T00:45:00Z', 'Europe/Berlin', 2);
    assert.deepEqual(r.celeriac, ['2026-03-29T03:00:00+02:00', '2026-03-29T03:15:00+02:00']);
    assert.deepEqual(r.celery, r.celeriac);
  });

  test('New York spring forward: 02:30 runs at 03:00 EDT (Python: 03:30)', () => {
    assert.deepEqual(both('30 2 * * *', '2026-03-07T12:00:00Z', 'America/New_York', 1), {
      celeriac: ['2026-03-08T03:00:00-04:00'], celery: ['2026-03-08T03:30:00-04:00'],
    });
  });

  test('Lord Howe (30-minute change): 02:15 runs at 02:30 +11:00 (Python: 02:45)', () => {
    assert.deepEqual(both('15 2 * * *', '2026-10-03T12:00:00Z', 'Australia/Lord_Howe', 1), {
      celeriac: ['2026-10-04T02:30:00+11:00'], celery: ['2026-10-04T02:45:00+11:00'],
    });
  });

  test('Berlin autumn: 02:30 runs once, at its first occurrence (CEST), as in Python', () => {
    const r = both('30 2 * * *', '2026-10-24T12:00:00Z', 'Europe/Berlin', 2);
    assert.deepEqual(r.celeriac, ['2026-10-25T02:30:00+02:00', '2026-10-26T02:30:00+01:00']);
    assert.deepEqual(r.celery, r.celeriac);
  });

  test('Berlin autumn, last run in the second pass (02:10 CET): the next run is the next day; Python goes back to 02:30 CEST, due on every tick', () => {
    assert.deepEqual(both('30 2 * * *', '2026-10-25T02:10:00+01:00', 'Europe/Berlin', 1), {
      celeriac: ['2026-10-26T02:30:00+01:00'], celery: ['2026-10-25T02:30:00+02:00'],
    });
    const last = Date.parse('2026-10-25T02:10:00+01:00');
    const ctx = { timezone: 'Europe/Berlin' };
    assert.deepEqual(crontab.fromString('30 2 * * *', { dst: 'celery' }).isDue(last, last + 5000, ctx), { isDue: true, next: 0 }); // Python's too
    assert.equal(crontab.fromString('30 2 * * *').isDue(last, last + 5000, ctx).isDue, false);
    // an every-15-minutes entry started in the second pass does not replay it
    assert.deepEqual(both('*/15 * * * *', '2026-10-25T02:05:00+01:00', 'Europe/Berlin', 2), {
      celeriac: ['2026-10-25T03:00:00+01:00', '2026-10-25T03:15:00+01:00'],
      celery: ['2026-10-25T02:15:00+02:00', '2026-10-25T02:30:00+02:00'],
    });
  });

  test('Lord Howe autumn (01:30-02:00 twice): from the second pass, 01:45 runs the next day (Python: back to 01:45 +11:00)', () => {
    assert.deepEqual(both('45 1 * * *', '2026-04-05T01:40:00+10:30', 'Australia/Lord_Howe', 1), {
      celeriac: ['2026-04-06T01:45:00+10:30'], celery: ['2026-04-05T01:45:00+11:00'],
    });
  });

  test('explain() names the case', () => {
    const c = crontab.fromString('30 2 * * *');
    const ctx = { timezone: 'Europe/Berlin' };
    const t = Date.parse('2026-03-28T12:00:00Z');
    assert.deepEqual(c.explain(t, t, ctx), { runAt: Date.parse('2026-03-29T01:00:00Z'), celeryRunAt: Date.parse('2026-03-29T01:30:00Z'), dstCase: 'gap' });
    const u = Date.parse('2026-10-25T02:10:00+01:00');
    assert.equal(c.explain(u, u, ctx).dstCase, 'repeat');
    assert.equal(c.explain(t + 86400_000 * 3, t + 86400_000 * 3, ctx).dstCase, null);
  });
});
