// Config modules (Celery's config_from_object / CELERY_CONFIG_MODULE) and the precedence of settings:
// environment > the app's own settings > the config module > the defaults, as in Celery.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Celery } from '../../src/app.ts';
import { configModuleSettings, preloadConfigModule } from '../../src/config-module.ts';
import { ConfigurationError } from '../../src/errors.ts';

const dir = mkdtempSync(join(tmpdir(), 'celeriac-config-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

test('the config module is below the app\'s settings, and CELERY_BROKER_URL is above both', () => {
  const spec = join(dir, 'layers.cjs');
  writeFileSync(spec, `module.exports = { broker_url: 'redis://from-config:6379/0', task_default_queue: 'cfgq', result_expires: 60 };`);
  const env = { CELERY_CONFIG_MODULE: spec };
  const app = new Celery({ env, taskDefaultQueue: 'appq' });
  assert.equal(app.conf.brokerUrl, 'redis://from-config:6379/0');
  assert.equal(app.conf.taskDefaultQueue, 'appq', 'the app\'s own setting wins over the config module (any spelling)');
  assert.equal(app.conf.taskDefaultRoutingKey, 'appq');
  assert.equal(app.conf.resultExpires, 60);
  const withEnv = new Celery({ env: { ...env, CELERY_BROKER_URL: 'redis://from-env:6379/1' }, broker_url: 'redis://from-app:6379/0' });
  assert.equal(withEnv.conf.brokerUrl, 'redis://from-env:6379/1');
});

test('named exports and an ESM module loaded by require(); constants and _private names are skipped', () => {
  const spec = join(dir, 'named.mjs');
  writeFileSync(spec, `export const broker_url = 'amqp://guest:guest@mq//';\nexport const taskSerializer = 'msgpack';\nexport const REDIS_HOST = 'x';\nexport const _helper = 1;\n`);
  const app = new Celery({ env: { CELERY_CONFIG_MODULE: spec } });
  assert.equal(app.conf.brokerUrl, 'amqp://guest:guest@mq//');
  assert.equal(app.conf.taskSerializer, 'msgpack');
});

test('a relative name is looked up in the current directory, as Python imports celeryconfig', () => {
  writeFileSync(join(dir, 'celeryconfig.js'), `module.exports = { task_default_queue: 'fromcwd' };`);
  assert.deepEqual(configModuleSettings('celeryconfig', dir), { task_default_queue: 'fromcwd' });
});

test('mistakes in a config module are errors naming the module and the setting', () => {
  const bad = join(dir, 'typo.cjs');
  writeFileSync(bad, `module.exports = { brokr_url: 'redis://x' };`);
  assert.throws(() => new Celery({ env: { CELERY_CONFIG_MODULE: bad } }), (e: Error) =>
    e instanceof ConfigurationError && e.message.includes(`config module ${bad}`) && /did you mean "broker_url"/.test(e.message));
  const old = join(dir, 'old.cjs');
  writeFileSync(old, `module.exports = { CELERY_RESULT_BACKEND: 'redis://x' };`);
  assert.throws(() => new Celery({ env: { CELERY_CONFIG_MODULE: old } }), /Celery's old name, use "result_backend"/);
  assert.throws(() => new Celery({ env: { CELERY_CONFIG_MODULE: join(dir, 'missing.js') } }), /no such module/);
  assert.throws(() => new Celery({ env: { CELERY_CONFIG_MODULE: join(dir, 'x.ts') } }), /TypeScript config module is loaded by the celeriac CLI/);
  const throws = join(dir, 'throws.cjs');
  writeFileSync(throws, `throw new Error('boom in config');`);
  assert.throws(() => new Celery({ env: { CELERY_CONFIG_MODULE: throws } }), /loading it failed: boom in config/);
});

test('a preloaded module (the CLI imported it, e.g. a .ts one) is used as is', () => {
  preloadConfigModule('./preloaded.ts', { default: { result_backend: 'redis://pre:6379/2' }, task_acks_late: true });
  const app = new Celery({ env: { CELERY_CONFIG_MODULE: './preloaded.ts' } });
  assert.equal(app.conf.resultBackend, 'redis://pre:6379/2');
  assert.equal(app.conf.taskAcksLate, true);
});

test('configFromObject: Celery\'s config_from_object, below the constructor\'s settings; refused once connected', () => {
  const app = new Celery({ env: {}, task_default_queue: 'mine', task_routes: { 'a.*': 'x' } });
  app.configFromObject({ task_default_queue: 'theirs', broker_url: 'redis://cfg:6379/3', task_routes: { 'b.*': 'y' } });
  assert.equal(app.conf.taskDefaultQueue, 'mine');
  assert.equal(app.conf.brokerUrl, 'redis://cfg:6379/3');
  assert.equal(app.router.route('a.t').queue?.name, 'x', 'the router is rebuilt from the new settings');
  void app.broker;
  assert.throws(() => app.configFromObject({ task_serializer: 'yaml' }), /configure it before it sends or connects/);
  void app.close();
});
