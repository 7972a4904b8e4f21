// The remote-control client (src/control/): the requests it publishes (kombu's pidbox body and
// headers, Celery's argument names and defaults per command), how replies are collected (ticket,
// limit = number of destinations, idle timeout, callback, expired and foreign replies, the Lamport
// clock, calls in flight at the same time sharing one reply queue) and merged by Inspect (Celery's
// `_prepare`: by node, pattern filter, null when nobody replied). A fake broker plays the workers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeKombuJson, encodeKombuJson } from '../../protocol/serialization/index.ts';
import type { RawMessage } from '../../protocol/types.ts';
import type { PyDict, PyValue } from '../../protocol/values.ts';
import type { Broker, ConsumeOptions, Consumer, Delivery, ExchangeDeclaration, PublishTarget, QueueDeclaration } from '../../src/broker.ts';
import { Control } from '../../src/control.ts';
import { flattenReply } from '../../src/control/inspect.ts';
import { PyFloat, parseJsonWithFloats, encodeJsonWithFloats } from '../../src/control/float.ts';
import { floatCodec } from '../../src/control/mailbox.ts';
import { globToRegExp, matchNode } from '../../src/control/matcher.ts';

interface Node {
  name: string;
  /** The reply to a request, or undefined for none (shutdown). */
  answer?: (method: string, args: PyDict) => PyValue | undefined;
  /** Extra replies it sends (duplicates, foreign tickets...). */
  extra?: (ticket: string) => { body: PyDict; headers: PyDict }[];
}

/** Workers behind a fanout exchange, as far as the client can tell. */
class FakeBroker implements Broker {
  readonly safeUrl = 'fake://';
  readonly published: { body: PyDict; raw: RawMessage; target: PublishTarget }[] = [];
  readonly declared: QueueDeclaration[] = [];
  readonly exchanges: ExchangeDeclaration[] = [];
  readonly consumers = new Map<string, (d: Delivery) => void>();
  consumes = 0;
  cancels = 0;
  purged: string[] = [];
  clock = 100;
  constructor(public nodes: Node[]) {}
  async connect() {}
  async declareQueue(q: QueueDeclaration) {
    this.declared.push(q);
  }
  async declareExchange(x: ExchangeDeclaration) {
    this.exchanges.push(x);
  }
  async publish(raw: RawMessage, target: PublishTarget) {
    const body = decodeKombuJson(raw.body) as PyDict;
    this.published.push({ body, raw, target });
    const replyTo = body.reply_to as { exchange: string; routing_key: string } | undefined;
    for (const node of this.nodes) {
      const dest = body.destination as string[] | null;
      if (dest && dest.length && !dest.includes(node.name)) continue;
      if (!replyTo) continue;
      const queue = `${replyTo.routing_key}.${replyTo.exchange}`;
      const out: { body: PyDict; headers: PyDict }[] = [];
      const reply = node.answer ? node.answer(String(body.method), body.arguments as PyDict) : { ok: 'pong' };
      if (reply !== undefined) out.push({ body: { [node.name]: reply }, headers: { ticket: body.ticket as string, clock: ++this.clock } });
      out.push(...(node.extra?.(body.ticket as string) ?? []));
      setImmediate(() => {
        for (const r of out) this.consumers.get(queue)?.({
          raw: { body: encodeKombuJson(r.body), contentType: 'application/json', contentEncoding: 'utf-8', headers: r.headers, properties: {}, deliveryInfo: { exchange: '', routing_key: queue } },
          queue, ack: async () => undefined, reject: async () => undefined,
        });
      });
    }
  }
  consume(queues: string[], onMessage: (d: Delivery) => void, _o: ConsumeOptions): Consumer {
    this.consumes++;
    for (const q of queues) this.consumers.set(q, onMessage);
    return {
      setPrefetch: () => undefined,
      cancel: async () => {
        this.cancels++;
        for (const q of queues) this.consumers.delete(q);
      },
    };
  }
  async queueLength() {
    return 0;
  }
  async purge(q: string) {
    this.purged.push(q);
    return 0;
  }
  async close() {}
}

