// Celery's router and publish addressing, compared with what Celery 5.6.3 itself does. The expected
// values were produced by test/python/routing_truth.py (send_task on a memory broker with kombu's
// Producer.publish patched to record its arguments); each TS case below mirrors the Python case.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveConfig, type SettingsInput } from '../../src/config.ts';
import { createRouter, globToRegExp, prepareRoutes, type RouteOptions } from '../../src/routing.ts';
import { buildTaskMessage } from '../../src/producer.ts';
import { ConfigurationError, QueueNotFoundError } from '../../src/errors.ts';

interface Expected {
  exchange: string;
  routing_key: string;
  delivery_mode: number;
  priority: number;
  declare: { name: string; exchange: string; exchange_type: string; routing_key: string; queue_arguments: Record<string, unknown> | null }[];
}

// generated from test/python/routing_truth.py ('transient' mapped to 1 as kombu does)
const CELERY: Record<string, Expected | { error: string }> = {
  default: { exchange: "", routing_key: "celery", delivery_mode: 2, priority: 0, declare: [{ name: "celery", exchange: "celery", exchange_type: "direct", routing_key: "celery", queue_arguments: null }] },
  default_exchange_topic: { exchange: "tasks", routing_key: "task.default", delivery_mode: 2, priority: 0, declare: [{ name: "celery", exchange: "tasks", exchange_type: "topic", routing_key: "task.default", queue_arguments: null }] },
  default_queue_renamed: { exchange: "", routing_key: "main", delivery_mode: 2, priority: 0, declare: [{ name: "main", exchange: "main", exchange_type: "direct", routing_key: "main", queue_arguments: null }] },
  delivery_mode_default_transient: { exchange: "", routing_key: "celery", delivery_mode: 1, priority: 0, declare: [{ name: "celery", exchange: "celery", exchange_type: "direct", routing_key: "celery", queue_arguments: null }] },
  delivery_mode_option: { exchange: "", routing_key: "celery", delivery_mode: 1, priority: 0, declare: [{ name: "celery", exchange: "celery", exchange_type: "direct", routing_key: "celery", queue_arguments: null }] },
  dict_exact: { exchange: "", routing_key: "math", delivery_mode: 2, priority: 0, declare: [{ name: "math", exchange: "math", exchange_type: "direct", routing_key: "math", queue_arguments: null }] },
  dict_exact_route_dict: { exchange: "", routing_key: "math", delivery_mode: 2, priority: 5, declare: [{ name: "math", exchange: "math", exchange_type: "direct", routing_key: "math", queue_arguments: null }] },
  dict_glob: { exchange: "", routing_key: "feeds", delivery_mode: 2, priority: 0, declare: [{ name: "feeds", exchange: "feeds", exchange_type: "direct", routing_key: "feeds", queue_arguments: null }] },
  dict_glob_nomatch: { exchange: "", routing_key: "celery", delivery_mode: 2, priority: 0, declare: [{ name: "celery", exchange: "celery", exchange_type: "direct", routing_key: "celery", queue_arguments: null }] },
  dict_queues_setting: { exchange: "dex", routing_key: "d.#", delivery_mode: 2, priority: 0, declare: [{ name: "dq", exchange: "dex", exchange_type: "topic", routing_key: "d.#", queue_arguments: null }] },
  exact_beats_glob: { exchange: "", routing_key: "exact", delivery_mode: 2, priority: 0, declare: [{ name: "exact", exchange: "exact", exchange_type: "direct", routing_key: "exact", queue_arguments: null }] },
  exchange_and_rk: { exchange: "custom", routing_key: "ck", delivery_mode: 2, priority: 0, declare: [{ name: "celery", exchange: "celery", exchange_type: "direct", routing_key: "celery", queue_arguments: null }] },
  exchange_only: { exchange: "", routing_key: "celery", delivery_mode: 2, priority: 0, declare: [{ name: "celery", exchange: "celery", exchange_type: "direct", routing_key: "celery", queue_arguments: null }] },
  function: { exchange: "", routing_key: "fnq", delivery_mode: 2, priority: 7, declare: [{ name: "fnq", exchange: "fnq", exchange_type: "direct", routing_key: "fnq", queue_arguments: null }] },
  function_none_falls_to_default: { exchange: "", routing_key: "celery", delivery_mode: 2, priority: 0, declare: [{ name: "celery", exchange: "celery", exchange_type: "direct", routing_key: "celery", queue_arguments: null }] },
  list_of_routers: { exchange: "", routing_key: "first", delivery_mode: 2, priority: 0, declare: [{ name: "first", exchange: "first", exchange_type: "direct", routing_key: "first", queue_arguments: null }] },
  max_priority: { exchange: "", routing_key: "prio", delivery_mode: 2, priority: 0, declare: [{ name: "prio", exchange: "prio", exchange_type: "direct", routing_key: "prio", queue_arguments: {"x-max-priority": 10} }] },
  missing_not_created: { error: "QueueNotFound" },
  option_overrides_route: { exchange: "", routing_key: "urgent", delivery_mode: 2, priority: 9, declare: [{ name: "urgent", exchange: "urgent", exchange_type: "direct", routing_key: "urgent", queue_arguments: null }] },
  queue_option: { exchange: "", routing_key: "other", delivery_mode: 2, priority: 0, declare: [{ name: "other", exchange: "other", exchange_type: "direct", routing_key: "other", queue_arguments: null }] },
  regex: { exchange: "", routing_key: "media", delivery_mode: 2, priority: 0, declare: [{ name: "media", exchange: "media", exchange_type: "direct", routing_key: "media", queue_arguments: null }] },
  regex_match_anchors_start: { exchange: "", routing_key: "celery", delivery_mode: 2, priority: 0, declare: [{ name: "celery", exchange: "celery", exchange_type: "direct", routing_key: "celery", queue_arguments: null }] },
  rk_only: { exchange: "", routing_key: "celery", delivery_mode: 2, priority: 0, declare: [{ name: "celery", exchange: "celery", exchange_type: "direct", routing_key: "celery", queue_arguments: null }] },
  route_with_exchange_rk: { exchange: "rex", routing_key: "r.k", delivery_mode: 2, priority: 0, declare: [] },
  task_queues_default_missing: { exchange: "", routing_key: "celery", delivery_mode: 2, priority: 0, declare: [{ name: "celery", exchange: "celery", exchange_type: "direct", routing_key: "celery", queue_arguments: null }] },
  task_queues_plain_name: { exchange: "", routing_key: "plain", delivery_mode: 2, priority: 0, declare: [{ name: "plain", exchange: "celery", exchange_type: "direct", routing_key: "celery", queue_arguments: null }] },
  task_queues_topic: { exchange: "tex", routing_key: "t.#", delivery_mode: 2, priority: 0, declare: [{ name: "tq", exchange: "tex", exchange_type: "topic", routing_key: "t.#", queue_arguments: null }] },
  task_queues_topic_rk: { exchange: "tex", routing_key: "t.special", delivery_mode: 2, priority: 0, declare: [{ name: "tq", exchange: "tex", exchange_type: "topic", routing_key: "t.#", queue_arguments: null }] },
};

