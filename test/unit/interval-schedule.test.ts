// Celery's `schedule` (run every N seconds): remaining_estimate, is_due, relative, repr and the
// timedelta rounding, with values computed by Python Celery 5.6.3; in a DST zone Celery adds the
// interval on the wall clock, and so does the port.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { humanizeSeconds, pyFixed2, schedule, secondsToMicros } from '../../src/beat/schedules/interval.ts';

const check = (every: number, relative: boolean, tz: string, last: string, now: string) => {
  const s = schedule(every, { relative });
  const ctx = { timezone: tz };
  return {
    remUs: Math.round(s.remainingEstimate(Date.parse(last), Date.parse(now), ctx) * 1000),
    ...s.isDue(Date.parse(last), Date.parse(now), ctx),
  };
};

test('remaining and is_due: not due (seconds to wait) and due (next = run_every)', () => {
  assert.deepEqual(check(10, false, 'UTC', '2026-01-01T10:00:00Z', '2026-01-01T10:00:03Z'), { remUs: 7_000_000, isDue: false, next: 7 });
  assert.deepEqual(check(10, false, 'UTC', '2026-01-01T10:00:00Z', '2026-01-01T10:00:10Z'), { remUs: 0, isDue: true, next: 10 });
  assert.deepEqual(check(10, false, 'UTC', '2026-01-01T10:00:00Z', '2026-01-01T11:00:00Z'), { remUs: -3_590_000_000, isDue: true, next: 10 });
});

test('relative: the end time rounded down to the resolution of the interval (days, hours, minutes, seconds)', () => {
  assert.deepEqual(check(3600, true, 'UTC', '2026-01-01T10:17:42.500Z', '2026-01-01T10:17:42.500Z'), { remUs: 2_537_500_000, isDue: false, next: 2537.5 });
  assert.deepEqual(check(86400, true, 'UTC', '2026-01-01T10:17:42Z', '2026-01-01T10:17:42Z'), { remUs: 49_338_000_000, isDue: false, next: 49338 });
  assert.deepEqual(check(90, true, 'UTC', '2026-01-01T10:17:42.250Z', '2026-01-01T10:17:42.250Z'), { remUs: 77_750_000, isDue: false, next: 77.75 });
  assert.deepEqual(check(1.5, true, 'UTC', '2026-01-01T10:17:42.250Z', '2026-01-01T10:17:42.250Z'), { remUs: 750_000, isDue: false, next: 0.75 });
  // days are rounded on the zone's wall clock
  assert.deepEqual(check(86400, true, 'Asia/Kolkata', '2026-01-01T10:17:42+05:30', '2026-01-01T10:17:42+05:30'), { remUs: 49_338_000_000, isDue: false, next: 49338 });
});

test("DST: Celery adds run_every on the zone's wall clock", () => {
  // 02:30 CEST + 1 h = 03:30 CET: two real hours
  assert.deepEqual(check(3600, false, 'Europe/Berlin', '2026-10-25T02:30:00+02:00', '2026-10-25T02:30:00+02:00'), { remUs: 7_200_000_000, isDue: false, next: 7200 });
  assert.deepEqual(check(3600, false, 'Europe/Berlin', '2026-10-25T02:30:00+01:00', '2026-10-25T02:30:00+01:00'), { remUs: 3_600_000_000, isDue: false, next: 3600 });
  // 01:30 CET + 2 h = 03:30 CEST: one real hour
  assert.deepEqual(check(7200, false, 'Europe/Berlin', '2026-03-29T01:30:00+01:00', '2026-03-29T01:30:00+01:00'), { remUs: 3_600_000_000, isDue: false, next: 3600 });
});

test("Python's timedelta(seconds=x) rounding (half to even on the microsecond)", () => {
  assert.equal(secondsToMicros(1.0000005), 1_000_001);
  assert.equal(secondsToMicros(0.0000015), 2);
  assert.equal(secondsToMicros(0.0000025), 2);
  assert.equal(secondsToMicros(90), 90_000_000);
  assert.deepEqual(check(1.0000005, false, 'UTC', '2026-01-01T10:00:00Z', '2026-01-01T10:00:00Z'), { remUs: 1_000_001, isDue: false, next: 1.000001 });
});

test("repr as Celery's humanize_seconds; toJSON", () => {
  assert.equal(String(schedule(10)), '<freq: 10.00 seconds>');
  assert.equal(String(schedule(60)), '<freq: 1.00 minute>');
  assert.equal(String(schedule(0.5)), '<freq: now>');
  assert.equal(String(schedule(1)), '<freq: 1.00 second>');
  assert.equal(String(schedule(5400)), '<freq: 1.50 hours>');
  assert.equal(String(schedule(86400)), '<freq: 1.00 day>');
  assert.equal(String(schedule(12.5)), '<freq: 12.50 seconds>');
  assert.equal(String(schedule(90)), '<freq: 1.50 minutes>');
  assert.equal(String(schedule({ hours: 1, minutes: 30 })), '<freq: 1.50 hours>');
  assert.equal(humanizeSeconds(0), 'now');
  assert.equal(pyFixed2(0.125), '0.12'); // Python rounds the exact tie to even; toFixed gives 0.13
  assert.equal(pyFixed2(0.375), '0.38');
  assert.deepEqual(schedule(2.5, { relative: true }).toJSON(), { type: 'interval', every: 2.5, relative: true });
  assert.equal(schedule(2.5).seconds, 2.5);
  assert.equal(schedule(2.5).relative, false);
});
