// The README's first command on a fresh clone: `npm install && npm run demo` with no .venv-celery
// and nothing listening on the demo's Redis port. The demo must create the venv, start redis-server,
// say so as it goes, pass, and leave no redis-server behind. It clones the repository's HEAD, so it
// tests what is committed. Creating the venv takes 15 s to a couple of minutes (pip's cache helps).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, processesOn } from '../helpers/net.ts';
import { portOpen, requireBinaries } from '../helpers/private-redis.ts';


/** Runs a command in the clone with stdout and stderr in one file, so the lines keep their order. */
function runIn(cwd: string, cmd: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number) {
  const logPath = join(cwd, '..', `${cmd}-${Date.now()}.log`);
  const fd = openSync(logPath, 'w');
  const started = Date.now();
  const r = spawnSync(cmd, args, { cwd, env, stdio: ['ignore', fd, fd], timeout: timeoutMs });
  closeSync(fd);
  return { status: r.status, signal: r.signal, output: readFileSync(logPath, 'utf8'), seconds: (Date.now() - started) / 1000 };
}

/** `pattern`'s first match in `text` comes after `before`'s. */
function assertOrder(text: string, patterns: RegExp[]): void {
  let at = -1;
  for (const p of patterns) {
    const m = p.exec(text);
    assert.ok(m, `${p} not in the output:\n${text}`);
    assert.ok(m.index > at, `${p} came too early in:\n${text}`);
    at = m.index;
  }
}

