// The pieces of a TS worker's `inspect conf` / `report` / `registered` replies that follow kombu and Celery
// helpers exactly; the expected values were printed by kombu 5.6.2 / Celery 5.6.3 (Connection(url).as_uri(mask=),
// maybe_sanitize_url, conf.humanize(), str() of task attributes). The whole replies are compared with a
// Python worker's in test/interop/worker-replies.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Celery } from '../../src/app.ts';
import { censor, connectionUri, sanitizeUrl } from '../../src/settings-report.ts';
import { confReply, humanizeConf } from '../../src/worker/control/conf.ts';
import { pyStrOf, registeredEntry, AttributeOverrides } from '../../src/worker/control/taskinfo.ts';
import { PyFloat } from '../../src/control/float.ts';

test('broker URLs as Connection(url).as_uri(mask=...) and backend URLs as maybe_sanitize_url', () => {
  const cases: [string, string, string][] = [
    ['redis://127.0.0.1:6379/3', 'redis://127.0.0.1:6379/3', 'redis://127.0.0.1:6379/3'],
    ['redis://:secret@localhost/0', 'redis://:********@localhost:6379/0', 'redis://:********@localhost/0'],
    ['redis://user:secret@localhost:6380/1', 'redis://user:********@localhost:6380/1', 'redis://user:********@localhost:6380/1'],
    ['amqp://guest:guest@127.0.0.1:5672//', 'amqp://guest:********@127.0.0.1:5672//', 'amqp://guest:********@127.0.0.1:5672//'],
    ['redis://localhost', 'redis://localhost:6379//', 'redis://localhost/'],
    ['rediss://:pw@h:6380/0?ssl_cert_reqs=required', 'rediss://:********@h:6380/0', 'rediss://:********@h:6380/0'],
    ['amqp://guest:guest@127.0.0.1:5672/vh', 'amqp://guest:********@127.0.0.1:5672/vh', 'amqp://guest:********@127.0.0.1:5672/vh'],
    ['pyamqp://u:p@h//', 'amqp://u:********@h:5672//', 'pyamqp://u:********@h//'],
    ['amqp://h2', 'amqp://guest:********@h2:5672//', 'amqp://h2/'],
  ];
  for (const [url, broker, backend] of cases) {
    assert.equal(connectionUri(url), broker, url);
    assert.equal(sanitizeUrl(url), backend, url);
  }
  assert.equal(connectionUri('sentinel://:pw@a:26379/0;sentinel://b:26379/0'), 'sentinel://:********@a:26379/0');
  // filter_hidden_settings: dicts first (recursively), then secret-looking keys, then URLs
  assert.deepEqual(censor('broker_transport_options', { sentinel_kwargs: { password: 'x' }, visibility_timeout: 1 }), { sentinel_kwargs: { password: '********' }, visibility_timeout: 1 });
  assert.equal(censor('task_default_routing_key', null), '********');
  assert.equal(censor('redis_backend_use_ssl', null), null);
  // Celery 5.6's HIDDEN_SETTINGS has BEAT_DBURI
  assert.equal(censor('beat_dburi', 'sqlite:///beat.db'), '********');
});

test('conf: the settings given without defaults, Celery\'s table with them, Celery\'s forms and floats', () => {
  const app = new Celery({ broker_url: 'redis://:pw@h/1', env: {}, task_default_queue: 'q', result_expires: 60, task_publish_retry_policy: { max_retries: 1 } });
  const given = confReply(app, false);
  assert.deepEqual(Object.keys(given), ['broker_url', 'task_default_queue', 'result_expires', 'task_publish_retry_policy', 'deprecated_settings', 'worker_disable_prefetch']);
  assert.equal(given.broker_url, 'redis://:********@h:6379/1');
  assert.deepEqual(given.task_publish_retry_policy, { max_retries: 1, interval_start: 0, interval_max: 1, interval_step: 0.2 });
  const all = confReply(new Celery({ broker_url: 'redis://h/1', env: {} }), true);
  assert.equal(all.result_expires, '1 day, 0:00:00');
  assert.equal(all.task_default_exchange, null);
  assert.deepEqual(all.control_queue_ttl, new PyFloat(300));
  assert.equal(all.deprecated_settings, 'set()');
  assert.equal(Object.keys(all).length, 195);
  // conf.humanize(): pretty(value, width=50), dicts on the next line without their brace, keys sorted
  const text = humanizeConf(new Celery({
    broker_url: 'redis://:pw@h/1', env: {},
    broker_transport_options: { visibility_timeout: 100, sentinel_kwargs: { password: 'x' }, long_key_name_number_one: 'aaaaaaaaaaaaaaaaaaaaa', long_key_name_number_two: 'bbbbbbbbbbbbbbbbbbbbbbbbbbb' },
    accept_content: ['json', 'msgpack', 'yaml', 'application/x-python-serialize', 'application/data'],
  }));
  assert.equal(text, [
    "broker_url: 'redis://:********@h:6379/1'",
    'broker_transport_options: ',
    "    'long_key_name_number_one': '********',",
    "    'long_key_name_number_two': '********',",
    "    'sentinel_kwargs': {'password': '********'},",
    "    'visibility_timeout': 100}",
    "accept_content: ['json',",
    " 'msgpack',",
    " 'yaml',",
    " 'application/x-python-serialize',",
    " 'application/data']",
    'deprecated_settings: None',
    'worker_disable_prefetch: False',
  ].join('\n'));
});

test('registered: str() of Celery\'s task attributes, options, settings and what control commands set', () => {
  class ValueError extends Error {}
  const app = new Celery({ env: {}, task_acks_late: true });
  app.task('t.a', () => 1);
  app.task('t.b', () => 1, { rateLimit: '2/s', timeLimit: 10, maxRetries: null, autoretryFor: [ValueError], queue: 'qq', expires: 60, bind: true });
  const a = app.tasks.get('t.a')!;
  const b = app.tasks.get('t.b')!;
  const items = ['time_limit', 'rate_limit', 'acks_late', 'max_retries', 'serializer', 'throws', 'typing', 'name', 'autoretry_for', 'queue', 'expires', 'bind', 'priority'];
  assert.equal(registeredEntry(a, items, app.conf), 't.a [acks_late=True max_retries=3 serializer=json throws=() typing=True name=t.a]');
  assert.equal(registeredEntry(b, items, app.conf), "t.b [time_limit=10 rate_limit=2/s acks_late=True serializer=json throws=() typing=True name=t.b autoretry_for=(<class 'ValueError'>,) queue=qq expires=60]");
  const set = new AttributeOverrides();
  set.set('t.a', 'time_limit', '10.0');
  set.set('t.a', 'rate_limit', null);
  assert.equal(registeredEntry(a, ['time_limit', 'rate_limit', 'time_limit'], app.conf, set), 't.a [time_limit=10.0]');
  assert.equal(registeredEntry(a, ['exchange', 'routing_key', 'rate_limit'], app.conf), 't.a');
  assert.equal(pyStrOf(2.5), '2.5');
  assert.equal(pyStrOf(new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 678))), '2026-01-02 03:04:05.678000+00:00');
});
