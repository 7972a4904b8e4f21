// The producer's pure parts: apply_async options (snake/camel, validation), the message it builds
// compared with messages real Celery 5.6.3 published (fixtures/redis/*.json), and publish retries.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { signature, immutableSignature } from '../../protocol/canvas.ts';
import { PyDateTime } from '../../protocol/values.ts';
import type { RawMessage } from '../../protocol/types.ts';
import { decodeBody } from '../../protocol/message.ts';
import type { Broker, PublishTarget } from '../../src/broker.ts';
import { resolveConfig, type SettingsInput } from '../../src/config.ts';
import { ConfigurationError, OperationalError } from '../../src/errors.ts';
import {
  anonNodename, buildTaskMessage, generateOid, normalizeSendOptions, publishWithRetry, retryIntervals, runInTaskContext,
  type SendTaskOptions,
} from '../../src/producer.ts';
import { createRouter } from '../../src/routing.ts';

/** The recorder's app (fixtures/recorder/messages.py): default queue tsrec.q and its task_queues. */
const RECORDER: SettingsInput = {
  task_default_queue: 'tsrec.q',
  task_queues: [
    { name: 'tsrec.q', exchange: { name: 'tsrec.q', type: 'direct' }, routing_key: 'tsrec.q' },
    { name: 'tsrec.topicq', exchange: { name: 'tsrec.topic', type: 'topic' }, routing_key: 'tsrec.topic.#' },
    { name: 'tsrec.dq', exchange: { name: 'tsrec.direct', type: 'direct' }, routing_key: 'tsrec.dkey' },
  ],
};

function ctx(settings: SettingsInput = {}, oid = 'the-oid', origin = 'gen12106@vm') {
  const conf = resolveConfig(settings, { env: {} });
  return { settings: conf, router: createRouter(conf), origin, oid };
}

interface Fixture {
  captures: { expected: { headers: Record<string, unknown>; properties: Record<string, unknown>; content_type: string; content_encoding: string; delivery_info: unknown; body: unknown } }[];
}
function fixture(name: string, i = 0) {
  const f = JSON.parse(readFileSync(`fixtures/redis/${name}.json`, 'utf8')) as Fixture;
  return f.captures[i]!.expected;
}

// [fixture, task, args, kwargs, options, argsAsTuple]: the same call as the fixture's Python line
const SAME_AS_CELERY: [string, string, unknown[], Record<string, unknown>, SendTaskOptions, boolean][] = [
  ['task_id', 'tsrec.add', [1, 2], {}, {}, true],
  ['send_task_by_name', 'tsrec.remote_only', [1, 'two'], { k: 'v' }, {}, false],
  ['delay_args_kwargs', 'tsrec.add', [2, 3], { z: 4 }, {}, true],
  ['queue_option', 'tsrec.add', [1, 1], {}, { queue: 'tsrec.other' }, true],
  ['direct_exchange', 'tsrec.add', [1, 2], {}, { queue: 'tsrec.dq', exchange: 'tsrec.direct', routing_key: 'tsrec.dkey' }, true],
  ['topic_exchange', 'tsrec.add', [1, 2], {}, { queue: 'tsrec.topicq', routingKey: 'tsrec.topic.foo' }, true],
  ['time_limits', 'tsrec.add', [1, 2], {}, { time_limit: 30, softTimeLimit: 20.5 }, true],
  ['shadow', 'tsrec.add', [1, 2], {}, { shadow: 'tsrec.shadowed' }, true],
  ['ignore_result', 'tsrec.add', [1, 2], {}, { ignore_result: true }, true],
  ['delivery_mode_transient', 'tsrec.add', [1, 2], {}, { delivery_mode: 1 }, true],
  ['reply_to', 'tsrec.add', [1, 2], {}, { reply_to: 'tsrec.replies' }, true],
  ['link', 'tsrec.add', [2, 2], {}, { link: signature('tsrec.tsum') }, true],
  ['immutable_link', 'tsrec.add', [1, 1], {}, { link: immutableSignature('tsrec.add', [7, 7]) }, true],
  ['link_error', 'tsrec.add', [1, 2], {}, { link_error: signature('tsrec.errback') }, true],
  ['two_callbacks', 'tsrec.add', [1, 2], {}, { link: [signature('tsrec.add', [10]), signature('tsrec.add', [20])], linkError: signature('tsrec.errback') }, true],
  ['custom_headers', 'tsrec.add', [1, 2], {}, { headers: { 'x-tenant': 'acme', 'x-attempt': 3, 'x-nested': { a: [1, 2], b: { c: null } }, 'x-none': null, 'x-float': 1.5, 'x-bool': true, 'x-big': 2 ** 40, 'x-neg': -7 } }, true],
  ['stamped', 'tsrec.add', [1, 2], {}, { stamps: { stamp2: [1, 2], stamp1: 'a' } }, true],
  ['expires_datetime', 'tsrec.add', [2, 3], {}, { expires: new Date('2031-06-07T08:09:10Z') }, true],
  ['eta_naive', 'tsrec.add', [2, 3], {}, { eta: new PyDateTime('2030-01-02T03:04:05.678901') }, true],
  ['serializer_msgpack', 'tsrec.add', [2, 3], { z: 4 }, { serializer: 'msgpack' }, true],
  ['serializer_yaml', 'tsrec.add', [2, 3], { z: 4 }, { serializer: 'yaml' }, true],
];

