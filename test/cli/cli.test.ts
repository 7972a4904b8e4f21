// The command line as Celery's: global options before or after the command, settings from the -A app
// and a --config module with Celery's precedence, one-line errors and sysexits statuses.
// The CLI runs from dist/ when it is built (bin/celeriac.js): `npm test` builds first.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { redisUrl, requirePython, startPythonWorker, uniqueName, type PythonWorker } from '../helpers/peers.ts';

const DB = 6;
const URL = redisUrl(DB);
// inside the repository, so `import 'celeriac'` resolves to this package (self-reference)
const dir = resolve('tmp', `cli-${randomBytes(4).toString('hex')}`);
mkdirSync(dir, { recursive: true });
after(() => rmSync(dir, { recursive: true, force: true }));
const BIN = resolve('bin/celeriac.js');

function cli(args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd: dir, encoding: 'utf8', timeout: 60_000,
    env: { ...process.env, CELERY_BROKER_URL: '', CELERY_RESULT_BACKEND: '', CELERY_APP: '', CELERY_CONFIG_MODULE: '', ...env },
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function file(name: string, text: string): string {
  writeFileSync(join(dir, name), text);
  return `./${name}`;
}

/** One line on stderr naming the command, no stack trace. */
function oneLine(err: string, re: RegExp): void {
  assert.match(err, re);
  assert.doesNotMatch(err, /\n\s+at /, `no stack trace:\n${err}`);
}

describe('mistakes on the command line: one line, a status that says what kind', () => {
  const app = file('app-ok.mjs', `import { createApp } from 'celeriac';\nexport const app = createApp({ broker_url: 'redis://127.0.0.1:1/0' });\napp.task('t.add', (x, y) => x + y);\n`);

  test('worker: -c 0, -l bogus, an empty -Q: exit 64 (EX_USAGE), before anything is loaded', () => {
    let r = cli(['worker', '-A', app, '-c', '0']);
    assert.equal(r.code, 64);
    oneLine(r.err, /^celeriac worker: UsageError: -c\/--concurrency must be an integer >= 1, got "0"\n$/);
    r = cli(['worker', '-A', app, '-l', 'bogus']);
    assert.equal(r.code, 64);
    oneLine(r.err, /-l\/--loglevel must be one of debug, info, warning, error, critical, warn, fatal, got "bogus"/);
    r = cli(['worker', '-A', app, '-Q', ',']);
    assert.equal(r.code, 64);
    oneLine(r.err, /-Q\/--queues needs at least one queue name/);
  });

  test('worker without -A: 64; a missing module: 66 (EX_NOINPUT); a module with no app or that throws: 78 (EX_CONFIG)', () => {
    let r = cli(['worker']);
    assert.equal(r.code, 64);
    oneLine(r.err, /worker needs -A\/--app MODULE \(or CELERY_APP\)/);
    r = cli(['worker', '-A', './nope.ts']);
    assert.equal(r.code, 66, r.err);
    oneLine(r.err, /nope\.ts/);
    const noApp = file('no-app.mjs', `export const notAnApp = 1;\n`);
    r = cli(['worker', '-A', noApp]);
    assert.equal(r.code, 78, r.err);
    oneLine(r.err, /no-app\.mjs/);
    const throws = file('throws.mjs', `throw new Error('kaboom at import');\n`);
    r = cli(['worker', '-A', throws]);
    assert.equal(r.code, 78, r.err);
    oneLine(r.err, /kaboom at import/);
    // the stack trace only on request
    r = cli(['--traceback', 'worker', '-A', throws]);
    assert.equal(r.code, 78);
    assert.match(r.err, /kaboom at import[\s\S]*\n\s+at /);
    r = cli(['worker', '-A', throws, '-l', 'debug']);
    assert.match(r.err, /\n\s+at /);
  });

  test('commander\'s own errors (unknown option, missing argument) exit 64; no command prints the help, exit 0', () => {
    let r = cli(['call']);
    assert.equal(r.code, 64);
    assert.match(r.err, /missing required argument 'task'/);
    r = cli(['worker', '--frobnicate']);
    assert.equal(r.code, 64);
    assert.match(r.err, /unknown option '--frobnicate'/);
    r = cli(['frobnicate']);
    assert.equal(r.code, 64);
    r = cli(['--help']);
    assert.equal(r.code, 0);
    assert.match(r.out, /-A, --app <module>/);
    r = cli(['call', '--help']);
    assert.equal(r.code, 0);
    assert.match(r.out, /Global Options:[\s\S]*--result-backend <url>/);
  });

  test('call: bad --args 64, --wait without a result backend 78 (EX_CONFIG), an unreachable broker 69 (EX_UNAVAILABLE)', () => {
    let r = cli(['call', 't.add', '-a', '[2,']);
    assert.equal(r.code, 64);
    oneLine(r.err, /^celeriac call: UsageError: --args must be JSON/);
    r = cli(['call', 't.add', '--args', '{"x": 1}']);
    assert.equal(r.code, 64);
    oneLine(r.err, /--args must be a JSON array/);
    r = cli(['call', '-A', app, 't.add', '--wait']);
    assert.equal(r.code, 78);
    oneLine(r.err, /--wait needs a result backend: set result_backend in the app \(-A\)/);
    r = cli(['call', '-A', app, 't.add', '-a', '[1, 2]']);
    assert.equal(r.code, 69, r.err);
    oneLine(r.err, /^celeriac call: OperationalError: .*redis:\/\/127\.0\.0\.1:1\/0/);
    r = cli(['result', 'some-id', '--timeout', '1']);
    assert.equal(r.code, 64);
    oneLine(r.err, /--timeout needs --wait/);
  });
});

describe('-A, -b and --result-backend before or after worker, result and beat (no Python needed)', () => {
  // an app whose broker and backend answer nowhere: only a flag or the environment can make it work
  const dead = file('app-dead.mjs', `import { createApp } from 'celeriac';\n` +
    `export const app = createApp({ broker_url: 'redis://127.0.0.1:1/0', result_backend: 'redis://127.0.0.1:1/1', beat_schedule: {} });\n`);
  const deadHost = /redis:\/\/127\.0\.0\.1:1\/1/;

  test('worker: -A before the command is the app module too', () => {
    const r = cli(['-A', './nope.mjs', 'worker']);
    assert.equal(r.code, 66, r.err);
    oneLine(r.err, /^celeriac worker: AppLoadError: \.\/nope\.mjs: no such file/);
  });

  test('result: the app\'s backend, over it CELERY_RESULT_BACKEND, over both --result-backend (either place)', () => {
    let r = cli(['result', 'no-such-task', '-A', dead]);
    assert.equal(r.code, 69, r.err);
    oneLine(r.err, deadHost);
    assert.match(r.err, /^celeriac result: OperationalError: cannot connect to the Redis result backend redis:\/\/127\.0\.0\.1:1\/1: /);
    r = cli(['-A', dead, '--result-backend', URL, 'result', 'no-such-task']);
    assert.equal(r.code, 75, r.err); // the live backend answers: PENDING, not ready
    assert.match(r.err, /^task no-such-task is PENDING \(not ready; use --wait to wait for it\)\n$/);
    r = cli(['result', 'no-such-task', '-A', dead, '--result-backend', URL]);
    assert.equal(r.code, 75, r.err);
    r = cli(['result', 'no-such-task', '-A', dead], { CELERY_RESULT_BACKEND: URL });
    assert.equal(r.code, 75, r.err);
    r = cli(['result', 'no-such-task', '-A', dead, '--result-backend', 'redis://127.0.0.1:1/1'], { CELERY_RESULT_BACKEND: URL });
    assert.equal(r.code, 69, 'the flag wins over CELERY_RESULT_BACKEND');
    r = cli(['result', 'no-such-task', '-A', dead, '--result-backend', 'bogus://x']);
    assert.equal(r.code, 78, r.err);
    oneLine(r.err, /^celeriac result: ConfigurationError: unsupported result backend bogus:\/\/x: celeriac supports redis:\/\//);
  });

  test('beat list -S redis: the app\'s broker, or -b / CELERY_BROKER_URL over it, before or after the command', () => {
    let r = cli(['beat', '-S', 'redis', 'list', '-A', dead]);
    assert.equal(r.code, 69, r.err);
    assert.doesNotMatch(r.err, /\n\s+at /);
    for (const args of [['-A', dead, '-b', URL, 'beat', '-S', 'redis', 'list'], ['beat', '-S', 'redis', 'list', '-A', dead, '-b', URL]]) {
      r = cli(args);
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.err}`);
    }
    r = cli(['-A', dead, 'beat', '-S', 'redis', 'list'], { CELERY_BROKER_URL: URL });
    assert.equal(r.code, 0, r.err);
    r = cli(['-A', dead, '-b', 'foo://x', 'beat', '-S', 'redis', 'list']);
    assert.equal(r.code, 78, r.err);
    oneLine(r.err, /^celeriac beat list: ConfigurationError: not a Redis URL: foo:\/\/x \(use redis:\/\//);
  });
});

describe('settings from the -A app, a --config module, the environment and the flags, as Celery orders them', () => {
  let worker: PythonWorker | null = null;
  const queue = uniqueName('cli.ctx');
  let skip = false;

  before(async (t) => {
    if (!requirePython(t as never)) {
      skip = true;
      return;
    }
    worker = await startPythonWorker(
      ['-A', 'backend_tasks', 'worker', '-P', 'solo', '--without-mingle', '--without-gossip', '--without-heartbeat', '-Q', queue, '-n', `${queue}@%h`, '--loglevel=INFO'],
      { env: { PYTHONPATH: 'test/python', CELERIAC_BROKER_URL: URL, CELERIAC_BACKEND_URL: URL } },
    );
  });
  after(async () => {
    await worker?.stop();
  });

  test('call -A: broker, backend and routes come from the app module; -A before or after the command', (t) => {
    if (skip) return t.skip();
    const app = file('routed.mjs', `import { createApp } from 'celeriac';\n` +
      `export default createApp({ broker_url: '${URL}', result_backend: '${URL}', task_routes: { 'backend_tasks.*': { queue: '${queue}' } } });\n`);
    for (const args of [['-A', app, 'call', 'backend_tasks.add', '-a', '[2, 3]', '--wait', '--timeout', '20'],
      ['call', 'backend_tasks.add', '-A', app, '--args', '[2, 3]', '--wait', '--timeout', '20']]) {
      const r = cli(args);
      assert.equal(r.code, 0, r.err);
      assert.equal(r.out, '5\n');
      // the id is on stderr before the wait
      assert.match(r.err, /^backend_tasks\.add\[[0-9a-f-]{36}\] sent; waiting for the result\n/);
    }
    // -q: only the result
    const quiet = cli(['-q', '-A', app, 'call', 'backend_tasks.add', '-a', '[1, 1]', '--wait', '--timeout', '20']);
    assert.equal(quiet.out, '2\n');
    assert.equal(quiet.err, '');
    // result -A reads the same backend
    const sent = cli(['-A', app, 'call', 'backend_tasks.add', '-a', '[4, 5]']);
    assert.equal(sent.code, 0, sent.err);
    const got = cli(['result', sent.out.trim(), '-A', app, '--wait', '--timeout', '20']);
    assert.equal(got.out, '9\n', got.err);
  });

  test('-b and CELERY_BROKER_URL win over the app\'s broker_url, the app\'s settings over --config', (t) => {
    if (skip) return t.skip();
    const app = file('env-app.mjs', `import { createApp } from 'celeriac';\n` +
      `export const app = createApp({ result_backend: '${URL}', task_routes: { 'backend_tasks.*': { queue: '${queue}' } } });\n`);
    const cfg = file('cfg.mjs', `export const broker_url = 'redis://127.0.0.1:1/0';\nexport const result_backend = 'redis://127.0.0.1:1/1';\n`);
    // the config module's broker is unreachable: the flag and the environment each replace it
    let r = cli(['-A', app, '--config', cfg, 'call', 'backend_tasks.add', '-a', '[1, 2]', '--wait', '--timeout', '20']);
    assert.equal(r.code, 69, 'the config module\'s broker_url is used when nothing overrides it');
    r = cli(['-A', app, '--config', cfg, '-b', URL, 'call', 'backend_tasks.add', '-a', '[1, 2]', '--wait', '--timeout', '20']);
    assert.equal(r.out, '3\n', r.err);
    r = cli(['call', 'backend_tasks.add', '-a', '[2, 2]', '--wait', '--timeout', '20'], { CELERY_APP: app, CELERY_CONFIG_MODULE: cfg, CELERY_BROKER_URL: URL });
    assert.equal(r.out, '4\n', r.err);
    // -b beats CELERY_BROKER_URL
    r = cli(['-A', app, '-b', 'redis://127.0.0.1:1/2', 'call', 'backend_tasks.add', '-a', '[1, 2]'], { CELERY_BROKER_URL: URL });
    assert.equal(r.code, 69);
  });

  test('--config alone (no app module): a TypeScript module of Celery settings names broker and backend', (t) => {
    if (skip) return t.skip();
    const cfg = file('celeryconfig.ts', `export const broker_url: string = '${URL}';\nexport default { result_backend: '${URL}', task_routes: { 'backend_tasks.*': '${queue}' } };\n`);
    const r = cli(['--config', cfg, 'call', 'backend_tasks.add', '-a', '[20, 22]', '--wait', '--timeout', '20']);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, '42\n');
    const failed = cli(['--config', cfg, '--traceback', 'call', 'backend_tasks.fail', '-a', '["kaput", 7]', '--wait', '--timeout', '20']);
    assert.equal(failed.code, 1);
    // with --traceback, the task's Python traceback instead of `exc_type: message`
    assert.match(failed.err, /Traceback \(most recent call last\):[\s\S]*raise CustomError\(msg, code\)\nbackend_tasks\.CustomError: \('kaput', 7\)\n$/);
    const plain = cli(['--config', cfg, 'call', 'backend_tasks.fail', '-a', '["kaput", 7]', '--wait', '--timeout', '20']);
    assert.match(plain.err, /\nCustomError: kaput\n$/);
    assert.doesNotMatch(plain.err, /Traceback/);
  });
});
