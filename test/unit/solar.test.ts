// The solar schedule's surface: Celery's messages, repr, JSON, is_due, the circumpolar branch, and a
// few instants that Celery 5.6.3 + PyEphem 4.1.4 printed (the differential test compares thousands).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SOLAR_EVENTS, SolarSchedule, solar } from '../../src/beat/schedules/solar.ts';

const UTC = { timezone: 'UTC' };
const T0 = Date.UTC(2024, 2, 1); // 2024-03-01T00:00Z

test('solar: Celery\'s validation messages, checked in its order (event, latitude, longitude)', () => {
  assert.throws(() => solar('x', 1, 2), {
    name: 'RangeError',
    message: 'Argument event "x" is invalid, must be one of dawn_astronomical, dawn_civil, dawn_nautical, dusk_astronomical, dusk_civil, dusk_nautical, solar_noon, sunrise, sunset.',
  });
  assert.throws(() => solar('x', 91, 200), /Argument event "x"/);
  assert.throws(() => solar('sunrise', 91, 2), { message: 'Argument latitude 91 is invalid, must be between -90 and 90.' });
  assert.throws(() => solar('sunrise', -90.5, 2), { message: 'Argument latitude -90.5 is invalid, must be between -90 and 90.' });
  assert.throws(() => solar('sunrise', 91, 200), /latitude 91/);
  assert.throws(() => solar('sunrise', 1, 180.25), { message: 'Argument longitude 180.25 is invalid, must be between -180 and 180.' });
  assert.throws(() => solar('sunrise', 1, -181), { message: 'Argument longitude -181 is invalid, must be between -180 and 180.' });
  assert.throws(() => solar('sunrise', Number.NaN, 0), /latitude nan is invalid/);
  for (const lat of [-90, 90]) for (const lon of [-180, 180]) assert.ok(solar('sunset', lat, lon));
});

test('solar: repr as Celery\'s __repr__, JSON, equality', () => {
  assert.equal(String(solar('sunrise', 48.85, 2.35)), '<solar: sunrise at latitude 48.85, longitude: 2.35>');
  assert.equal(String(solar('dusk_civil', -33, 151.2)), '<solar: dusk_civil at latitude -33, longitude: 151.2>');
  assert.equal(String(solar('solar_noon', 0.00001, -0.5)), '<solar: solar_noon at latitude 1e-05, longitude: -0.5>');
  assert.deepEqual(solar('sunset', 60.17, 24.94).toJSON(), { type: 'solar', event: 'sunset', lat: 60.17, lon: 24.94 });
  assert.equal(JSON.stringify(solar('sunset', 1, 2)), '{"type":"solar","event":"sunset","lat":1,"lon":2}');
  const s = solar('sunrise', 1, 2);
  assert.equal(s.kind, 'solar');
  assert.ok(s instanceof SolarSchedule);
  assert.ok(s.equals(solar('sunrise', 1, 2)));
  assert.ok(!s.equals(solar('sunset', 1, 2)));
  assert.ok(!s.equals(solar('sunrise', 1, 2.5)));
});

test('solar: Celery\'s horizons, methods and use_center', () => {
  const arcmin = Math.PI / 180 / 60;
  const expect: Record<string, [string, number, boolean]> = {
    dawn_astronomical: ['next_rising', -18 * 60, true], dawn_nautical: ['next_rising', -12 * 60, true],
    dawn_civil: ['next_rising', -6 * 60, true], sunrise: ['next_rising', -34, false],
    solar_noon: ['next_transit', 0, false], sunset: ['next_setting', -34, false],
    dusk_civil: ['next_setting', -6 * 60, true], dusk_nautical: ['next_setting', -12 * 60, true],
    dusk_astronomical: ['next_setting', -18 * 60, true],
  };
  assert.deepEqual([...SOLAR_EVENTS].sort(), Object.keys(expect).sort());
  for (const event of SOLAR_EVENTS) {
    const s = solar(event, 10, 10);
    const [method, horizon, useCenter] = expect[event]!;
    assert.equal(s.method, method, event);
    assert.ok(Math.abs(s.horizon - horizon * arcmin) < 1e-12, event);
    assert.equal(s.useCenter, useCenter, event);
  }
});

