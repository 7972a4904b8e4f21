// Events: what celeriac writes is byte for byte what Celery 5.6.3 wrote (fixtures/events/, both brokers),
// and the receiver side (clock, timestamp, batches) follows celery/events/receiver.py.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import {
  buildEvent, decodeEventMessage, eventExchangeType, eventMessage, eventRoutingKey, groupFrom, LamportClock,
  receiveEvent, stringifyEventBody, utcoffset, type CeleryEvent,
} from '../../protocol/events.ts';
import { decodeRedisEnvelope, encodeRedisEnvelope } from '../../protocol/envelope/redis.ts';
import { encodeBasicProperties } from '../../protocol/envelope/amqp-wire.ts';
import { toAmqpPublish } from '../../protocol/envelope/amqp.ts';
import { parseKombuJson } from '../../protocol/serialization/index.ts';
import type { PyDict } from '../../protocol/values.ts';

const files = readdirSync('fixtures/events').filter((f) => f.endsWith('.json'));

function fixtureBody(c: PyDict): Buffer {
  if (typeof c.raw === 'string') return Buffer.from((JSON.parse(c.raw) as { body: string }).body, 'base64');
  return Buffer.from(c.body_b64 as string, 'base64');
}

test('event fixtures: 8 files, both brokers', () => {
  assert.equal(files.length, 8);
});

for (const f of files) {
  test(`${f}: celeriac re-encodes every captured event body to the same bytes, and the same envelope`, () => {
    const doc = parseKombuJson(readFileSync(`fixtures/events/${f}`, 'utf8')) as PyDict;
    for (const c of doc.captures as PyDict[]) {
      const body = fixtureBody(c);
      const expected = c.expected as PyDict;
      const di = expected.delivery_info as PyDict;
      const events = JSON.parse(body.toString('utf8')) as CeleryEvent | CeleryEvent[];
      assert.equal(stringifyEventBody(events), body.toString('utf8'));
      const list = Array.isArray(events) ? events : [events];
      // rebuilt from the fields, in Celery's order
      const rebuilt = list.map((e) => {
        const { hostname, utcoffset: off, pid, clock, timestamp, type, ...fields } = e as unknown as { hostname: string; utcoffset: number; pid: number; clock: number; timestamp: number; type: string } & PyDict;
        return buildEvent(type, { hostname, utcoffset: off, pid, clock, timestamp }, fields);
      });
      const hostname = (expected.headers as PyDict).hostname as string;
      const routingKey = di.routing_key as string;
      if (!Array.isArray(events)) assert.equal(eventRoutingKey(events.type), routingKey);
      else assert.equal(routingKey, `${groupFrom(events[0]!.type)}.multi`);
      const raw = eventMessage(Array.isArray(events) ? rebuilt : rebuilt[0]!, { hostname, routingKey });
      assert.equal(Buffer.from(raw.body).toString('utf8'), body.toString('utf8'));
      if (typeof c.raw === 'string') {
        const orig = JSON.parse(c.raw) as { properties: { delivery_tag: string } };
        assert.equal(encodeRedisEnvelope(raw, { deliveryTag: orig.properties.delivery_tag }), c.raw, 'the PUBLISHed envelope, byte for byte');
        assert.equal(c.channel, `/13.celeryev/${routingKey}`);
      } else {
        const p = toAmqpPublish(raw).options;
        assert.deepEqual([p.contentType, p.contentEncoding, p.deliveryMode, p.priority], ['application/json', 'utf-8', 1, 0]);
        const props = encodeBasicProperties({
          content_type: raw.contentType, content_encoding: raw.contentEncoding, application_headers: raw.headers,
          delivery_mode: raw.properties.delivery_mode as number, priority: raw.properties.priority as number,
        });
        assert.equal(Buffer.from(props).toString('base64'), c.properties_raw_b64, 'AMQP properties, byte for byte');
        assert.equal(c.exchange, 'celeryev');
      }
      assert.deepEqual(decodeEventMessage(decodeRedisEnvelope(encodeRedisEnvelope(raw))), list);
    }
  });
}

test('routing keys, groups, exchange type per transport', () => {
  assert.equal(eventRoutingKey('task-succeeded'), 'task.succeeded');
  assert.equal(eventRoutingKey('custom-my-event'), 'custom.my.event');
  assert.equal(groupFrom('custom-my-event'), 'custom');
  assert.equal(eventExchangeType('redis'), 'fanout');
  assert.equal(eventExchangeType('amqp'), 'topic');
});

test('utcoffset is hours west of UTC, floored like time.timezone // 3600 (altzone in DST)', () => {
  // Celery's utcoffset() printed by Python 3.11 under each TZ (winter in the north = January, and
  // the same time.timezone/altzone pair for July): half and quarter hours floor toward the west
  const KNOWN: [string, number, number][] = [
    // [TZ, January 15, July 15]
    ['UTC', 0, 0],
    ['America/New_York', 5, 4],
    ['Europe/Paris', -1, -2],
    ['Asia/Kolkata', -6, -6], // -5.5 h -> -6
    ['America/St_Johns', 3, 2], // 3.5 h, 2.5 h in DST
    ['Asia/Kathmandu', -6, -6], // -5.75 h
    ['Australia/Adelaide', -11, -10], // DST in January: -10.5 h -> -11; -9.5 h -> -10
  ];
  const saved = process.env.TZ;
  try {
    for (const [tz, january, july] of KNOWN) {
      process.env.TZ = tz; // Node re-reads TZ when it is assigned
      assert.equal(utcoffset(new Date('2026-01-15T12:00:00Z')), january, `${tz} in January`);
      assert.equal(utcoffset(new Date('2026-07-15T12:00:00Z')), july, `${tz} in July`);
    }
  } finally {
    if (saved === undefined) delete process.env.TZ;
    else process.env.TZ = saved;
  }
});

test('receiveEvent: Lamport clock, task-sent skew, localized timestamp, local_received', () => {
  const clock = new LamportClock();
  const e = receiveEvent({ type: 'task-started', clock: 10, utcoffset: -2, timestamp: 1000, hostname: 'a@b' }, clock, { here: 0, now: 5 });
  assert.equal(clock.value, 11);
  assert.equal(e.timestamp, 1000 + 2 * 3600);
  assert.equal(e.local_received, 5);
  const s = receiveEvent({ type: 'task-sent', clock: 999 }, clock, { now: 1 });
  assert.equal(s.clock, 10);
  assert.equal(clock.value, 12);
  const n = receiveEvent({ type: 'custom' }, clock, { now: 1 });
  assert.equal(n.clock, 13);
});

test('floats stay floats: freq 2.0, runtime, loadavg', () => {
  const e = buildEvent('worker-heartbeat', { hostname: 'h@x', pid: 1, clock: 3, utcoffset: 0, timestamp: 1700000000 }, { freq: 2, active: 0, processed: 0, loadavg: [0, 1.5, 2] });
  assert.equal(stringifyEventBody(e), '{"hostname": "h@x", "utcoffset": 0, "pid": 1, "clock": 3, "freq": 2.0, "active": 0, "processed": 0, "loadavg": [0.0, 1.5, 2.0], "timestamp": 1700000000.0, "type": "worker-heartbeat"}');
});
