// RedBeat's rrule schedule: options, repr, RedBeat's JSON both ways, RedBeat's remaining_estimate /
// is_due, and occurrences that python-dateutil 2.9 printed (the differential test compares thousands).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RRuleSchedule, RRuleWeekday, rrule, rruleFromJSON } from '../../src/beat/schedules/rrule.ts';

const UTC = { timezone: 'UTC' };
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString().replace('.000Z', 'Z'));
/** The first `n` occurrences after `from`. */
function take(s: RRuleSchedule, from: number, n: number): (string | null)[] {
  const out: (string | null)[] = [];
  let t: number | null = from;
  for (let i = 0; i < n && t !== null; i++) out.push(iso((t = s.after(t))));
  return out;
}

test('rrule: freq by name or dateutil number; bad options refused', () => {
  assert.equal(rrule({ freq: 'weekly', dtstart: 0 }).freq, 2);
  assert.equal(rrule({ freq: 'SECONDLY', dtstart: 0 }).freq, 6);
  assert.equal(rrule({ freq: 0, dtstart: 0 }).freq, 0);
  assert.throws(() => rrule({ freq: 'fortnightly' }), /unknown freq "fortnightly"/);
  assert.throws(() => rrule({ freq: 7 }), /freq must be 0 \(YEARLY\) to 6 \(SECONDLY\)/);
  assert.throws(() => rrule({ freq: 3, interval: 0 }), /interval must be a positive integer/);
  assert.throws(() => rrule({ freq: 3, bysetpos: 0 }), { message: 'bysetpos must be between 1 and 366, or between -366 and -1' });
  assert.throws(() => rrule({ freq: 3, bymonthday: [0] }), /bymonthday values must be integers from -31 to -1 or 1 to 31, got 0/);
  assert.throws(() => rrule({ freq: 3, byhour: 24 }), /byhour values must be integers from 0 to 23/);
  assert.throws(() => rrule({ freq: 3, byweekday: 7 }), /byweekday must be 0 \(MO\) to 6 \(SU\)/);
  assert.throws(() => rrule({ freq: 3, byweekday: 'XX' }), /not a weekday/);
  assert.throws(() => rrule({ freq: 0, byeaster: [0, 1] }), /byeaster with more than one offset is not supported/);
  assert.throws(() => rrule({ freq: 3, byeaster: 0 }), /byeaster is supported with freq YEARLY only/);
  assert.throws(() => rrule({ freq: 4, byweekno: 1 }), /byweekno is supported with freq YEARLY to DAILY only/);
  assert.throws(() => rrule({ freq: 3, dtstart: 'soon' }), /dtstart is not a valid instant: soon/);
  // dateutil's own refusals of an interval that never reaches the byxxx values
  assert.throws(() => rrule({ freq: 'HOURLY', dtstart: Date.UTC(2024, 0, 1), interval: 12, byhour: 9 }), { message: 'Invalid rrule byxxx generates an empty set.' });
});

test('rrule: RedBeat\'s repr, with dtstart and until in their own offsets', () => {
  const s = rruleFromJSON({
    __type__: 'rrule', freq: 2, interval: 1, wkst: null, count: null, bysetpos: [1, 2], bymonth: null, bymonthday: null,
    byyearday: null, byeaster: null, byweekno: null,
    byweekday: [{ __type__: 'weekday', wkday: 0 }, { __type__: 'weekday', wkday: 4, n: 1 }],
    byhour: null, byminute: null, bysecond: null, dtstart: 1704094200, dtstart_tz: 120.0, until: 1714521600, until_tz: 0,
  });
  // What RedBeat printed for the same JSON (weekday n kept: RedBeat's encoder drops it, its decoder takes it)
  assert.equal(String(s), '<rrule: freq: 2, dtstart: 2024-01-01 09:30:00+02:00, interval: 1, wkst: None, count: None, '
    + 'until: 2024-05-01 00:00:00+00:00, bysetpos: [1, 2], bymonth: None, bymonthday: None, byyearday: None, byeaster: None, '
    + 'byweekno: None, byweekday: [MO, FR(+1)], byhour: None, byminute: None, bysecond: None>');
  assert.equal(String(rrule({ freq: 3, dtstart: '2024-01-01T09:30:00-05:30', byweekday: 0, wkst: 'SU', byhour: [9, 17] })),
    '<rrule: freq: 3, dtstart: 2024-01-01 09:30:00-05:30, interval: 1, wkst: SU, count: None, until: None, bysetpos: None, '
    + 'bymonth: None, bymonthday: None, byyearday: None, byeaster: None, byweekno: None, byweekday: 0, byhour: [9, 17], '
    + 'byminute: None, bysecond: None>');
  assert.equal(String(new RRuleWeekday(6, -1)), 'SU(-1)');
  assert.equal(String(rrule({ freq: 1, byweekday: '+2TU' }).byweekday), 'TU(+2)');
  assert.equal(String(rrule({ freq: 1, byweekday: 'fr(-1)' }).byweekday), 'FR(-1)');
});