test('solar: Paris on 2024-03-01, as Celery + PyEphem computes it (within 2 s)', () => {
  const celery: Record<string, string> = {
    sunrise: '2024-03-01T06:31:46.644Z', solar_noon: '2024-03-01T12:02:47.928Z', sunset: '2024-03-01T17:34:38.305Z',
    dawn_astronomical: '2024-03-01T04:47:03.519Z', dusk_nautical: '2024-03-01T18:42:51.265Z',
  };
  for (const [event, iso] of Object.entries(celery)) {
    const at = solar(event, 48.85, 2.35).nextEvent(T0);
    assert.equal(at.circumpolar, false);
    assert.ok(Math.abs(at.at - Date.parse(iso)) < 2000, `${event}: ${new Date(at.at).toISOString()} vs ${iso}`);
  }
});

test('solar: remainingEstimate is from now to the event after lastRunAt; negative when overdue', () => {
  const s = solar('sunrise', 48.85, 2.35);
  const at = s.nextEvent(T0).at;
  assert.equal(s.remainingEstimate(T0, T0, UTC), at - T0);
  assert.equal(s.remainingEstimate(T0, at + 5000, UTC), -5000);
  // The search starts at lastRunAt: a run just after the sunrise looks for the next day's.
  const tomorrow = s.nextEvent(at + 1000).at;
  assert.ok(tomorrow - at > 23 * 3600e3 && tomorrow - at < 25 * 3600e3);
});

test('solar: isDue as Celery\'s (due: next is the estimate from now; not due: seconds left)', () => {
  const s = solar('sunrise', 48.85, 2.35);
  const at = s.nextEvent(T0).at;
  // Celery printed: is_due(00:00) at 06:00 -> (False, 1906.643585); at 06:40 -> (True, 85787.69878)
  const before = s.isDue(T0, Date.UTC(2024, 2, 1, 6), UTC);
  assert.equal(before.isDue, false);
  assert.ok(Math.abs(before.next! - 1906.644) < 2);
  const after = s.isDue(T0, Date.UTC(2024, 2, 1, 6, 40), UTC);
  assert.equal(after.isDue, true);
  assert.ok(Math.abs(after.next! - 85787.699) < 2);
  assert.deepEqual(s.isDue(T0, at, UTC).isDue, true);
  assert.deepEqual(s.isDue(T0, at - 1, UTC), { isDue: false, next: 0.001 });
});

test('solar: a day the Sun does not set (Tromsø, midsummer): one minute after the next anti-transit, then due', () => {
  const last = Date.UTC(2024, 5, 21, 12);
  const s = solar('sunset', 69.65, 18.95);
  const next = s.nextEvent(last);
  assert.equal(next.circumpolar, true);
  // lower culmination (anti-transit) at about 22:46 UTC (12 h after 10:46 noon, 18.95 deg E), plus 1 min
  const noon = solar('solar_noon', 69.65, 18.95).nextEvent(last - 12 * 3600e3).at;
  assert.ok(Math.abs(next.at - (noon + 12 * 3600e3 + 60e3)) < 60e3, new Date(next.at).toISOString());
  assert.equal(s.isDue(last, next.at - 10_000, UTC).isDue, false);
  // Celery would look again then and find the same estimate, now overdue: the task runs.
  const due = s.isDue(last, next.at, UTC);
  assert.equal(due.isDue, true);
  // Polar night the other way round: no sunrise in December.
  assert.equal(solar('sunrise', 69.65, 18.95).nextEvent(Date.UTC(2024, 11, 21)).circumpolar, true);
  // Twilight still happens then.
  assert.equal(solar('dawn_civil', 69.65, 18.95).nextEvent(Date.UTC(2024, 11, 21)).circumpolar, false);
});

test('solar: solar noon is never circumpolar, also at the poles; the search always ends', () => {
  for (const lat of [-90, -66.6, 0, 66.6, 90]) {
    const at = solar('solar_noon', lat, 0).nextEvent(Date.UTC(2025, 5, 1)).at;
    assert.ok(Math.abs(at - Date.UTC(2025, 5, 1, 11, 57, 40)) < 60e3, `${lat}: ${new Date(at).toISOString()}`);
  }
  // PyEphem loops for ever here (the exact pole, the Sun crossing -18 deg); ours gives an answer.
  const s = solar('dawn_astronomical', 90, 2.35);
  const next = s.nextEvent(Date.parse('2020-11-12T02:12:43.727Z'));
  assert.ok(Number.isFinite(next.at));
});
