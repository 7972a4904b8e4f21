// The scheduler over the file store, with a hand-driven clock and a recording publisher: when entries
// are sent, that a claim is on disk before the send, and what a restart after a crash does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Scheduler, type BeatPublisher } from '../../src/beat/scheduler.ts';
import { FileBeatStore } from '../../src/beat/stores/file.ts';
import { schedule } from '../../src/beat/schedules/interval.ts';
import type { Claim, EntryDefinition } from '../../src/beat/store.ts';
import type { ScheduleJSON } from '../../src/beat/schedules/base.ts';
import { scheduleFromJSON as fromJSON } from '../../src/beat/schedules/index.ts';
import { clocked } from '../../src/beat/schedules/clocked.ts';
import { silentLogger, type WorkerLogger } from '../../src/worker/log.ts';
import { slotTaskId } from '../../src/beat/slot.ts';

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);

function scheduleFromJSON(json: ScheduleJSON) {
  return fromJSON(json);
}

function setUp(path: string, clock: { t: number }, publisher: BeatPublisher, logger: WorkerLogger = silentLogger) {
  let scheduler!: Scheduler;
  const store = new FileBeatStore({
    path, timezone: 'UTC', logger, now: () => clock.t, fromJSON: scheduleFromJSON, dueAt: (e, now) => scheduler.dueAt(e, now),
  });
  scheduler = new Scheduler({ store, publisher, context: { timezone: 'UTC' }, logger, clock: { now: () => clock.t }, maxInterval: 300_000, retryDelay: 1000 });
  return { store, scheduler };
}

const every10: EntryDefinition = { name: 'ten', task: 't.ten', schedule: schedule(10), args: [1], kwargs: {}, options: { queue: 'q' }, enabled: true };

function recorder() {
  const sent: Claim[] = [];
  return { sent, publisher: { publish: async (c: Claim) => void sent.push(c) } };
}

function tmp(): string {
  return join(mkdtempSync(join(tmpdir(), 'celeriac-beat-')), 'celerybeat-schedule.json');
}

test('a new interval entry runs one interval after start, then every interval, with slot task ids', async () => {
  const clock = { t: T0 };
  const { sent, publisher } = recorder();
  const { store, scheduler } = setUp(tmp(), clock, publisher);
  await store.setup([every10], clock.t);
  let sleep = await scheduler.tick();
  assert.equal(sent.length, 0);
  assert.equal(sleep, 10_000);
  for (let i = 1; i <= 3; i++) {
    clock.t = T0 + i * 10_000;
    sleep = await scheduler.tick();
    assert.equal(sent.length, i);
    assert.equal(sleep, 10_000);
  }
  assert.deepEqual(sent.map((c) => c.slot), [T0 + 10_000, T0 + 20_000, T0 + 30_000]);
  assert.equal(sent[0]!.taskId, slotTaskId('ten', T0 + 10_000));
  const e = await store.get('ten');
  assert.equal(e!.totalRunCount, 3);
  assert.equal(e!.lastRunAt, T0 + 30_000);
  await store.close();
});

test('after downtime an entry runs once to catch up, not once per missed slot', async () => {
  const clock = { t: T0 };
  const { sent, publisher } = recorder();
  const path = tmp();
  let { store, scheduler } = setUp(path, clock, publisher);
  await store.setup([every10], clock.t);
  clock.t += 10_000;
  await scheduler.tick();
  await store.close();
  clock.t += 600_000; // down for 10 minutes
  ({ store, scheduler } = setUp(path, clock, publisher));
  await store.setup([every10], clock.t);
  await scheduler.tick();
  await scheduler.tick();
  assert.equal(sent.length, 2);
  assert.equal((await store.get('ten'))!.totalRunCount, 2);
  await store.close();
});

test('the claim is on disk before the publish; a crash before the confirm resends with the same task id', async () => {
  const clock = { t: T0 };
  const path = tmp();
  let onDisk = '';
  // this publisher reads the journal when asked to send, then "crashes" (never confirms)
  const crashing: BeatPublisher = {
    publish: async () => {
      onDisk = readFileSync(`${path}.journal`, 'utf8');
      return new Promise<void>(() => {});
    },
  };
  const first = setUp(path, clock, crashing);
  await first.store.setup([every10], clock.t);
  clock.t += 10_000;
  void first.scheduler.tick();
  await new Promise((r) => setTimeout(r, 20));
  assert.match(onDisk, /"claims"/);
  assert.match(onDisk, new RegExp(slotTaskId('ten', T0 + 10_000)));
  // the process dies: no close(), the lock file stays (its pid is ours, so it is not "another beat")
  clock.t += 1000;
  const { sent, publisher } = recorder();
  const second = setUp(path, clock, publisher);
  await second.store.setup([every10], clock.t);
  assert.equal(await second.scheduler.resendPending(), 1);
  assert.equal(sent[0]!.taskId, slotTaskId('ten', T0 + 10_000));
  assert.equal((await second.store.pending()).length, 0);
  // and the slot is not sent again by the schedule: the next one is 10 s after the claim
  await second.scheduler.tick();
  assert.equal(sent.length, 1);
  clock.t = T0 + 20_000;
  await second.scheduler.tick();
  assert.equal(sent.length, 2);
  assert.equal(sent[1]!.slot, T0 + 20_000);
  await second.store.close();
});