function setup(nodes: Node[], exchange = 'ctl') {
  const broker = new FakeBroker(nodes);
  let clock = 0;
  const control = new Control(async () => broker, { controlExchange: exchange }, {
    forward: () => ++clock,
    adjust: (o) => (clock = Math.max(clock, o) + 1),
  });
  return { broker, control, clock: () => clock };
}

const pong = (name: string): Node => ({ name });

test('a request is kombu pidbox body + headers on <control_exchange>.pidbox; replies come back by ticket', async () => {
  const { broker, control, clock } = setup([pong('a@h'), pong('b@h')]);
  const before = Date.now() / 1000;
  const replies = await control.broadcast('ping', {}, { reply: true, timeout: 0.2 });
  assert.deepEqual(replies.map((r) => Object.keys(r)[0]).sort(), ['a@h', 'b@h']);
  const [p] = broker.published;
  assert.equal(p!.target.exchange, 'ctl.pidbox');
  assert.equal(p!.target.routingKey, '');
  assert.equal(p!.target.exchangeType, 'fanout');
  assert.deepEqual(broker.exchanges, [{ name: 'ctl.pidbox', type: 'fanout', durable: false, autoDelete: false }]);
  const { ticket, reply_to, ...rest } = p!.body;
  assert.deepEqual(rest, { method: 'ping', arguments: {}, destination: null, pattern: null, matcher: null });
  assert.match(String(ticket), /^[0-9a-f-]{36}$/);
  const rt = reply_to as { exchange: string; routing_key: string };
  assert.equal(rt.exchange, 'reply.ctl.pidbox');
  const q = broker.declared[0]!;
  assert.equal(q.name, `${rt.routing_key}.reply.ctl.pidbox`);
  assert.deepEqual(q.exchange, { name: 'reply.ctl.pidbox', type: 'direct', durable: false, autoDelete: false });
  assert.equal(q.routingKey, rt.routing_key);
  assert.deepEqual(q.arguments, { 'x-expires': 10000, 'x-message-ttl': 300000 });
  assert.equal(q.autoDelete, true);
  assert.equal(p!.raw.headers.clock, 1);
  const expires = p!.raw.headers.expires as number; // now + timeout
  assert.ok(expires >= before + 0.2 && expires < Date.now() / 1000 + 0.2, String(expires));
  assert.equal(p!.raw.properties.delivery_mode, 2);
  // the clock moved past the replies' clocks (kombu adjusts it with each reply)
  assert.equal(clock(), 103, String(clock()));
});

test('without reply nothing is declared or consumed and the call resolves to undefined', async () => {
  const { broker, control } = setup([pong('a@h')]);
  assert.equal(await control.rateLimit('t', '1/s'), undefined);
  assert.equal(broker.consumes, 0);
  assert.equal(broker.published[0]!.body.ticket, undefined);
  assert.equal(broker.published[0]!.body.reply_to, undefined);
});

test('with destinations the collection ends at their number (no wait for the timeout)', async () => {
  const { broker, control } = setup([pong('a@h'), pong('b@h'), pong('c@h')]);
  // a 60 s timeout: the test would hang if the limit did not end it
  const r = await control.inspect({ destination: ['a@h', 'c@h'], timeout: 60 }).ping();
  assert.deepEqual(r, { 'a@h': { ok: 'pong' }, 'c@h': { ok: 'pong' } });
  assert.deepEqual(broker.published[0]!.body.destination, ['a@h', 'c@h']);
  const one = await control.broadcast('ping', {}, { reply: true, limit: 1, timeout: 60 });
  assert.equal(one.length, 1);
});

test('nobody replies: Inspect gives null (Celery None), Control an empty list', async () => {
  const silent: Node = { name: 'x@h', answer: () => undefined };
  const { control } = setup([silent]);
  assert.equal(await control.inspect({ timeout: 0.05 }).stats(), null);
  assert.deepEqual(await control.broadcast('shutdown', {}, { reply: true, timeout: 0.05 }), []);
  assert.deepEqual(await control.ping({ timeout: 0.05 }), []);
});

