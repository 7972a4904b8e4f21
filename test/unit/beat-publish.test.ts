// What beat sends, through the app as Celery's beat sends through `send_task`: task_routes apply,
// the entry's options and headers arrive, the slot's task id and periodic_task_name are set; and
// beat_schedule mistakes fail when beat is built, naming the entry.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeTaskMessage } from '../../protocol/index.ts';
import type { RawMessage } from '../../protocol/types.ts';
import { Celery } from '../../src/app.ts';
import { createBeat } from '../../src/beat/beat.ts';
import { entriesFromConfig } from '../../src/beat/entries.ts';
import { slotTaskId } from '../../src/beat/slot.ts';
import type { Broker, PublishTarget } from '../../src/broker.ts';
import { silentLogger } from '../../src/worker/log.ts';

function recordingBroker() {
  const published: { raw: RawMessage; target: PublishTarget }[] = [];
  const broker: Broker = {
    safeUrl: 'memory://',
    connect: async () => {},
    declareQueue: async () => {},
    publish: async (raw, target) => void published.push({ raw, target }),
    consume: () => ({ setPrefetch() {}, cancel: async () => {} }),
    queueLength: async () => 0,
    purge: async () => 0,
    close: async () => {},
  };
  return { broker, published };
}

const file = () => join(mkdtempSync(join(tmpdir(), 'celeriac-beat-')), 'schedule.json');
const T0 = Date.UTC(2026, 5, 1, 8, 0, 0);

test('beat sends through task_routes with the entry options, the slot id and periodic_task_name', async () => {
  const { broker, published } = recordingBroker();
  const app = new Celery({
    broker_url: 'memory://', env: {}, createBroker: () => broker,
    task_routes: { 'reports.*': { queue: 'reports' } },
    beat_schedule: {
      nightly: { task: 'reports.build', schedule: 60, args: [1], kwargs: { day: 'today' }, options: { priority: 7, expires: 120, headers: { team: 'ops' } } },
      direct: { task: 'other.ping', schedule: 60, options: { queue: 'pings' } },
    },
  });
  const clock = { t: T0 };
  const beat = await createBeat(app, { schedule: file(), logger: silentLogger, clock: { now: () => clock.t } });
  await beat.store.setup(entriesFromConfig(app.conf.beatSchedule), clock.t);
  clock.t += 60_000;
  await beat.scheduler.tick();
  assert.equal(published.length, 2);
  const byTask = new Map(published.map((p) => [decodeTaskMessage(p.raw).headers.task, p]));
  const nightly = byTask.get('reports.build')!;
  const msg = decodeTaskMessage(nightly.raw);
  assert.equal(nightly.target.routingKey, 'reports');
  assert.equal(msg.headers.id, slotTaskId('nightly', T0 + 60_000));
  assert.equal(msg.headers.periodic_task_name, 'nightly');
  assert.equal((msg.headers as Record<string, unknown>).team, 'ops');
  assert.equal(msg.properties.priority, 7);
  // expires counts from the send, as apply_async(expires=120) does
  assert.ok(Math.abs(Date.parse(msg.headers.expires!) - (Date.now() + 120_000)) < 5000, msg.headers.expires!);
  assert.deepEqual(msg.body.args, [1]);
  assert.deepEqual(msg.body.kwargs, { day: 'today' });
  const direct = byTask.get('other.ping')!;
  assert.equal(direct.target.routingKey, 'pings');
  await beat.store.close();
  await app.close();
});

test('beat_schedule mistakes fail when beat is built, naming the entry', async () => {
  const cases: [unknown, RegExp][] = [
    [{ task: 't', schedule: 5, options: { queu: 'x' } }, /unknown beat_schedule\["bad"\] option "queu"; did you mean "queue"\?/],
    [{ task: 't' }, /beat_schedule\["bad"\]: schedule is missing/],
    [{ schedule: 5 }, /beat_schedule\["bad"\]: task must be a task name/],
    [{ task: 't', schedule: -1 }, /schedule must be a positive number of seconds, got -1/],
    [{ task: 't', schedule: 'every minute' }, /schedule must be a number of seconds, a duration/],
    [{ task: 't', schedule: 5, args: { a: 1 } }, /args must be an array/],
    [{ task: 't', schedule: 5, sched: 1 }, /unknown key "sched"/],
  ];
  for (const [entry, re] of cases) {
    const app = new Celery({ broker_url: 'memory://', env: {}, createBroker: () => recordingBroker().broker, beat_schedule: { bad: entry } });
    await assert.rejects(createBeat(app, { schedule: file(), logger: silentLogger }), re);
    await app.close();
  }
  const app = new Celery({ broker_url: 'memory://', env: {}, timezone: 'Mars/Olympus', createBroker: () => recordingBroker().broker });
  await assert.rejects(createBeat(app, { schedule: file(), logger: silentLogger }), /timezone "Mars\/Olympus" is not a known IANA time zone/);
  await app.close();
});