test('a failed publish keeps the slot and retries it with the same task id', async () => {
  const clock = { t: T0 };
  let fail = 2;
  const sent: Claim[] = [];
  const flaky: BeatPublisher = {
    publish: async (c) => {
      if (fail-- > 0) throw new Error('broker down');
      sent.push(c);
    },
  };
  const { store, scheduler } = setUp(tmp(), clock, flaky);
  await store.setup([every10], clock.t);
  clock.t += 10_000;
  await scheduler.tick();
  assert.equal(scheduler.retrying, 1);
  clock.t += 1000;
  await scheduler.tick();
  assert.equal(scheduler.retrying, 1);
  clock.t += 2000;
  await scheduler.tick();
  assert.equal(scheduler.retrying, 0);
  assert.equal(sent.length, 1);
  assert.equal(sent[0]!.taskId, slotTaskId('ten', T0 + 10_000));
  assert.equal(scheduler.counts.failed, 2);
  await store.close();
});

test('a second beat on the same file is refused; a stale lock of a dead pid is taken over', async () => {
  const clock = { t: T0 };
  const path = tmp();
  const a = setUp(path, clock, recorder().publisher);
  await a.store.setup([every10], clock.t);
  writeFileSync(`${path}.lock`, '1'); // pid 1 is alive
  const b = setUp(path, clock, recorder().publisher);
  await assert.rejects(b.store.setup([every10], clock.t), /another beat \(pid 1\) is using the schedule file/);
  writeFileSync(`${path}.lock`, '999999999');
  const warnings: string[] = [];
  const c = setUp(path, clock, recorder().publisher, { ...silentLogger, warning: (m) => void warnings.push(m) });
  await c.store.setup([every10], clock.t);
  assert.match(warnings.join('\n'), /stale lock/);
  await c.store.close();
  assert.equal(existsSync(`${path}.lock`), false);
});

test('entries dropped from beat_schedule are removed; a time zone change is logged and run state kept', async () => {
  const clock = { t: T0 };
  const path = tmp();
  const other: EntryDefinition = { ...every10, name: 'other' };
  const { store, scheduler } = setUp(path, clock, recorder().publisher);
  await store.setup([every10, other], clock.t);
  clock.t += 10_000;
  await scheduler.tick();
  await store.close();
  const warnings: string[] = [];
  let s2!: Scheduler;
  const store2 = new FileBeatStore({
    path, timezone: 'Europe/Berlin', logger: { ...silentLogger, warning: (m) => void warnings.push(m) }, now: () => clock.t,
    fromJSON: scheduleFromJSON, dueAt: (e, now) => s2.dueAt(e, now),
  });
  s2 = new Scheduler({ store: store2, publisher: recorder().publisher, context: { timezone: 'Europe/Berlin' }, logger: silentLogger, clock: { now: () => clock.t } });
  await store2.setup([every10], clock.t);
  assert.deepEqual((await store2.list()).map((e) => e.name), ['ten']);
  assert.equal((await store2.get('ten'))!.totalRunCount, 1);
  assert.match(warnings.join('\n'), /time zone changed from UTC to Europe\/Berlin/);
  await store2.close();
});

test("Python Celery's shelve file is refused with a clear error", async () => {
  const path = tmp();
  writeFileSync(path, Buffer.from([0, 6, 0x15, 0x61, 0, 0, 0, 2]));
  const { store } = setUp(path, { t: T0 }, recorder().publisher);
  await assert.rejects(store.setup([every10], T0), /not a celeriac beat schedule \(it looks like Python Celery's shelve file\)/);
});

test('a clocked entry runs once at its instant; one whose instant passed before it was added runs once at once', async () => {
  const clock = { t: T0 };
  const { sent, publisher } = recorder();
  const { store, scheduler } = setUp(tmp(), clock, publisher);
  const future: EntryDefinition = { ...every10, name: 'future', schedule: clocked(T0 + 5000) };
  const past: EntryDefinition = { ...every10, name: 'past', schedule: clocked(T0 - 60_000) };
  await store.setup([future, past], clock.t);
  await scheduler.tick();
  assert.deepEqual(sent.map((c) => c.name), ['past']);
  for (let i = 1; i <= 20; i++) {
    clock.t = T0 + i * 1000;
    await scheduler.tick();
  }
  assert.deepEqual(sent.map((c) => c.name), ['past', 'future']);
  assert.equal(sent[1]!.slot, T0 + 5000);
  assert.equal((await store.get('future'))!.totalRunCount, 1);
  await store.close();
});

test('a claim that fails after it was recorded (a full disk while compacting) is sent by the next tick', async () => {
  const clock = { t: T0 };
  const { sent, publisher } = recorder();
  const { store, scheduler } = setUp(tmp(), clock, publisher);
  await store.setup([every10], clock.t);
  const claim = store.claim.bind(store);
  store.claim = async (requests) => {
    await claim(requests);
    throw new Error('ENOSPC: no space left on device');
  };
  clock.t += 10_000;
  await assert.rejects(scheduler.tick(), /ENOSPC/);
  assert.equal(sent.length, 0);
  store.claim = claim;
  clock.t += 500;
  await scheduler.tick();
  assert.equal(sent.length, 1);
  assert.equal(sent[0]!.taskId, slotTaskId('ten', T0 + 10_000));
  await store.close();
});