test('replies for another ticket or past their expires header are not taken; the callback sees each reply', async () => {
  const node: Node = {
    name: 'a@h',
    extra: (ticket): { body: PyDict; headers: PyDict }[] => [
      { body: { 'ghost@h': { ok: 'pong' } }, headers: { ticket: 'another-ticket', clock: 1 } },
      { body: { 'late@h': { ok: 'pong' } }, headers: { ticket, clock: 1, expires: Date.now() / 1000 - 5 } },
    ],
  };
  const { control } = setup([node]);
  const seen: PyDict[] = [];
  const r = await control.inspect({ timeout: 0.2, callback: (x) => seen.push(x) }).ping();
  assert.deepEqual(r, { 'a@h': { ok: 'pong' } });
  assert.deepEqual(seen, [{ 'a@h': { ok: 'pong' } }]);
});

test('calls in flight together share one reply queue and consumer; each gets its own replies', async () => {
  const nodes: Node[] = [
    { name: 'a@h', answer: (m) => ({ m, n: 'a' }) },
    { name: 'b@h', answer: (m) => ({ m, n: 'b' }) },
  ];
  const { broker, control } = setup(nodes);
  const i = control.inspect({ timeout: 0.3 });
  const [s, c, q] = await Promise.all([i.stats(), i.clock(), i.activeQueues()]);
  assert.deepEqual(s, { 'a@h': { m: 'stats', n: 'a' }, 'b@h': { m: 'stats', n: 'b' } });
  assert.deepEqual(c, { 'a@h': { m: 'clock', n: 'a' }, 'b@h': { m: 'clock', n: 'b' } });
  assert.deepEqual(q, { 'a@h': { m: 'active_queues', n: 'a' }, 'b@h': { m: 'active_queues', n: 'b' } });
  assert.equal(broker.consumes, 1);
  const oids = new Set(broker.published.map((p) => (p.body.reply_to as { routing_key: string }).routing_key));
  assert.equal(oids.size, 1);
  // the next call right after reuses it; close() stops it
  await i.ping();
  assert.equal(broker.consumes, 1);
  await control.close();
  assert.equal(broker.cancels, 1);
});

test('Inspect methods send Celery\'s command names and arguments', async () => {
  const { broker, control } = setup([pong('a@h')]);
  const i = control.inspect({ timeout: 60, destination: ['a@h'] });
  await i.report();
  await i.clock();
  await i.active();
  await i.active(true);
  await i.scheduled();
  await i.reserved();
  await i.stats();
  await i.revoked();
  await i.registered();
  await i.registered('rate_limit', 'time_limit');
  await i.registeredTasks('serializer');
  await i.activeQueues();
  await i.queryTask('id1', 'id2');
  await i.queryTask(['id3']);
  await i.conf();
  await i.conf(true);
  await i.hello('me@h', ['r1']);
  await i.memsample();
  await i.memdump();
  await i.memdump(3);
  await i.objgraph();
  await i.objgraph('Task', 5, 2);
  await i.ping(['a@h']);
  const sent = broker.published.map((p) => [p.body.method, p.body.arguments]);
  assert.deepEqual(sent, [
    ['report', {}], ['clock', {}], ['active', { safe: null }], ['active', { safe: true }], ['scheduled', {}], ['reserved', {}],
    ['stats', {}], ['revoked', {}], ['registered', { taskinfoitems: [] }], ['registered', { taskinfoitems: ['rate_limit', 'time_limit'] }],
    ['registered', { taskinfoitems: ['serializer'] }], ['active_queues', {}], ['query_task', { ids: ['id1', 'id2'] }], ['query_task', { ids: ['id3'] }],
    ['conf', { with_defaults: false }], ['conf', { with_defaults: true }], ['hello', { from_node: 'me@h', revoked: ['r1'] }],
    ['memsample', {}], ['memdump', { samples: 10 }], ['memdump', { samples: 3 }],
    ['objgraph', { num: 200, max_depth: 10, type: 'Request' }], ['objgraph', { num: 5, max_depth: 2, type: 'Task' }], ['ping', {}],
  ]);
});