/** Python's int(total_seconds * 1000) for expires - now: the fixture's `now` is expires minus its expiration. */
function sentAt(expected: ReturnType<typeof fixture>): Date | undefined {
  const expiration = expected.properties.expiration;
  if (expiration === undefined) return undefined;
  const expires = Date.parse(expected.headers.expires as string);
  return new Date(expires - Number(expiration));
}

for (const [name, task, args, kwargs, options, tuple] of SAME_AS_CELERY) {
  test(`builds the message Celery 5.6 sent for ${name}`, () => {
    const expected = fixture(name);
    const oid = expected.properties.reply_to === 'tsrec.replies' ? 'x' : (expected.properties.reply_to as string);
    const now = sentAt(expected);
    const p = buildTaskMessage(ctx(RECORDER, oid), task, args as never, kwargs as never,
      { ...options, task_id: expected.headers.id as string }, { argsAsTuple: tuple, ...(now ? { now } : {}) });
    assert.deepEqual({ ...p.message.headers }, expected.headers);
    assert.deepEqual({ ...p.raw.properties }, expected.properties);
    assert.equal(p.raw.contentType, expected.content_type);
    assert.equal(p.raw.contentEncoding, expected.content_encoding);
    assert.deepEqual(p.raw.deliveryInfo, expected.delivery_info);
    // the body [args, kwargs, embed] as it goes on the wire, decoded: callbacks/errbacks/chain/chord live here
    const body = decodeBody(p.raw, { accept: ['json', 'msgpack', 'yaml'] });
    assert.deepEqual(JSON.parse(JSON.stringify(body)), expected.body);
  });
}

test('priority reaches the message properties (priority_steps)', () => {
  for (let i = 0; i < 10; i++) {
    const expected = fixture('priority_steps', i);
    const p = buildTaskMessage(ctx(RECORDER, expected.properties.reply_to as string), 'tsrec.add', [i, i], {},
      { priority: i, task_id: expected.headers.id as string }, { argsAsTuple: true });
    assert.deepEqual(p.raw.properties, expected.properties);
  }
});

test('countdown becomes an aware eta; expires seconds becomes expiration in ms', () => {
  const now = new Date('2026-01-01T00:00:00.000Z');
  const p = buildTaskMessage(ctx(), 't', [], {}, { countdown: 30, expires: 60 }, { now });
  assert.equal(p.message.headers.eta, '2026-01-01T00:00:30+00:00');
  assert.equal(p.message.headers.expires, '2026-01-01T00:01:00+00:00');
  assert.equal(p.raw.properties.expiration, '60000');
  const past = buildTaskMessage(ctx(), 't', [], {}, { expires: new Date('2020-01-01T00:00:00Z') }, { now });
  assert.equal(past.raw.properties.expiration, '0');
});

test('snake_case and camelCase options build the same message', () => {
  const now = new Date('2026-01-01T00:00:00Z');
  const common = { now };
  const a = buildTaskMessage(ctx(), 't', [1], {}, { task_id: 'i', time_limit: 5, soft_time_limit: 4, ignore_result: true, reply_to: 'r', routing_key: 'k', group_id: 'g', group_index: 2, parent_id: 'p', root_id: 'q', replaced_task_nesting: 1 }, common);
  const b = buildTaskMessage(ctx(), 't', [1], {}, { taskId: 'i', timeLimit: 5, softTimeLimit: 4, ignoreResult: true, replyTo: 'r', routingKey: 'k', groupId: 'g', groupIndex: 2, parentId: 'p', rootId: 'q', replacedTaskNesting: 1 }, common);
  assert.deepEqual(a.message, b.message);
  assert.deepEqual(a.message.headers.timelimit, [5, 4]);
  assert.equal(a.message.headers.group, 'g');
  assert.equal(a.message.headers.parent_id, 'p');
  assert.equal(a.message.headers.root_id, 'q');
});