const fnRouter = (name: string) => (name.startsWith('fn.') ? { queue: 'fnq', priority: 7 } : null);

const CASES: Record<string, [SettingsInput, string, RouteOptions]> = {
  default: [{}, 'tasks.add', {}],
  queue_option: [{}, 'tasks.add', { queue: 'other' }],
  dict_exact: [{ task_routes: { 'tasks.add': 'math' } }, 'tasks.add', {}],
  dict_exact_route_dict: [{ task_routes: { 'tasks.add': { queue: 'math', priority: 5 } } }, 'tasks.add', {}],
  dict_glob: [{ task_routes: { 'feed.tasks.*': { queue: 'feeds' } } }, 'feed.tasks.import_feed', {}],
  dict_glob_nomatch: [{ task_routes: { 'feed.tasks.*': { queue: 'feeds' } } }, 'other.task', {}],
  exact_beats_glob: [{ task_routes: { 'a.*': 'glob', 'a.b': 'exact' } }, 'a.b', {}],
  regex: [{ task_routes: [[/(video|image)\.tasks\..*/, { queue: 'media' }]] }, 'video.tasks.encode', {}],
  regex_match_anchors_start: [{ task_routes: new Map([[/tasks/, 'rx']]) }, 'my.tasks.x', {}],
  list_of_routers: [{ task_routes: [{ 'x.*': 'first' }, { 'x.y': 'second' }] }, 'x.y', {}],
  function: [{ task_routes: fnRouter }, 'fn.go', {}],
  function_none_falls_to_default: [{ task_routes: [fnRouter] }, 'nofn.go', {}],
  option_overrides_route: [{ task_routes: { 'tasks.add': { queue: 'math', priority: 5 } } }, 'tasks.add', { queue: 'urgent', priority: 9 }],
  task_queues_topic: [{ task_queues: [{ name: 'tq', exchange: { name: 'tex', type: 'topic' }, routing_key: 't.#' }] }, 'tasks.add', { queue: 'tq' }],
  task_queues_topic_rk: [{ task_queues: [{ name: 'tq', exchange: 'tex', exchange_type: 'topic', routingKey: 't.#' }] }, 'tasks.add', { queue: 'tq', routing_key: 't.special' }],
  task_queues_plain_name: [{ task_queues: ['plain'] }, 'tasks.add', { queue: 'plain' }],
  task_queues_default_missing: [{ task_queues: [{ name: 'plain' }] }, 'tasks.add', {}],
  default_queue_renamed: [{ task_default_queue: 'main' }, 'tasks.add', {}],
  default_exchange_topic: [{ taskDefaultExchange: 'tasks', taskDefaultExchangeType: 'topic', taskDefaultRoutingKey: 'task.default' }, 'tasks.add', {}],
  exchange_and_rk: [{}, 'tasks.add', { exchange: 'custom', routing_key: 'ck' }],
  exchange_only: [{}, 'tasks.add', { exchange: 'custom' }],
  rk_only: [{}, 'tasks.add', { routing_key: 'ignored' }],
  delivery_mode_default_transient: [{ task_default_delivery_mode: 'transient' }, 'tasks.add', {}],
  delivery_mode_option: [{}, 'tasks.add', { delivery_mode: 1 }],
  max_priority: [{ task_queue_max_priority: 10 }, 'tasks.add', { queue: 'prio' }],
  dict_queues_setting: [{ task_queues: { dq: { exchange: 'dex', exchange_type: 'topic', routing_key: 'd.#' } } }, 'tasks.add', { queue: 'dq' }],
  route_with_exchange_rk: [{ task_routes: { 'tasks.add': { exchange: 'rex', exchange_type: 'topic', routing_key: 'r.k' } } }, 'tasks.add', {}],
  missing_not_created: [{ task_queues: ['plain'], task_create_missing_queues: false }, 'tasks.add', { queue: 'nope' }],
};