test('control commands send Celery\'s arguments and defaults', async () => {
  const { broker, control } = setup([pong('a@h')]);
  await control.revoke('id1');
  await control.revoke(['id1', 'id2'], { terminate: true, signal: 'SIGKILL', destination: ['a@h'] });
  await control.terminate('id3');
  await control.revokeByStampedHeaders({ stamp: 'x' });
  await control.rateLimit('t.add', '10/m');
  await control.timeLimit('t.add', { soft: 10, hard: 20 });
  await control.timeLimit('t.add');
  await control.addConsumer('q1');
  await control.addConsumer('q2', { exchange: 'ex', exchangeType: 'topic', routingKey: 'rk', options: { durable: false } });
  await control.cancelConsumer('q1');
  await control.enableEvents();
  await control.disableEvents();
  await control.poolGrow();
  await control.poolShrink(2);
  await control.poolRestart({ modules: ['m'], reload: true });
  await control.autoscale(10, 3);
  await control.shutdown({ destination: ['a@h'] });
  await control.heartbeat();
  await control.election('e1', 'topic', 'act');
  const sent = broker.published.map((p) => [p.body.method, p.body.arguments, p.body.destination]);
  assert.deepEqual(sent, [
    ['revoke', { task_id: 'id1', terminate: false, signal: 'SIGTERM' }, null],
    ['revoke', { task_id: ['id1', 'id2'], terminate: true, signal: 'SIGKILL' }, ['a@h']],
    ['revoke', { task_id: 'id3', terminate: true, signal: 'SIGTERM' }, null],
    ['revoke_by_stamped_headers', { headers: { stamp: 'x' }, terminate: false, signal: 'SIGTERM' }, null],
    ['rate_limit', { task_name: 't.add', rate_limit: '10/m' }, null],
    ['time_limit', { task_name: 't.add', hard: 20, soft: 10 }, null],
    ['time_limit', { task_name: 't.add', hard: null, soft: null }, null],
    ['add_consumer', { queue: 'q1', exchange: null, exchange_type: 'direct', routing_key: null }, null],
    ['add_consumer', { queue: 'q2', exchange: 'ex', exchange_type: 'topic', routing_key: 'rk', durable: false }, null],
    ['cancel_consumer', { queue: 'q1' }, null],
    ['enable_events', {}, null],
    ['disable_events', {}, null],
    ['pool_grow', { n: 1 }, null],
    ['pool_shrink', { n: 2 }, null],
    ['pool_restart', { modules: ['m'], reload: true, reloader: null }, null],
    ['autoscale', { max: 10, min: 3 }, null],
    ['shutdown', {}, ['a@h']],
    ['heartbeat', {}, null],
    ['election', { id: 'e1', topic: 'topic', action: 'act' }, null],
  ]);
  for (const p of broker.published) assert.equal(p.body.reply_to, undefined, 'no reply asked');
  const replies = await control.poolGrow(1, { reply: true, timeout: 60, destination: ['a@h'] });
  assert.deepEqual(replies, [{ 'a@h': { ok: 'pong' } }]);
});

test('pattern + matcher are sent together (Celery sends neither alone) and Inspect filters the replies by them', async () => {
  const { broker, control } = setup([pong('ts.a@h'), pong('py.b@h'), pong('ts.c@h')]);
  const r = await control.inspect({ pattern: 'ts.*', matcher: 'glob', timeout: 0.2 }).ping();
  assert.deepEqual(Object.keys(r!).sort(), ['ts.a@h', 'ts.c@h']);
  assert.equal(broker.published[0]!.body.pattern, 'ts.*');
  assert.equal(broker.published[0]!.body.matcher, 'glob');
  const r2 = await control.inspect({ pattern: '^py', timeout: 0.2 }).ping(); // glob is the default matcher
  assert.deepEqual(r2, {});
  assert.equal(broker.published[1]!.body.pattern, null);
  const r3 = await control.inspect({ pattern: 'py\\.', matcher: 'pcre', timeout: 0.2 }).ping();
  assert.deepEqual(Object.keys(r3!), ['py.b@h']);
});

