// RedBeat's JSON (redbeat/decoder.py): samples written by Python RedBeat 2.x (copied from a real run)
// decode to the right instants and schedules; what celeriac writes decodes back to the same values.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  UnrepresentableScheduleError, decodeDateTime, decodeDefinition, decodeMeta, decodeSchedule, encodeDateTime,
  encodeDefinition, encodeMeta, encodeSchedule, redbeatScore,
} from '../../src/beat/stores/redbeat-codec.ts';
import { schedule } from '../../src/beat/schedules/interval.ts';
import { crontab } from '../../src/beat/schedules/crontab.ts';
import type { Schedule, ScheduleJSON } from '../../src/beat/schedules/base.ts';
import type { EntryDefinition } from '../../src/beat/store.ts';
import { PyDateTime } from '../../protocol/values.ts';

/** A schedule that only knows its plain form (for the types this test does not evaluate). */
function stub(json: ScheduleJSON): Schedule {
  return {
    kind: json.type, toJSON: () => json, toString: () => `<stub ${json.type}>`,
    remainingEstimate: () => null, isDue: () => ({ isDue: false, next: null }),
  };
}

function fromJSON(json: ScheduleJSON): Schedule {
  if (json.type === 'interval') return schedule(json.every, { relative: json.relative });
  if (json.type === 'crontab') {
    const { type: _t, ...f } = json;
    return crontab(f);
  }
  return stub(json);
}

const def = (name: string, sched: Schedule, extra: Partial<EntryDefinition> = {}): EntryDefinition => ({
  name, task: 'tasks.add', schedule: sched, args: [], kwargs: {}, options: {}, enabled: true, ...extra,
});

describe('datetimes', () => {
  test('Python samples: app zone UTC, an IANA zone, a fixed offset, a naive datetime, no timezone key', () => {
    const utc = '{"last_run_at": {"__type__": "datetime", "year": 2026, "month": 12, "day": 6, "hour": 23, "minute": 24, "second": 50, "microsecond": 979381, "timezone": "UTC"}, "total_run_count": 1}';
    assert.deepEqual(decodeMeta(utc), { lastRunAt: Date.UTC(2026, 11, 6, 23, 24, 50, 979) + 0.381, totalRunCount: 1 });
    const berlin = '{"last_run_at": {"__type__": "datetime", "year": 2026, "month": 12, "day": 7, "hour": 0, "minute": 24, "second": 51, "microsecond": 374056, "timezone": "Europe/Berlin"}}';
    assert.deepEqual(decodeMeta(berlin), { lastRunAt: Date.UTC(2026, 11, 6, 23, 24, 51, 374) + 0.056, totalRunCount: 0 });
    const fixed = '{"last_run_at": {"__type__": "datetime", "year": 2024, "month": 1, "day": 1, "hour": 12, "minute": 0, "second": 0, "microsecond": 123456, "timezone": 7200.0}}';
    assert.equal(decodeMeta(fixed).lastRunAt, Date.UTC(2024, 0, 1, 10, 0, 0, 123) + 0.456);
    const noZone = { __type__: 'datetime', year: 2024, month: 1, day: 1, hour: 12, minute: 0, second: 0, microsecond: 0 };
    assert.equal(decodeDateTime(noZone), Date.UTC(2024, 0, 1, 12));
    assert.deepEqual(decodeMeta('{"last_run_at": null}'), { lastRunAt: null, totalRunCount: 0 });
    assert.deepEqual(decodeMeta(null), { lastRunAt: null, totalRunCount: 0 });
  });

  test('wall times DST skips or repeats resolve as ZoneInfo with fold=0 (values from Python)', () => {
    const at = (month: number, day: number) => ({ __type__: 'datetime', year: 2024, month, day, hour: 2, minute: 30, second: 0, microsecond: 0, timezone: 'Europe/Berlin' });
    assert.equal(decodeDateTime(at(3, 31)), 1711848600_000); // the gap: the offset before it (+01:00)
    assert.equal(decodeDateTime(at(10, 27)), 1729989000_000); // repeated: the first occurrence (+02:00)
  });

  test('what celeriac writes: UTC, microseconds exact, and back', () => {
    const t = Date.UTC(2026, 2, 29, 1, 2, 3, 456) + 0.789;
    const d = encodeDateTime(t);
    assert.deepEqual(d, { __type__: 'datetime', year: 2026, month: 3, day: 29, hour: 1, minute: 2, second: 3, microsecond: 456789, timezone: 'UTC' });
    assert.equal(decodeDateTime({ ...d }), t);
    const b = encodeDateTime(t, 'Europe/Berlin');
    assert.equal(b.hour, 3); // 01:02 UTC on the day CEST starts is 03:02 in Berlin
    assert.equal(decodeDateTime({ ...b }), t);
    const meta = encodeMeta({ lastRunAt: t, totalRunCount: 7 });
    assert.match(meta, /^\{"last_run_at": \{"__type__": "datetime", "year": 2026, /);
    assert.deepEqual(decodeMeta(meta), { lastRunAt: t, totalRunCount: 7 });
    // in the app's zone, as Python's beat writes it (Celery's crontab reads last_run_at's own wall clock)
    const berlin = encodeMeta({ lastRunAt: t, totalRunCount: 7 }, 'Europe/Berlin');
    assert.match(berlin, /"hour": 3, .*"microsecond": 456789, "timezone": "Europe\/Berlin"\}, "total_run_count": 7\}$/);
    assert.deepEqual(decodeMeta(berlin), { lastRunAt: t, totalRunCount: 7 });
  });

  test('scores: whole UTC seconds, truncated (calendar.timegm); never is -1', () => {
    assert.equal(redbeatScore(1_700_000_000_999), 1_700_000_000);
    assert.equal(redbeatScore(1_700_000_000_000), 1_700_000_000);
    assert.equal(redbeatScore(null), -1);
  });
});