test('rrule: toJSON is RedBeat\'s JSON (without __type__) and reads back', () => {
  const s = rrule({ freq: 'DAILY', dtstart: Date.UTC(2024, 0, 1, 9, 30, 0, 750), byweekday: [0, 4], wkst: 6 });
  // RedBeat's encoder wrote exactly these fields for rrule(3, dtstart=2024-01-01 09:30 UTC, byweekday=[0, 4], wkst=6)
  assert.deepEqual(s.toJSON(), {
    type: 'rrule', freq: 3, interval: 1, wkst: 6, count: null, bysetpos: null, bymonth: null, bymonthday: null,
    byyearday: null, byeaster: null, byweekno: null, byweekday: [0, 4], byhour: null, byminute: null, bysecond: null,
    dtstart: 1704101400, dtstart_tz: 0,
  });
  const u = rrule({ freq: 1, dtstart: '2024-01-31T09:00:00+01:00', until: '2024-12-31T23:59:59.9Z', byweekday: { weekday: 4, n: -1 } });
  const json = u.toJSON() as Record<string, unknown>;
  assert.deepEqual([json['dtstart'], json['dtstart_tz'], json['until'], json['until_tz'], json['byweekday']],
    [1706688000, 60, 1735689599, 0, { __type__: 'weekday', wkday: 4, n: -1 }]);
  const back = rruleFromJSON(json);
  assert.equal(String(back), String(u));
  assert.deepEqual(take(back, Date.UTC(2024, 0, 1), 3), take(u, Date.UTC(2024, 0, 1), 3));
  assert.throws(() => rruleFromJSON({ freq: 3, dtstart: 0, every: 5 }), /unexpected field\(s\) every/);
});