test('unknown or invalid options fail naming the option', () => {
  assert.throws(() => normalizeSendOptions({ countdwn: 3 }), (e: Error) => e instanceof ConfigurationError && /unknown send option "countdwn"; did you mean "countdown"/.test(e.message));
  assert.throws(() => normalizeSendOptions({ timeLimit: -1 }), /option time_limit must be a number of seconds >= 0, got -1/);
  assert.throws(() => normalizeSendOptions({ serializer: 'pickle' }), /pickle can only be produced and read by Python/);
  assert.throws(() => normalizeSendOptions({ eta: 'tomorrow' }), /option eta must be a Date or an ISO 8601 string/);
  assert.throws(() => normalizeSendOptions({ link: { nope: 1 } as never }), /option link must be a signature/);
  assert.throws(() => normalizeSendOptions({ task_id: 'a', taskId: 'b' }), /given twice/);
  assert.throws(() => normalizeSendOptions({ retry_policy: { max_retries: 'x' } as never }), /retry_policy.max_retries must be an integer/);
  assert.deepEqual(normalizeSendOptions({ countdown: undefined, eta: null as never, priority: 3 }), { priority: 3 });
});

test('task_serializer / task_compression settings apply unless overridden', () => {
  const p = buildTaskMessage(ctx({ task_serializer: 'msgpack', task_compression: 'zlib' }), 't', [1]);
  assert.equal(p.raw.contentType, 'application/x-msgpack');
  assert.equal(p.raw.headers.compression, 'application/x-gzip');
  const q = buildTaskMessage(ctx({ task_serializer: 'msgpack', task_compression: 'zlib' }), 't', [1], {}, { serializer: 'json', compression: 'bzip2' });
  assert.equal(q.raw.contentType, 'application/json');
  assert.equal(q.raw.headers.compression, 'application/x-bz2');
  // Celery: `compression or default_compressor`, so null keeps the setting
  assert.equal(buildTaskMessage(ctx({ task_compression: 'zlib' }), 't', [], {}, { compression: null }).raw.headers.compression, 'application/x-gzip');
});

test('priority: option, else route, else task_default_priority (set before routing, as Task.apply_async), else 0', () => {
  assert.equal(buildTaskMessage(ctx(), 't').raw.properties.priority, 0);
  assert.equal(buildTaskMessage(ctx({ task_default_priority: 4 }), 't').raw.properties.priority, 4);
  assert.equal(buildTaskMessage(ctx({ task_routes: { t: { queue: 'q', priority: 8 } } }), 't').raw.properties.priority, 8);
  assert.equal(buildTaskMessage(ctx({ task_routes: { t: { queue: 'q', priority: 8 } } }), 't', [], {}, { priority: 2 }).raw.properties.priority, 2);
});

test('route options like serializer and compression apply, caller options win', () => {
  const c = ctx({ task_routes: { t: { queue: 'q', serializer: 'yaml', compression: 'bzip2' } } });
  const p = buildTaskMessage(c, 't');
  assert.equal(p.raw.contentType, 'application/x-yaml');
  assert.equal(p.raw.headers.compression, 'application/x-bz2');
  assert.equal(buildTaskMessage(c, 't', [], {}, { serializer: 'json' }).raw.contentType, 'application/json');
  assert.throws(() => buildTaskMessage(ctx({ task_routes: { t: { queue: 'q', bogus: 1 } } }), 't'), /unknown route option for t "bogus"/);
});

test('ignore_result: option, else task_ignore_result', () => {
  assert.equal(buildTaskMessage(ctx(), 't').ignoreResult, false);
  assert.equal(buildTaskMessage(ctx({ task_ignore_result: true }), 't').message.headers.ignore_result, true);
  assert.equal(buildTaskMessage(ctx({ task_ignore_result: true }), 't', [], {}, { ignoreResult: false }).ignoreResult, false);
});

