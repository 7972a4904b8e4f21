// Remote control `heartbeat`: the worker sends `worker-heartbeat` at once with freq=5 and only the
// software info, as celery/worker/control.py's heartbeat() does (not a full beat with load and counts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { decodeEventMessage } from '../../protocol/events.ts';
import { Celery } from '../../src/app.ts';
import type { PublishTarget } from '../../src/broker.ts';
import { WorkerEventer } from '../../src/events/worker.ts';
import { MemBackend, MemBroker } from '../helpers/mem-broker.ts';
import type { RawMessage } from '../../protocol/types.ts';

class EventBroker extends MemBroker {
  events: RawMessage[] = [];
  override async publish(raw: RawMessage, target: PublishTarget) {
    if (target.exchange === 'celeryev') this.events.push(raw);
    else await super.publish(raw, target);
  }
}

test('control heartbeat: worker-heartbeat with freq 5 and the software info only', async () => {
  const broker = new EventBroker();
  const app = new Celery({ broker_url: 'redis://x', env: {}, createBroker: () => broker, createBackend: () => new MemBackend() });
  const worker = Object.assign(new EventEmitter(), { app, hostname: 'ts@host', active: 0 });
  const eventer = new WorkerEventer(worker, { withoutHeartbeat: true });
  await eventer.heartbeat();
  await eventer.stop();
  const sent = broker.events.map((raw) => decodeEventMessage(raw));
  const beats = sent.flat().filter((e) => e.type === 'worker-heartbeat');
  assert.equal(beats.length, 1, JSON.stringify(sent));
  const { hostname, utcoffset, pid, clock, timestamp, type, ...fields } = beats[0]!;
  assert.deepEqual(Object.keys(fields).sort(), ['freq', 'sw_ident', 'sw_sys', 'sw_ver']);
  assert.equal(fields.freq, 5);
  assert.equal(fields.sw_ident, 'celeriac');
  assert.equal(hostname, 'ts@host');
  void [utcoffset, pid, clock, timestamp, type];
});