function observe(settings: SettingsInput, name: string, options: RouteOptions): Expected {
  const conf = resolveConfig(settings, { env: {} });
  const router = createRouter(conf);
  const prepared = buildTaskMessage({ settings: conf, router, origin: 'gen1@test', oid: 'oid' }, name, [], {}, options);
  return {
    exchange: prepared.target.exchange,
    routing_key: prepared.target.routingKey,
    delivery_mode: prepared.message.properties.delivery_mode,
    priority: prepared.message.properties.priority,
    declare: (prepared.target.declare ?? []).map((q) => ({
      name: q.name, exchange: q.exchange.name, exchange_type: q.exchange.type, routing_key: q.routingKey, queue_arguments: q.arguments ?? null,
    })),
  };
}

test('every Python routing case has a TypeScript twin', () => {
  assert.deepEqual(Object.keys(CASES).sort(), Object.keys(CELERY).sort());
});

for (const [key, [settings, name, options]] of Object.entries(CASES)) {
  test(`routes like Celery 5.6: ${key}`, () => {
    const expected = CELERY[key]!;
    if ('error' in expected) {
      assert.equal(expected.error, 'QueueNotFound');
      assert.throws(() => observe(settings, name, options), QueueNotFoundError);
      return;
    }
    const got = observe(settings, name, options);
    assert.deepEqual(got, expected);
    // the message's delivery_info matches the publish target
  });
}

test('the encoded message carries the publish target as delivery_info', () => {
  const conf = resolveConfig({ task_routes: { 'feed.*': 'feeds' } }, { env: {} });
  const p = buildTaskMessage({ settings: conf, router: createRouter(conf), origin: 'gen1@h', oid: 'o' }, 'feed.x');
  assert.deepEqual(p.raw.deliveryInfo, { exchange: '', routing_key: 'feeds' });
  assert.equal(p.target.exchangeType, undefined);
});