test('inside a task: parent_id and root_id come from the running task, priority with task_inherit_parent_priority', () => {
  const parent = { id: 'parent-1', root_id: 'root-0', delivery_info: { priority: 7 } };
  const p = runInTaskContext(parent, () => buildTaskMessage(ctx(), 'child'));
  assert.equal(p.message.headers.parent_id, 'parent-1');
  assert.equal(p.message.headers.root_id, 'root-0');
  assert.equal(p.message.properties.priority, 0);
  const q = runInTaskContext(parent, () => buildTaskMessage(ctx({ task_inherit_parent_priority: true }), 'child'));
  assert.equal(q.message.properties.priority, 7);
  // explicit parent, and a root task (no root_id) becomes the root
  const r = buildTaskMessage(ctx(), 'child', [], {}, { parent: { id: 'p2' } });
  assert.equal(r.message.headers.root_id, 'p2');
  assert.equal(r.message.headers.parent_id, 'p2');
  // outside a task: root_id = own id, parent_id null
  const s = buildTaskMessage(ctx(), 'x', [], {}, { task_id: 'me' });
  assert.equal(s.message.headers.root_id, 'me');
  assert.equal(s.message.headers.parent_id, null);
  // parent: null opts out of the ambient task
  const t = runInTaskContext(parent, () => buildTaskMessage(ctx(), 'x', [], {}, { parent: null }));
  assert.equal(t.message.headers.parent_id, null);
});

test('origin is gen<pid>@<hostname>; the oid is a stable uuid3 per app', () => {
  assert.equal(anonNodename('h'), `gen${process.pid}@h`);
  const oid = generateOid();
  assert.match(oid, /^[0-9a-f]{8}-[0-9a-f]{4}-3[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.notEqual(generateOid(), oid);
  const p = buildTaskMessage(ctx({}, oid, anonNodename('h')), 't');
  assert.equal(p.message.properties.reply_to, oid);
  assert.equal(p.message.headers.origin, `gen${process.pid}@h`);
});

test('retry intervals follow kombu fxrange(start, max + start, step, repeatlast=True)', () => {
  const take = (policy: Parameters<typeof retryIntervals>[0], n: number) => {
    const it = retryIntervals(policy);
    return Array.from({ length: n }, () => Math.round((it.next().value as number) * 1000) / 1000);
  };
  // Celery's default policy
  assert.deepEqual(take({ maxRetries: 3, intervalStart: 0, intervalStep: 0.2, intervalMax: 1 }, 8), [0, 0.2, 0.4, 0.6, 0.8, 1, 1, 1]);
  assert.deepEqual(take({ maxRetries: 3, intervalStart: 1, intervalStep: 1, intervalMax: 2 }, 5), [1, 2, 3, 3, 3]);
});

function fakeBroker(failures: unknown[]): Broker & { published: number; attempts: number } {
  const b = {
    safeUrl: 'redis://u:**@h/0', published: 0, attempts: 0,
    async connect() {}, async declareQueue() {}, async close() {},
    async publish(_raw: RawMessage, _t: PublishTarget) {
      b.attempts++;
      const f = failures.shift();
      if (f) throw f;
      b.published++;
    },
    consume: () => { throw new Error('no'); }, queueLength: async () => 0, purge: async () => 0,
  };
  return b as never;
}
const connErr = () => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6390'), { code: 'ECONNREFUSED' });
const raw = buildTaskMessage(ctx(), 't').raw;
const target = { exchange: '', routingKey: 'celery' };
const fast = { maxRetries: 3, intervalStart: 0, intervalStep: 0.001, intervalMax: 0.002 };

test('publish retries connection errors (kombu ensure) and succeeds', async () => {
  const b = fakeBroker([connErr(), connErr()]);
  const waits: number[] = [];
  await publishWithRetry(b, raw, target, { retry: true, retryPolicy: fast, onRetry: (_e, i) => waits.push(i) });
  assert.equal(b.published, 1);
  assert.equal(b.attempts, 3);
  assert.deepEqual(waits, [0, 0.001]);
});

test('publish gives up after max_retries retries with an OperationalError naming the broker safely', async () => {
  const b = fakeBroker([connErr(), connErr(), connErr(), connErr(), connErr()]);
  await assert.rejects(publishWithRetry(b, raw, target, { retry: true, retryPolicy: fast }), (e: Error) =>
    e instanceof OperationalError && e.retries === 3 && /redis:\/\/u:\*\*@h\/0/.test(e.message) && /after 3 retries/.test(e.message) && !/secret/.test(e.message));
  assert.equal(b.attempts, 4);
});

test('without retry a connection error fails at once; other errors are never retried', async () => {
  const b = fakeBroker([connErr()]);
  await assert.rejects(publishWithRetry(b, raw, target, { retry: false, retryPolicy: fast }), OperationalError);
  assert.equal(b.attempts, 1);
  const c = fakeBroker([new TypeError('bad message')]);
  await assert.rejects(publishWithRetry(c, raw, target, { retry: true, retryPolicy: fast }), TypeError);
  assert.equal(c.attempts, 1);
});
