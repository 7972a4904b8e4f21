// Settings: Celery's names and defaults, snake_case and camelCase, validated once with clear errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_SETTINGS, SETTING_NAMES, resolveConfig, resolveRetryPolicy, toCamelCase, toSnakeCase } from '../../src/config.ts';
import { ConfigurationError } from '../../src/errors.ts';
import { ConfigurationError as UrlConfigurationError } from '../../src/redis/url.ts';

const noEnv = { env: {} };

test('defaults are Celery 5.6 defaults (broker: local Redis)', () => {
  const s = resolveConfig({}, noEnv);
  assert.equal(s.brokerUrl, 'redis://localhost:6379/0');
  assert.equal(s.resultBackend, null);
  assert.equal(s.taskDefaultQueue, 'celery');
  assert.equal(s.taskDefaultExchange, 'celery');
  assert.equal(s.taskDefaultExchangeType, 'direct');
  assert.equal(s.taskDefaultRoutingKey, 'celery');
  assert.equal(s.taskDefaultPriority, null);
  assert.equal(s.taskDefaultDeliveryMode, 2);
  assert.equal(s.taskCreateMissingQueues, true);
  assert.equal(s.taskSerializer, 'json');
  assert.equal(s.resultSerializer, 'json');
  assert.deepEqual(s.acceptContent, ['json']);
  assert.equal(s.resultExpires, 86400);
  assert.equal(s.taskPublishRetry, true);
  assert.deepEqual(s.taskPublishRetryPolicy, { maxRetries: 3, intervalStart: 0, intervalStep: 0.2, intervalMax: 1 });
  assert.equal(s.workerPrefetchMultiplier, 4);
  assert.equal(s.brokerConnectionMaxRetries, 100);
  assert.equal(s.enableUtc, true);
  assert.ok(Object.isFrozen(s) && Object.isFrozen(DEFAULT_SETTINGS));
});

test('snake_case (pasted from Python) and camelCase give the same settings', () => {
  const snake = resolveConfig({ task_default_queue: 'main', task_serializer: 'msgpack', task_acks_late: true, broker_transport_options: { visibility_timeout: 3600 } }, noEnv);
  const camel = resolveConfig({ taskDefaultQueue: 'main', taskSerializer: 'msgpack', taskAcksLate: true, brokerTransportOptions: { visibility_timeout: 3600 } }, noEnv);
  assert.deepEqual(snake, camel);
  assert.equal(snake.taskDefaultQueue, 'main');
  // exchange and routing key default to the default queue's name (Celery's Settings properties)
  assert.equal(snake.taskDefaultExchange, 'main');
  assert.equal(snake.taskDefaultRoutingKey, 'main');
  assert.deepEqual(snake.brokerTransportOptions, { visibility_timeout: 3600 });
});

test('every setting name round-trips between snake_case and camelCase', () => {
  for (const snake of SETTING_NAMES) assert.equal(toSnakeCase(toCamelCase(snake)), snake);
  assert.ok(SETTING_NAMES.includes('task_publish_retry_policy'));
  assert.ok(SETTING_NAMES.includes('result_backend_transport_options'));
});

test('unknown settings fail with the nearest names', () => {
  assert.throws(() => resolveConfig({ task_default_que: 'x' }, noEnv), (err: Error) =>
    err instanceof ConfigurationError && /unknown setting "task_default_que"; did you mean "task_default_queue"/.test(err.message));
  assert.throws(() => resolveConfig({ taskSerialiser: 'json' }, noEnv), /did you mean "task_serializer"/);
  assert.throws(() => resolveConfig({ CELERY_TASK_SERIALIZER: 'json' }, noEnv), /old name, use "task_serializer"/);
  assert.throws(() => resolveConfig({ CELERYD_PREFETCH_MULTIPLIER: 1 }, noEnv), /use "worker_prefetch_multiplier"/);
  assert.throws(() => resolveConfig({ frobnicate: 1 }, noEnv), /unknown setting "frobnicate" \(settings use/);
});

test('a setting given in both spellings is refused', () => {
  assert.throws(() => resolveConfig({ task_default_queue: 'a', taskDefaultQueue: 'b' }, noEnv), /given twice/);
});

test('values are validated, naming the setting and what it accepts', () => {
  assert.throws(() => resolveConfig({ task_serializer: 'pickle' }, noEnv), /pickle can only be produced and read by Python/);
  assert.throws(() => resolveConfig({ task_serializer: 'xml' }, noEnv), /task_serializer must be one of json, msgpack, yaml, got "xml"/);
  assert.throws(() => resolveConfig({ task_compression: 'rar' }, noEnv), /task_compression must be null or one of gzip, zlib/);
  assert.throws(() => resolveConfig({ task_default_exchange_type: 'x' }, noEnv), /one of direct, topic, fanout, headers/);
  assert.throws(() => resolveConfig({ task_acks_late: 'yes' }, noEnv), /task_acks_late must be true or false, got "yes"/);
  assert.throws(() => resolveConfig({ worker_prefetch_multiplier: 1.5 }, noEnv), /an integer >= 0/);
  assert.throws(() => resolveConfig({ task_default_delivery_mode: 3 }, noEnv), /1, 2, 'transient' or 'persistent'/);
  assert.throws(() => resolveConfig({ accept_content: ['json', 'bson'] }, noEnv), /accept_content: no encoder\/decoder installed for "bson"/);
  assert.throws(() => resolveConfig({ task_publish_retry_policy: { max_retry: 1 } }, noEnv), /unknown key "max_retry"; did you mean "max_retries"/);
});

test('delivery modes accept kombu names', () => {
  assert.equal(resolveConfig({ task_default_delivery_mode: 'transient' }, noEnv).taskDefaultDeliveryMode, 1);
  assert.equal(resolveConfig({ task_default_delivery_mode: 'persistent' }, noEnv).taskDefaultDeliveryMode, 2);
});

test('the retry policy merges onto the default, in either spelling', () => {
  assert.deepEqual(resolveConfig({ task_publish_retry_policy: { max_retries: 10, intervalMax: 5 } }, noEnv).taskPublishRetryPolicy,
    { maxRetries: 10, intervalStart: 0, intervalStep: 0.2, intervalMax: 5 });
  assert.deepEqual(resolveRetryPolicy('retry_policy', { max_retries: null }), { maxRetries: null, intervalStart: 0, intervalStep: 0.2, intervalMax: 1 });
});

test('CELERY_BROKER_URL and CELERY_RESULT_BACKEND win over settings, as in Celery', () => {
  const env = { CELERY_BROKER_URL: 'redis://env:6379/3', CELERY_RESULT_BACKEND: 'redis://env:6379/4' };
  const s = resolveConfig({ broker_url: 'redis://conf/0', result_backend: 'redis://conf/1' }, { env });
  assert.equal(s.brokerUrl, 'redis://env:6379/3');
  assert.equal(s.resultBackend, 'redis://env:6379/4');
  assert.equal(resolveConfig({ broker_url: 'redis://conf/0' }, noEnv).brokerUrl, 'redis://conf/0');
});

test('undefined values are ignored; null resets a nullable setting', () => {
  const s = resolveConfig({ task_default_queue: undefined, result_expires: null }, noEnv);
  assert.equal(s.taskDefaultQueue, 'celery');
  assert.equal(s.resultExpires, null);
});

test('ConfigurationError moved to src/errors.ts and is still exported by src/redis/url.ts', () => {
  assert.equal(UrlConfigurationError, ConfigurationError);
  const err = new ConfigurationError('x');
  assert.equal(err.code, 'ECONFIG');
  assert.equal(err.name, 'ConfigurationError');
});