test('kombu matcher: fnmatch globs, re.match for pcre', () => {
  assert.ok(matchNode('celery@host', 'celery@*'));
  assert.ok(matchNode('celery@host', 'c?lery@[gh]ost'));
  assert.ok(!matchNode('celery@host', 'celery@[!h]ost'));
  assert.ok(!matchNode('xcelery@host', 'celery*'));
  assert.ok(matchNode('a.b', 'a.b') && !matchNode('axb', 'a.b'));
  assert.ok(matchNode('celery@host', 'cel', 'pcre')); // anchored at the start only
  assert.ok(!matchNode('celery@host', 'host', 'pcre'));
  assert.throws(() => matchNode('a', 'a', 'nope'), /No matcher installed for nope/);
  assert.equal(globToRegExp('[').source, '^(?:\\[)$');
});

test('flattenReply merges by node and warns about a node name that replied twice', () => {
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);
  process.on('warning', onWarning);
  try {
    assert.deepEqual(flattenReply([{ a: 1 }, { b: 2 }]), { a: 1, b: 2 });
    assert.deepEqual(flattenReply([{ a: 1 }, { a: 3 }]), { a: 3 });
  } finally {
    return new Promise<void>((resolve) => setImmediate(() => {
      process.off('warning', onWarning);
      assert.equal(warnings.length, 1);
      assert.match(warnings[0]!, /^DuplicateNodenameWarning: Received multiple replies from node name: a\./);
      resolve();
    }));
  }
});

test('bad arguments: destination must be a list; durable + exclusive control queues are refused as Celery does', async () => {
  const { control } = setup([pong('a@h')]);
  await assert.rejects(control.broadcast('ping', {}, { destination: 'a@h' as unknown as string[] }), /destination must be a list/);
  const bad = new Control(async () => new FakeBroker([]), { controlExchange: 'c', controlQueueDurable: true, controlQueueExclusive: true });
  await assert.rejects(bad.ping(), /control_queue_durable and control_queue_exclusive cannot both be True/);
});

test('Python floats: PyFloat arguments go out as 10.0, the float codec reads 120.0 back as a PyFloat', async () => {
  const { broker, control } = setup([{ name: 'a@h', answer: () => ({ ok: 'x' }) }]);
  await control.broadcast('time_limit', { task_name: 't', soft: new PyFloat(10), hard: new PyFloat(2.5) });
  const text = new TextDecoder().decode(broker.published[0]!.raw.body);
  assert.match(text, /"soft": 10\.0, "hard": 2\.5/);
  assert.equal(new TextDecoder().decode(encodeJsonWithFloats({ a: [new PyFloat(Infinity), new PyFloat(1e22), 3] })), '{"a": [Infinity, 1e+22, 3]}');
  const parsed = parseJsonWithFloats('{"h": 120.0, "i": 120, "f": 0.5, "s": "1.0", "e": 1e3, "n": [-2.0]}') as Record<string, unknown>;
  assert.ok(parsed.h instanceof PyFloat && parsed.h.value === 120);
  assert.equal(parsed.i, 120);
  assert.equal(parsed.f, 0.5);
  assert.equal(parsed.s, '1.0');
  assert.ok(parsed.e instanceof PyFloat && parsed.e.value === 1000);
  assert.ok((parsed.n as unknown[])[0] instanceof PyFloat);
  const raw: RawMessage = { body: new TextEncoder().encode('{"a@h": {"heartbeat": 2.0}}'), contentType: 'application/json', contentEncoding: 'utf-8', headers: {}, properties: {}, deliveryInfo: { exchange: '', routing_key: '' } };
  const decoded = floatCodec.decode(raw, ['json']) as Record<string, Record<string, unknown>>;
  assert.ok(decoded['a@h']!.heartbeat instanceof PyFloat);
  assert.throws(() => floatCodec.decode(raw, ['msgpack']), /ContentDisallowed|not accepted|refused/i);
});