test('rrule: occurrences as dateutil gives them', () => {
  // MONTHLY from Jan 31: months without a 31st are skipped
  assert.deepEqual(take(rrule({ freq: 'MONTHLY', dtstart: '2024-01-31T09:00:00Z', count: 4 }), Date.UTC(2024, 0, 1), 5),
    ['2024-01-31T09:00:00Z', '2024-03-31T09:00:00Z', '2024-05-31T09:00:00Z', '2024-07-31T09:00:00Z', null]);
  // last Friday of the month
  assert.deepEqual(take(rrule({ freq: 1, dtstart: '2024-01-01T08:00:00Z', byweekday: 'FR(-1)', count: 3 }), 0, 3),
    ['2024-01-26T08:00:00Z', '2024-02-23T08:00:00Z', '2024-03-29T08:00:00Z']);
  // Easter Sundays
  assert.deepEqual(take(rrule({ freq: 0, dtstart: '2024-01-01T00:00:00Z', byeaster: 0, count: 3 }), 0, 3),
    ['2024-03-31T00:00:00Z', '2025-04-20T00:00:00Z', '2026-04-05T00:00:00Z']);
  // HOURLY every 5 hours from 10:17, only some hours, two minutes each
  assert.deepEqual(take(rrule({ freq: 'HOURLY', dtstart: '2024-03-01T10:17:00Z', interval: 5, byhour: [0, 5, 15, 20], byminute: [0, 30] }), Date.UTC(2024, 2, 1), 6),
    ['2024-03-01T15:00:00Z', '2024-03-01T15:30:00Z', '2024-03-01T20:00:00Z', '2024-03-01T20:30:00Z', '2024-03-06T00:00:00Z', '2024-03-06T00:30:00Z']);
  // MINUTELY every 7 minutes on Saturdays only: the cadence goes on through the days it skips
  assert.deepEqual(take(rrule({ freq: 'MINUTELY', dtstart: '2024-03-01T23:50:00Z', interval: 7, byweekday: ['SA'] }), Date.UTC(2024, 2, 1), 4),
    ['2024-03-02T00:04:00Z', '2024-03-02T00:11:00Z', '2024-03-02T00:18:00Z', '2024-03-02T00:25:00Z']);
  // byhour given out of order: a day's times still come in order
  assert.equal(iso(rrule({ freq: 3, dtstart: '2024-01-01T00:12:00Z', byhour: [12, 6, 23] }).after(Date.UTC(2024, 0, 13))), '2024-01-13T06:12:00Z');
  // a fixed offset: 09:00 at +02:00 is 07:00 UTC; strictly after
  const s = rrule({ freq: 'DAILY', dtstart: '2024-06-01T09:00:00+02:00' });
  assert.equal(iso(s.after(Date.UTC(2024, 5, 3, 7))), '2024-06-04T07:00:00Z');
  assert.equal(iso(s.after(Date.UTC(2024, 5, 3, 6, 59, 59, 999))), '2024-06-03T07:00:00Z');
});

test('rrule: remainingEstimate and isDue as RedBeat\'s', () => {
  const s = rrule({ freq: 'DAILY', dtstart: '2024-06-01T09:00:00Z', until: '2024-06-03T09:00:00Z' });
  const day = 86_400_000;
  const first = Date.UTC(2024, 5, 1, 9);
  assert.equal(s.remainingEstimate(first - 1000, first - 60_000, UTC), 60_000);
  assert.deepEqual(s.isDue(first - 1000, first - 60_000, UTC), { isDue: false, next: 60 });
  // due: next is the estimate from now
  assert.deepEqual(s.isDue(first - 1000, first + 500, UTC), { isDue: true, next: (day - 500) / 1000 });
  // the last occurrence is due, then nothing comes after it
  const last = first + 2 * day;
  assert.deepEqual(s.isDue(first + day, last, UTC), { isDue: true, next: null });
  assert.equal(s.remainingEstimate(last, last + 1, UTC), null);
  assert.deepEqual(s.isDue(last, last + day, UTC), { isDue: false, next: null });
  // count: exhausted after the count-th run
  const c = rrule({ freq: 'HOURLY', dtstart: '2024-06-01T00:00:00Z', count: 2 });
  assert.equal(iso(c.after(Date.UTC(2024, 5, 1))), '2024-06-01T01:00:00Z');
  assert.equal(c.after(Date.UTC(2024, 5, 1, 1)), null);
});

test('rrule: dtstart loses its sub-second part and defaults to now; until keeps whole seconds', () => {
  assert.equal(rrule({ freq: 3, dtstart: Date.UTC(2024, 0, 1, 0, 0, 0, 999) }).dtstart, Date.UTC(2024, 0, 1));
  const now = Date.now();
  const s = rrule({ freq: 3 });
  assert.ok(s.dtstart <= now + 1000 && s.dtstart >= now - 1000 && s.dtstart % 1000 === 0);
  assert.equal(s.dtstartTz, 0);
  assert.equal(rrule({ freq: 3, dtstart: 0, until: 1999 }).until, 1000);
  assert.equal(rrule({ freq: 3, dtstart: '2024-01-01T00:00:00+05:45' }).dtstartTz, 345);
  assert.equal(rrule({ freq: 3, dtstart: '2024-01-01T00:00:00+05:45', dtstartTz: 0 }).dtstartTz, 0);
  assert.equal(rrule({ freq: 3, dtstart: '2024-01-01 00:00:00' }).dtstart, Date.UTC(2024, 0, 1));
});