test('fresh clone: npm install && npm run demo creates the venv, starts Redis where none runs, passes and leaves no redis-server', { timeout: 900_000 }, async (t) => {
  if (!requireBinaries(t, ['git'])) return;
  const top = spawnSync('git', ['rev-parse', '--show-toplevel'], { encoding: 'utf8' });
  assert.equal(top.status, 0, top.stderr);
  const dir = mkdtempSync(join(tmpdir(), 'celeriac-fresh-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const clone = join(dir, 'celeriac');
  const cloned = spawnSync('git', ['clone', '--quiet', top.stdout.trim(), clone], { encoding: 'utf8' });
  assert.equal(cloned.status, 0, cloned.stderr);
  assert.equal(existsSync(join(clone, '.venv-celery')), false, 'the clone has a venv already');

  const port = await freePort();
  assert.equal(await portOpen(port), false);
  const env: NodeJS.ProcessEnv = { ...process.env, DEMO_REDIS_PORT: String(port) };
  for (const name of ['DEMO_REDIS_HOST', 'CELERIAC_PYTHON', 'CELERIAC_BASE_PYTHON', 'npm_config_prefix']) delete env[name];

  const install = runIn(clone, 'npm', ['install', '--no-audit', '--no-fund', '--loglevel=error'], env, 300_000);
  assert.equal(install.status, 0, `npm install failed:\n${install.output}`);

  // a set-up step that fails says what failed and what to do, on one line, with no stack
  const broken = runIn(clone, 'npm', ['run', 'demo'], { ...env, CELERIAC_BASE_PYTHON: '/nonexistent/python3' }, 60_000);
  assert.notEqual(broken.status, 0, broken.output);
  assert.match(broken.output, /^demo: creating the Python venv failed: \/nonexistent\/python3 not found: install Python 3 \(with venv and pip\), or set CELERIAC_BASE_PYTHON \(full output: \S+\.log\); fix that, then run again \(bash \.ci\/setup-python\.sh repeats only this step\)$/m);
  assert.doesNotMatch(broken.output, /^\s+at .+[:(]\d+/m, 'a stack trace');
  const kept = /\(full output: (\S+\.log)\)/.exec(broken.output)?.[1];
  if (kept) rmSync(kept, { force: true });
  assert.equal(existsSync(join(clone, '.venv-celery')), false, 'the failed set-up left a venv');

  const first = runIn(clone, 'npm', ['run', 'demo'], env, 600_000);
  t.diagnostic(`npm install ${install.seconds.toFixed(1)} s; first npm run demo (venv created) ${first.seconds.toFixed(1)} s`);
  assert.equal(first.status, 0, `npm run demo failed (${first.signal ?? first.status}):\n${first.output}`);
  const p = String(port);
  assertOrder(first.output, [
    /^demo: creating the Python venv \(\.venv-celery\) with Celery 5\.6\.3; this takes about a minute$/m,
    new RegExp(`^demo: redis on 127\\.0\\.0\\.1:${p} is down; starting redis-server$`, 'm'),
    new RegExp(`^starting a Python Celery worker \\(examples/python/tasks\\.py\\) on redis://127\\.0\\.0\\.1:${p}/5$`, 'm'),
    /demo\.add\(2, 3\)\s+= 5/,
    /msgpack \+ zstd\s+= 42/,
    /raised\s+= tasks\.DemoError\('boom', 42\)/,
    /"state": "SUCCESS", "result": \{"product": 42, "by": "typescript"\}/,
    new RegExp(`^demo: stopping the redis-server it started on 127\\.0\\.0\\.1:${p}$`, 'm'),
  ]);
  assert.ok(existsSync(join(clone, '.venv-celery/pyvenv.cfg')), 'no venv in the clone');
  const celery = spawnSync(join(clone, '.venv-celery/bin/celery'), ['--version'], { encoding: 'utf8' });
  assert.match(celery.stdout, /^5\.6\.3/, celery.stderr);
  assert.equal(await portOpen(port), false, 'redis-server still listens after the demo');
  assert.deepEqual(processesOn(port), [], 'processes left behind');

  // again: the venv is there now (no creating line); Redis is not, since the first run stopped it
  const second = runIn(clone, 'npm', ['run', 'demo'], env, 120_000);
  t.diagnostic(`second npm run demo ${second.seconds.toFixed(1)} s`);
  assert.equal(second.status, 0, `second npm run demo failed:\n${second.output}`);
  assert.doesNotMatch(second.output, /creating the Python venv/);
  assert.match(second.output, new RegExp(`^demo: redis on 127\\.0\\.0\\.1:${p} is down; starting redis-server$`, 'm'));
  assert.match(second.output, /"state": "SUCCESS", "result": \{"product": 42, "by": "typescript"\}/);
  assert.equal(await portOpen(port), false, 'redis-server still listens after the second demo');
  assert.deepEqual(processesOn(port), [], 'processes left behind by the second demo');

  // the README's other command on the same clone, which has no dist/ (as every fresh clone): npm test's
  // own set-up (the venv the demo made, the brokers, dist/ built) says each step, then runs the tests
  assert.equal(existsSync(join(clone, 'dist')), false, 'the clone has a dist/ already');
  // (without this runner's NODE_TEST_CONTEXT, with which a nested node --test runs no files)
  const testEnv = { ...env };
  delete testEnv.NODE_TEST_CONTEXT;
  const tests = runIn(clone, 'npm', ['test', '--', 'unit/purity'], testEnv, 300_000);
  t.diagnostic(`npm test -- unit/purity on the clone ${tests.seconds.toFixed(1)} s`);
  assert.equal(tests.status, 0, `npm test failed:\n${tests.output}`);
  assertOrder(tests.output, [
    /^setup: python celery 5\.6\.3\b/m,
    /^setup: redis on 127\.0\.0\.1:6379 is (up|down; starting redis-server)$/m,
    /^setup: rabbitmq on 127\.0\.0\.1:5672 is (up|down; starting rabbitmq-server)/m,
    /^setup: building dist\/ \(npm run build\)/m,
    /^# pass [1-9]/m,
  ]);
  assert.match(tests.output, /^# fail 0$/m);
  assert.ok(existsSync(join(clone, 'dist/src/index.js')), 'npm test did not build dist/');
});