describe('definitions', () => {
  test('Python samples: interval and crontab, args null', () => {
    const interval = '{"name": "e1", "task": "tasks.add", "args": [1, 2], "kwargs": {"a": 1}, "options": {"queue": "q"}, "schedule": {"__type__": "interval", "every": 10.0, "relative": false}, "enabled": true}';
    const d = decodeDefinition(interval, fromJSON);
    assert.equal(d.name, 'e1');
    assert.deepEqual([d.args, d.kwargs, d.options, d.enabled], [[1, 2], { a: 1 }, { queue: 'q' }, true]);
    assert.deepEqual(d.schedule.toJSON(), { type: 'interval', every: 10, relative: false });
    const cron = '{"name": "c1", "task": "tasks.add", "args": null, "kwargs": {}, "options": {}, "schedule": {"__type__": "crontab", "minute": "*/15", "hour": [1, 2], "day_of_week": "*", "day_of_month": "*", "month_of_year": "*"}, "enabled": true}';
    const c = decodeDefinition(cron, fromJSON);
    assert.deepEqual(c.args, []);
    assert.deepEqual(c.schedule.toJSON(), { type: 'crontab', minute: '*/15', hour: [1, 2], day_of_week: '*', day_of_month: '*', month_of_year: '*' });
  });

  test('Python sample: an rrule passes through in RedBeat\'s shape (weekday items included)', () => {
    const rr = '{"__type__": "rrule", "freq": 2, "interval": 1, "wkst": null, "count": 5, "bysetpos": null, "bymonth": null, "bymonthday": null, "byyearday": null, "byeaster": null, "byweekno": null, "byweekday": [{"__type__": "weekday", "wkday": 0}, {"__type__": "weekday", "wkday": 1}], "byhour": null, "byminute": null, "bysecond": null, "dtstart": 1704099600, "dtstart_tz": 0}';
    const json = decodeSchedule(JSON.parse(rr));
    assert.equal(json.type, 'rrule');
    assert.deepEqual((json as Record<string, unknown>).byweekday, [{ __type__: 'weekday', wkday: 0 }, { __type__: 'weekday', wkday: 1 }]);
    assert.deepEqual(encodeSchedule(json), JSON.parse(rr));
  });

  test('round trip of what celeriac writes, with datetimes and big integers in the arguments', () => {
    const when = new PyDateTime('2026-01-02T03:04:05.123456+02:00');
    const d = def('r', crontab({ minute: 0, hour: '9-17', dayOfWeek: 'mon-fri' }), {
      args: [when, 2n ** 70n], kwargs: { at: new Date(Date.UTC(2026, 0, 1)) }, options: { queue: 'q', priority: 3 }, enabled: false,
    });
    const text = encodeDefinition(d);
    assert.match(text, /"schedule": \{"__type__": "crontab", "minute": 0, "hour": "9-17", "day_of_week": "mon-fri"/);
    assert.match(text, /"args": \[\{"__type__": "datetime", "year": 2026, "month": 1, "day": 2, "hour": 3, "minute": 4, "second": 5, "microsecond": 123456, "timezone": 7200\}, 1180591620717411303424\]/);
    const back = decodeDefinition(text, fromJSON);
    assert.equal(back.enabled, false);
    assert.deepEqual(back.schedule.toJSON(), d.schedule.toJSON());
    const [dt, big] = back.args as [PyDateTime, bigint];
    assert.equal(dt.isoformat, '2026-01-02T03:04:05.123456+02:00');
    assert.equal(big, 2n ** 70n);
    assert.equal((back.kwargs.at as Date).getTime(), Date.UTC(2026, 0, 1));
    assert.deepEqual(back.options, { queue: 'q', priority: 3 });
  });
});

describe('schedules RedBeat cannot represent', () => {
  const solar = stub({ type: 'solar', event: 'sunrise', lat: 52.5, lon: 13.4 });
  const clocked = stub({ type: 'clocked', at: '2030-01-01T00:00:00Z' });
  const tokyo = crontab({ minute: 0, hour: 9, timezone: 'Asia/Tokyo' });

  test('refused for a store shared with Python RedBeat, naming the entry and the way out', () => {
    for (const s of [solar, clocked, tokyo]) {
      assert.throws(() => encodeDefinition(def('x', s)), (err: Error) => {
        assert.ok(err instanceof UnrepresentableScheduleError);
        assert.match(err.message, /beat entry "x": .* cannot be stored in RedBeat's format .*redbeat_celeriac_only/);
        return true;
      });
    }
  });

  test('a crontab in the app\'s own zone is a plain RedBeat crontab', () => {
    const text = encodeDefinition(def('x', tokyo), { timezone: 'Asia/Tokyo' });
    assert.match(text, /"schedule": \{"__type__": "crontab", "minute": 0, "hour": 9, "day_of_week": "\*", "day_of_month": "\*", "month_of_year": "\*"\}/);
  });

  test('stored, tagged celeriac.*, in a store only celeriac reads; and read back', () => {
    for (const s of [solar, clocked, tokyo]) {
      const text = encodeDefinition(def('x', s), { redbeatCompatible: false });
      assert.match(text, new RegExp(`"__type__": "celeriac\\.${s.kind}"`));
      assert.deepEqual(decodeDefinition(text, fromJSON).schedule.toJSON(), s.toJSON());
    }
  });

  test('an unknown __type__ is an error (the store skips and logs the entry)', () => {
    assert.throws(() => decodeSchedule({ __type__: 'mystery' }), /unknown schedule type "mystery"/);
  });
});
