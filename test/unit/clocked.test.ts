// django-celery-beat's clocked schedule: one run at an instant; never again once lastRunAt >= at.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClockedSchedule, NEVER_CHECK_TIMEOUT, clocked } from '../../src/beat/schedules/clocked.ts';

const UTC = { timezone: 'UTC' };
const AT = Date.UTC(2024, 2, 1, 12, 0, 0);

test('clocked: takes a Date, epoch ms or ISO text (no offset: UTC, as maybe_make_aware)', () => {
  for (const at of [new Date(AT), AT, '2024-03-01T12:00:00Z', '2024-03-01T13:00:00+01:00', '2024-03-01T12:00:00',
    '2024-03-01 12:00:00', '2024-03-01T12:00', '2024-03-01 07:00:00-05:00']) {
    assert.equal(clocked(at).at, AT, String(at));
  }
  assert.equal(clocked('2024-03-01').at, Date.UTC(2024, 2, 1));
  assert.equal(clocked('2024-03-01T12:00:00.250').at, AT + 250);
  assert.throws(() => clocked('tomorrow'), { name: 'RangeError', message: 'clocked: not a valid instant: tomorrow' });
  assert.throws(() => clocked(Number.NaN), RangeError);
  assert.throws(() => clocked(new Date('x')), RangeError);
  assert.throws(() => clocked({} as unknown as string), TypeError);
});

test('clocked: repr as django-celery-beat (Python str of the aware datetime), JSON, equality', () => {
  assert.equal(String(clocked(AT)), '<clocked: 2024-03-01 12:00:00+00:00>');
  assert.equal(String(clocked(AT + 5)), '<clocked: 2024-03-01 12:00:00.005000+00:00>');
  assert.deepEqual(clocked(AT).toJSON(), { type: 'clocked', at: '2024-03-01T12:00:00.000Z' });
  const json = clocked(AT).toJSON();
  assert.equal(json.type === 'clocked' && clocked(json.at).at, AT);
  const c = clocked(AT);
  assert.equal(c.kind, 'clocked');
  assert.ok(c instanceof ClockedSchedule);
  assert.ok(c.equals(clocked(new Date(AT))));
  assert.ok(!c.equals(clocked(AT + 1)));
});

test('clocked: before its instant: clocked_time - now, not due, seconds left', () => {
  const before = AT - 90_500;
  const c = clocked(AT);
  assert.equal(c.remainingEstimate(0, before, UTC), 90_500);
  assert.deepEqual(c.isDue(0, before, UTC), { isDue: false, next: 90.5 });
  // last_run_at plays no part while it is before the instant (django's ignores it altogether)
  assert.deepEqual(c.isDue(AT - 1, before, UTC), { isDue: false, next: 90.5 });
});

test('clocked: at or after its instant and not yet run: due, then never again', () => {
  const c = clocked(AT);
  assert.deepEqual(c.isDue(AT - 60_000, AT, UTC), { isDue: true, next: null });
  assert.equal(c.remainingEstimate(AT - 60_000, AT + 7000, UTC), -7000);
  assert.deepEqual(c.isDue(AT - 60_000, AT + 7000, UTC), { isDue: true, next: null });
  // beat records the run: last_run_at is when it sent the task, at or after the instant
  for (const lastRunAt of [AT, AT + 1, AT + 3_600_000]) {
    assert.equal(c.hasRun(lastRunAt), true);
    assert.equal(c.remainingEstimate(lastRunAt, AT + 3_600_000 * 24, UTC), null);
    assert.deepEqual(c.isDue(lastRunAt, AT + 3_600_000 * 24, UTC), { isDue: false, next: null });
  }
  assert.equal(c.hasRun(AT - 1), false);
  assert.equal(NEVER_CHECK_TIMEOUT, 100_000_000);
});