test('a topic target names its exchange type for the transport', () => {
  const conf = resolveConfig({ task_queues: [{ name: 'tq', exchange: { name: 'tex', type: 'topic' }, routing_key: 't.#' }] }, { env: {} });
  const r = createRouter(conf).route('x', { queue: 'tq', routing_key: 't.a' });
  assert.deepEqual({ ...r.target, declare: undefined }, { exchange: 'tex', routingKey: 't.a', exchangeType: 'topic', declare: undefined });
});

test('router functions receive Celery arguments (name, args, kwargs, options, task)', () => {
  const seen: unknown[] = [];
  const conf = resolveConfig({ task_routes: (...a: unknown[]) => { seen.push(a); return 'q1'; } }, { env: {} });
  const task = { name: 'h' };
  const r = createRouter(conf).route('t.x', { priority: 3 }, [1, 2], { k: 'v' }, task);
  assert.equal(r.queue?.name, 'q1');
  assert.deepEqual(seen, [['t.x', [1, 2], { k: 'v' }, { priority: 3 }, task]]);
  assert.deepEqual(r.options, { priority: 3 });
});

test('queues created on demand are remembered and listed', () => {
  const router = createRouter(resolveConfig({}, { env: {} }));
  router.route('a', { queue: 'extra' });
  assert.deepEqual(router.queues().map((q) => q.name), ['celery', 'extra']);
  assert.deepEqual(router.queue('extra'), { name: 'extra', exchange: { name: 'extra', type: 'direct' }, routingKey: 'extra' });
});

test('queue specs accept delivery_mode on the exchange, durable, auto_delete and arguments', () => {
  const conf = resolveConfig({
    task_queues: [{ name: 'tr', exchange: { name: 'tr', type: 'direct', delivery_mode: 'transient' }, routing_key: 'tr', durable: false, auto_delete: true, queue_arguments: { 'x-queue-type': 'classic' }, max_priority: 5 }],
  }, { env: {} });
  const r = createRouter(conf).route('t', { queue: 'tr' });
  assert.equal(r.deliveryMode, 1);
  assert.deepEqual(r.queue, {
    name: 'tr', exchange: { name: 'tr', type: 'direct', deliveryMode: 1 }, routingKey: 'tr', durable: false, autoDelete: true,
    arguments: { 'x-queue-type': 'classic', 'x-max-priority': 5 }, maxPriority: 5, exchangeDeliveryMode: 1,
  });
});

test('globs follow fnmatch: * ? [seq] [!seq], anchored at both ends', () => {
  assert.ok(globToRegExp('feed.tasks.*').test('feed.tasks.a.b'));
  assert.ok(!globToRegExp('feed.tasks.*').test('xfeed.tasks.a'));
  assert.ok(!globToRegExp('feed.*').test('feedxtasks'));
  assert.ok(globToRegExp('a?c*').test('abc.d'));
  assert.ok(globToRegExp('t[0-9]*').test('t1x'));
  assert.ok(!globToRegExp('t[!0-9]*').test('t1x'));
  // a ']' first in a set is literal, as fnmatch.translate reads it
  assert.ok(globToRegExp('t[!]]').test('ta'));
  assert.ok(!globToRegExp('t[!]]').test('t]'));
  assert.ok(globToRegExp('[]]').test(']'));
  // a key without '*' is an exact name even if it has '?' (MapRoute only treats '*' keys as patterns)
  const [r] = prepareRoutes({ 'a?c': 'q' });
  assert.equal(r!('abc', [], {}, {}, undefined), undefined);
  assert.equal(r!('a?c', [], {}, {}, undefined), 'q');
});

test('routers given as Python import paths are refused with a clear error', () => {
  assert.throws(() => resolveConfig({ task_routes: 'myapp.routers.route_task' }, { env: {} }), (err: Error) => err instanceof ConfigurationError && /Python-only/.test(err.message));
  assert.throws(() => prepareRoutes(['myapp.routers.route_task' as never]), /Python-only/);
});

test('QueueNotFoundError names the queue and the setting', () => {
  const router = createRouter(resolveConfig({ task_create_missing_queues: false }, { env: {} }));
  assert.throws(() => router.route('t', { queue: 'nope' }), /Queue "nope" missing from task_queues/);
});
