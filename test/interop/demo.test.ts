// The README's main job: the mixed-fleet demo runs end to end against a real Python Celery worker,
// sets up the Redis it needs itself, and cleans up after itself on success, failure and Ctrl-C.
// (demo-fresh.test.ts runs it on a fresh clone, where it also creates the Python venv.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { requirePython } from '../helpers/peers.ts';
import { freePort, processesOn } from '../helpers/net.ts';
import { portOpen, requireBinaries } from '../helpers/private-redis.ts';

const DEMO = ['--import', 'tsx', 'examples/mixed-fleet.ts'];

/** Environment for a demo on a private port (and no inherited demo settings). */
function demoEnv(port: number, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, DEMO_REDIS_PORT: String(port), ...extra };
  if (!('DEMO_REDIS_HOST' in extra)) delete env.DEMO_REDIS_HOST;
  return env;
}


function assertDemoOutput(stdout: string): void {
  assert.match(stdout, /demo\.add\(2, 3\)\s+= 5/);
  assert.match(stdout, /\["datetime", "datetime\.datetime\(2026, 11, 21, 10, 0, 0, 123456, tzinfo=datetime\.timezone\.utc\)"\]/);
  assert.match(stdout, /\["Decimal", "Decimal\('3\.14159265358979323846'\)"\]/);
  assert.match(stdout, /\["int", "1180591620717411303424"\]/);
  assert.match(stdout, /msgpack \+ zstd\s+= 42/);
  assert.match(stdout, /raised\s+= tasks\.DemoError\('boom', 42\)/);
  assert.match(stdout, /"state": "SUCCESS", "result": \{"product": 42, "by": "typescript"\}/);
}

function assertNoStack(output: string): void {
  assert.doesNotMatch(output, /^\s+at .+[:(]\d+/m, `a stack trace in:\n${output}`);
}

test('mixed-fleet demo: TypeScript and a real Python Celery worker exchange tasks and results both ways', (t) => {
  if (!requirePython(t)) return;
  const r = spawnSync(process.execPath, DEMO, { encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr);
  assertDemoOutput(r.stdout);
});

test('demo: with nothing on DEMO_REDIS_PORT it starts redis-server there, says so, and stops it at the end', async (t) => {
  if (!requirePython(t) || !requireBinaries(t)) return;
  const port = await freePort();
  const r = spawnSync(process.execPath, DEMO, { encoding: 'utf8', timeout: 120_000, env: demoEnv(port) });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`^demo: redis on 127\\.0\\.0\\.1:${port} is down; starting redis-server$`, 'm'));
  assert.match(r.stderr, new RegExp(`^demo: stopping the redis-server it started on 127\\.0\\.0\\.1:${port}$`, 'm'));
  assert.match(r.stdout, new RegExp(`Python Celery worker .* on redis://127\\.0\\.0\\.1:${port}/5`));
  assertDemoOutput(r.stdout);
  assert.equal(await portOpen(port), false, 'redis-server still listens');
  assert.deepEqual(processesOn(port), []);
});

test('demo: SIGINT while the Python worker runs stops the worker and the redis-server it started', async (t) => {
  if (!requirePython(t) || !requireBinaries(t)) return;
  const port = await freePort();
  const child = spawn(process.execPath, DEMO, { env: demoEnv(port), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
  child.stderr.on('data', (d: Buffer) => (out += d.toString('utf8')));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const end = Date.now() + 60_000;
  while (!/1\. TypeScript -> Python/.test(out)) { // the worker is ready, redis-server runs
    assert.ok(Date.now() < end && child.exitCode === null, `the demo did not get going:\n${out}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.ok(processesOn(port).length >= 2, `expected redis-server and the Python worker on ${port}: ${processesOn(port)}`);
  child.kill('SIGINT'); // the demo alone, not its process group: it must stop its children itself
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const code = await exited;
  clearTimeout(timer);
  assert.equal(code, 130, out);
  assert.match(out, /^demo: SIGINT: stopping$/m);
  assert.match(out, new RegExp(`^demo: stopping the redis-server it started on 127\\.0\\.0\\.1:${port}$`, 'm'));
  assertNoStack(out);
  assert.equal(await portOpen(port), false, 'redis-server still listens');
  assert.deepEqual(processesOn(port), []);
});

test('demo: a failure after it started redis-server is one line, a non-zero exit, and the server is stopped', async (t) => {
  if (!requireBinaries(t)) return;
  const port = await freePort();
  const r = spawnSync(process.execPath, DEMO, { encoding: 'utf8', timeout: 60_000, env: demoEnv(port, { CELERIAC_PYTHON: '/bin/false' }) });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /^demo: failed: the Python worker exited \(1\) before it was ready \(it printed nothing\)$/m);
  assert.match(r.stderr, new RegExp(`^demo: stopping the redis-server it started on 127\\.0\\.0\\.1:${port}$`, 'm'));
  assertNoStack(r.stderr);
  assert.equal(await portOpen(port), false, 'redis-server still listens');
  assert.deepEqual(processesOn(port), []);
});

test('demo: set-up failures are one line saying what to do, with a non-zero exit and no stack', async () => {
  const port = await freePort();
  const cases: Array<[NodeJS.ProcessEnv, RegExp]> = [
    [{ DEMO_REDIS_HOST: 'redis.invalid' }, /^demo: redis on redis\.invalid:\d+ is not reachable, and redis\.invalid is not this machine: start Redis there, or unset DEMO_REDIS_HOST to let the demo start one on 127\.0\.0\.1$/],
    [{ DEMO_REDIS_PORT: 'abc' }, /^demo: DEMO_REDIS_PORT=abc is not a port number \(1-65535\)$/],
    [{ CELERIAC_PYTHON: '/nonexistent/python' }, /^demo: CELERIAC_PYTHON=\/nonexistent\/python does not exist: point it at a Python that has Celery, or unset it to use \.venv-celery \(created when missing\)$/],
  ];
  for (const [extra, expected] of cases) {
    const r = spawnSync(process.execPath, DEMO, { encoding: 'utf8', timeout: 30_000, env: demoEnv(port, extra) });
    assert.equal(r.status, 1, `${JSON.stringify(extra)}: ${r.stderr}`);
    assert.match(r.stderr.trim(), expected);
    assert.equal(r.stdout, '');
  }
});
