// The client side of remote control against a real mixed fleet (one Python Celery 5.6 worker, threads
// pool, and one TypeScript worker), on both brokers, each run with its own control_exchange and
// event_exchange:
// - app.control from real Celery (one Python process, test/python/cli_control_peer.py) and from
//   celeriac ask the same fleet the same things: every inspect method, every control command with
//   reply=True; the merged replies must be equal (only clocks, uptime, rusage and memory figures masked);
// - `celery -A cli_control_tasks inspect/control/status ...` and `celeriac -A <app> ...` print the same
//   (nodes sorted, the same masks), for a representative set of methods, errors and exit statuses;
// - `celeriac fleet check` on the clean fleet (exit 0) and once the Python worker also consumes the
//   TypeScript queue, where it lacks a task, accepts other content, and the app routes a task to a queue
//   nobody consumes (exit 1, those findings exactly);
// - `control shutdown` from both CLIs (no reply: exit 69 and the same error line), and the workers stop;
// - a broker that cannot be reached: Celery's error line and exit 69.
// Results in Redis db 5.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Celery } from '../../src/app.ts';
import { Worker } from '../../src/worker/worker.ts';
import { parseKombuJson } from '../../protocol/serialization/index.ts';
import { jsonPretty } from '../../src/cli/remote.ts';
import { parseJsonWithFloats } from '../../src/control/float.ts';
import { PYTHON, requirePython, runPython, startPythonWorker, uniqueName, type PythonWorker } from '../helpers/peers.ts';
import { brokerMatrix, deleteAmqpQueues, type BrokerCase } from '../helpers/matrix.ts';
import { testLogger } from '../helpers/worker.ts';

const DB = 5;
const BIN = resolve('bin/celeriac.js');
const DIR = resolve('tmp', `cli-control-${randomBytes(4).toString('hex')}`);
const APP = resolve(DIR, 'cc_app.ts');
const FLAGS = resolve(DIR, 'flags');

mkdirSync(FLAGS, { recursive: true });
// The TypeScript app: the in-process worker's and `celeriac -A`'s (routes and settings from CC_* variables).
writeFileSync(APP, `
import { existsSync } from 'node:fs';
import { createApp } from ${JSON.stringify(resolve('src/index.ts'))};

export function makeApp(env: Record<string, string | undefined>) {
  const app = createApp({
    env: {},
    broker_url: env.CC_BROKER,
    result_backend: env.CC_BACKEND,
    ...JSON.parse(env.CC_CONF ?? '{}'),
    task_routes: JSON.parse(env.CC_ROUTES ?? '{}'),
  });
  app.task('cc.add', (x: number, y: number) => x + y);
  app.task('cc.hold', async (seconds: number, flag: string) => {
    const end = Date.now() + seconds * 1000;
    while (Date.now() < end && !existsSync(flag)) await new Promise((r) => setTimeout(r, 50));
    return seconds;
  });
  app.task('cc.ts_only', () => 'ts');
  return app;
}
export default makeApp(process.env);
`);
after(() => rmSync(DIR, { recursive: true, force: true }));

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, cwd?: string): Promise<Run> {
  return new Promise((res, rej) => {
    const child = spawn(cmd, args, {
      cwd, stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, CELERY_BROKER_URL: '', CELERY_RESULT_BACKEND: '', CELERY_CONFIG_MODULE: '', CELERY_APP: '', ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', rej);
    child.on('close', (status) => {
      clearTimeout(timer);
      res({ status, stdout, stderr });
    });
  });
}

/** Volatile parts of a reply: Lamport clocks, uptime, rusage, memory figures. */
const MASKED_KEYS = new Set(['clock', 'uptime', 'rusage']);
function mask(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(mask);
  if (v && typeof v === 'object' && v.constructor === Object) {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, MASKED_KEYS.has(k) ? '<masked>' : mask(x)]));
  }
  if (typeof v === 'string') return v.replace(/\d+(\.\d+)?\s*(MB|kB|KB|B)\b/g, '<mem>');
  return v;
}

/** `->  node: ...` blocks of a CLI output sorted by node, the rest kept in place. */
function sortBlocks(text: string): string {
  const lines = text.split('\n');
  const blocks: string[][] = [];
  const rest: string[] = [];
  for (const l of lines) {
    if (/^(-> )? \S+: (OK|ERROR)$/.test(l)) blocks.push([l]);
    else if (blocks.length && /^ {4}/.test(l) && rest.length === 0) blocks[blocks.length - 1]!.push(l);
    else rest.push(l);
  }
  return [...blocks.map((b) => b.join('\n')).sort(), ...rest].join('\n');
}

/** A `--json` output as sorted, masked JSON (Python floats kept). */
function canonicalJson(text: string): string {
  const v = parseJsonWithFloats(text.trim());
  const sortList = (x: unknown) => (Array.isArray(x) ? [...x].sort((a, b) => JSON.stringify(Object.keys(a as object)).localeCompare(JSON.stringify(Object.keys(b as object)))) : x);
  return jsonPretty(mask(sortList(v)));
}

interface CliCase {
  args: string[];
  /** true: stdout is JSON; 'first-line': its first line is (status --json) */
  json?: boolean | 'first-line';
}

/** Runs the jobs, at most `n` at a time. */
async function pool(jobs: (() => Promise<void>)[], n: number): Promise<void> {
  const queue = [...jobs];
  await Promise.all(Array.from({ length: n }, async () => {
    for (let job = queue.shift(); job; job = queue.shift()) await job();
  }));
}

test('a broker that cannot be reached: Celery\'s error line, exit 69, the password redacted', async () => {
  const r = await run(process.execPath, [BIN, '-b', 'amqp://guest:secret@127.0.0.1:1//', 'inspect', 'ping'], {});
  assert.equal(r.status, 69, r.stderr);
  assert.match(r.stderr, /^Error: Could not connect to the message broker\. Please make sure your broker \(e\.g\., RabbitMQ or Redis\) is running and the connection settings are correct\. Reason: .*ECONNREFUSED/);
  assert.ok(!r.stderr.includes('secret'), r.stderr);
});

// every CLI case on the first broker of the matrix, a representative set on the other
brokerMatrix(DB).forEach((b, i) => suite(b, i === 0));

function suite(b: BrokerCase, FULL: boolean): void {
  const ns = uniqueName(`cc${b.name}`);
  const TSQ = `${ns}.ts`;
  const PYQ = `${ns}.py`;
  const NEWQ = `${ns}.new`;
  const NOWHERE = `${ns}.nowhere`;
  const conf = { ...b.settings, control_exchange: `${ns}.ctl`, event_exchange: `${ns}.ev`, task_default_queue: TSQ };
  const routes = { 'cc.ts_only': TSQ, 'cc.py_only': PYQ };
  const env = {
    CC_BROKER: b.brokerUrl, CC_BACKEND: b.backendUrl, CC_CONF: JSON.stringify(conf), CC_ROUTES: JSON.stringify(routes),
  };
  // the Python worker also accepts msgpack: a protocol difference fleet check reports on a shared queue
  const pyWorkerEnv = { ...env, CC_CONF: JSON.stringify({ ...conf, accept_content: ['json', 'msgpack'] }) };
  let skip = false;
  let client: Celery;
  let worker: Worker | null = null;
  let py: PythonWorker | null = null;
  let ts = '';
  let pyNode = '';
  const flag = resolve(FLAGS, `${ns}.release`);
  const ids: Record<string, string> = {};

  const celery = (args: string[]) => run(resolve(PYTHON), ['-m', 'celery', '-A', 'cli_control_tasks', ...args], env, 'test/python');
  const celeriac = (args: string[], extra: NodeJS.ProcessEnv = {}) => run(process.execPath, [BIN, '-A', APP, ...args], { ...env, ...extra });

  async function pythonOps(ops: object[]): Promise<unknown[]> {
    const out = await runPython('test/python/cli_control_peer.py', { ops, env }, []);
    return out.trim().split('\n').map((l) => {
      const r = parseKombuJson(l) as { result?: unknown; error?: string; traceback?: string };
      if (r.error) throw new Error(`python: ${r.error}\n${r.traceback}`);
      return r.result;
    });
  }

  const errorLine = (s: string) => s.split('\n').filter((l) => l.startsWith('Error: ')).join('\n');

  /** celery's and celeriac's runs of one command line agree: output (normalized), error line, exit status. */
  function agree(c: CliCase, p: Run, m: Run): void {
    const what = `${c.args.join(' ')}\n--- celery (exit ${p.status}):\n${p.stdout}${p.stderr}\n--- celeriac (exit ${m.status}):\n${m.stdout}${m.stderr}`;
    if (c.json === true) assert.equal(canonicalJson(m.stdout), canonicalJson(p.stdout), what);
    else if (c.json === 'first-line') {
      const [pj, ...prest] = p.stdout.split('\n');
      const [mj, ...mrest] = m.stdout.split('\n');
      assert.equal(canonicalJson(mj!), canonicalJson(pj!), what);
      assert.equal(mrest.join('\n'), prest.join('\n'), what);
    } else assert.equal(sortBlocks(m.stdout), sortBlocks(p.stdout), what);
    assert.equal(errorLine(m.stderr), errorLine(p.stderr), what);
    // click ends a usage error with 2, celeriac with EX_USAGE (64) as every celeriac command
    assert.equal(m.status, p.status === 2 ? 64 : p.status, what);
  }

  async function compareCli(c: CliCase): Promise<void> {
    const [p, m] = await Promise.all([celery(c.args), celeriac(c.args)]);
    agree(c, p, m);
  }

  /** Each CLI runs the whole sequence in turn (the sequence leaves the workers as it found them). */
  async function compareCliInTurn(cases: CliCase[]): Promise<void> {
    const p: Run[] = [];
    const m: Run[] = [];
    for (const c of cases) p.push(await celery(c.args));
    for (const c of cases) m.push(await celeriac(c.args));
    cases.forEach((c, i) => agree(c, p[i]!, m[i]!));
  }

  describe(`[${b.name}] remote control from celeriac and from Celery on a Python + TypeScript fleet`, () => {
    before(async () => {
      const probe = { skip: (why: string) => { skip = true; console.log(`# skipped: ${why}`); } };
      if (!requirePython(probe as never)) return;
      const { makeApp } = (await import(APP)) as { makeApp: (e: Record<string, string>) => Celery };
      client = makeApp(env);
      const wapp = makeApp(env);
      worker = new Worker(wapp, { queues: [TSQ], concurrency: 2, hostname: `ts.${ns}@%h`, logger: testLogger(), withoutMingle: true });
      await worker.start();
      ts = worker.hostname;
      pyNode = ts.replace(/^ts\./, 'py.');
      py = await startPythonWorker(['-A', 'cli_control_tasks', 'worker', '-P', 'threads', '-c', '2', '-n', `py.${ns}@%h`, '-Q', PYQ,
        '--without-mingle', '--without-gossip', '-l', 'info'], { cwd: 'test/python', env: pyWorkerEnv });
      // something to see in active / reserved / scheduled / query_task on both workers
      const eta = new Date(Date.now() + 120_000).toISOString();
      ids.tsHold = (await client.sendTask('cc.hold', [60, flag], {}, { queue: TSQ })).id;
      ids.pyHold = (await client.sendTask('cc.hold', [60, flag], {}, { queue: PYQ })).id;
      ids.tsEta = (await client.sendTask('cc.add', [1, 2], {}, { queue: TSQ, eta })).id;
      ids.pyEta = (await client.sendTask('cc.add', [3, 4], {}, { queue: PYQ, eta })).id;
      for (;;) {
        const active = await client.control.inspect({ destination: [ts, pyNode], timeout: 5 }).active();
        const running = Object.values(active ?? {}).flat() as { id: string }[];
        if (running.some((r) => r.id === ids.tsHold) && running.some((r) => r.id === ids.pyHold)) break;
        await new Promise((r) => setTimeout(r, 200));
      }
    });

    after(async () => {
      if (skip) return;
      writeFileSync(flag, '');
      await py?.stop();
      await worker?.stop().catch(() => undefined);
      await client?.close().catch(() => undefined);
      if (b.name === 'amqp') await deleteAmqpQueues([TSQ, PYQ, NEWQ], [TSQ, PYQ, NEWQ, `${ns}.ctl.pidbox`, `reply.${ns}.ctl.pidbox`, `${ns}.ev`]);
    });

    test('inspect: every method gives the same replies through Python\'s app.control and celeriac\'s', async (t) => {
      if (skip) return t.skip();
      const d = [ts, pyNode];
      const calls: [string, unknown[], Record<string, unknown>][] = [
        ['ping', [], {}], ['clock', [], {}], ['stats', [], {}], ['active', [], {}], ['active', [true], {}], ['reserved', [], {}],
        ['scheduled', [], {}], ['revoked', [], {}], ['registered', [], {}], ['registered', ['rate_limit', 'time_limit'], {}],
        ['registered_tasks', [], {}], ['query_task', [ids.tsHold, ids.pyHold, ids.tsEta], {}], ['active_queues', [], {}], ['conf', [], {}],
        ['conf', [true], {}], ['report', [], {}], ['memsample', [], {}], ['memdump', [], {}], ['memdump', [3], {}], ['objgraph', [], {}],
        ['hello', ['cc-client@nowhere', []], {}],
      ];
      const fromPython = await pythonOps(calls.map(([m, args, kwargs]) => ({ inspect: m, args, kwargs, destination: d, timeout: 5 })));
      const i = client.control.inspect({ destination: d, timeout: 5 }) as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
      const camel = (m: string) => m.replace(/_(\w)/g, (_, c: string) => c.toUpperCase());
      for (const [n, [method, args]] of calls.entries()) {
        const mine = await i[camel(method)]!(...args);
        assert.deepEqual(mask(mine), mask(fromPython[n]), `inspect ${method}(${JSON.stringify(args)})`);
        assert.deepEqual(Object.keys(mine as object).sort(), [pyNode, ts].sort(), `${method}: both nodes replied`);
      }
      // nobody: None / null
      const none = await pythonOps([{ inspect: 'ping', destination: ['nobody@nowhere'], timeout: 0.5 }]);
      assert.equal(none[0], null);
      assert.equal(await client.control.inspect({ destination: ['nobody@nowhere'], timeout: 0.5 }).ping(), null);
    });

    test('celery and celeriac print the same for status and inspect', async (t) => {
      if (skip) return t.skip();
      const d = `${ts},${pyNode}`;
      const cases: CliCase[] = [
        { args: ['status', '-d', d] },
        { args: ['status', '-d', d, '--json'], json: 'first-line' },
        { args: ['inspect', 'ping', '-d', d] },
        { args: ['inspect', 'registered', 'rate_limit', '-d', d] },
        { args: ['inspect', 'active_queues', '-d', d, '-j'], json: true },
      ];
      if (FULL) {
        cases.push(
          { args: ['inspect', 'ping', '-d', 'nobody@nowhere', '-t', '0.5'] },
          { args: ['inspect', 'nosuch'] },
          { args: ['inspect', 'active', '-d', d] },
          { args: ['inspect', 'query_task', ids.tsHold!, ids.pyHold!, '-d', d] },
          { args: ['inspect', 'stats', '-d', d, '-j'], json: true },
          { args: ['inspect', 'conf', '-d', d, '-j'], json: true },
          { args: ['inspect', 'report', '-d', d] },
          { args: ['inspect', 'objgraph', '-d', d] },
          { args: ['-q', 'inspect', 'ping', '-d', d] },
          { args: ['inspect', '--list'] },
        );
      }
      await pool(cases.map((c) => () => compareCli(c)), 3);
      writeFileSync(flag, ''); // the held tasks end
    });

    test('control: every command with reply=True gives the same replies through Python and celeriac', async (t) => {
      if (skip) return t.skip();
      const d = [ts, pyNode];
      const o = { reply: true, destination: d, timeout: 5 };
      const calls: [string, unknown[], Record<string, unknown>, (c: Celery['control']) => Promise<unknown>][] = [
        ['rate_limit', ['cc.add', '10/m'], o, (c) => c.rateLimit('cc.add', '10/m', o)],
        ['time_limit', ['cc.add'], { ...o, soft: 10, hard: 20 }, (c) => c.timeLimit('cc.add', { ...o, soft: 10, hard: 20 })],
        ['revoke', [ids.tsEta], o, (c) => c.revoke(ids.tsEta!, o)],
        ['revoke', [[ids.pyEta]], { ...o, terminate: false, signal: 'SIGKILL' }, (c) => c.revoke([ids.pyEta!], { ...o, signal: 'SIGKILL' })],
        ['revoke_by_stamped_headers', [{ stamp: 'v' }], o, (c) => c.revokeByStampedHeaders({ stamp: 'v' }, o)],
        ['terminate', ['no-such-task'], o, (c) => c.terminate('no-such-task', o)],
        ['add_consumer', [NEWQ], o, (c) => c.addConsumer(NEWQ, o)],
        ['cancel_consumer', [NEWQ], o, (c) => c.cancelConsumer(NEWQ, o)],
        ['enable_events', [], o, (c) => c.enableEvents(o)],
        ['disable_events', [], o, (c) => c.disableEvents(o)],
        ['pool_grow', [1], o, (c) => c.poolGrow(1, o)],
        ['pool_shrink', [1], o, (c) => c.poolShrink(1, o)],
        ['pool_restart', [], o, (c) => c.poolRestart(o)],
        ['autoscale', [4, 1], o, (c) => c.autoscale(4, 1, o)],
        ['heartbeat', [], o, (c) => c.heartbeat(o)],
        ['ping', [], { destination: d, timeout: 5 }, (c) => c.ping({ destination: d, timeout: 5 })],
        ['broadcast', ['clock'], { ...o, arguments: {} }, (c) => c.broadcast('clock', {}, o)],
        ['election', ['e1', 'topic', 'act'], {}, (c) => c.election('e1', 'topic', 'act')],
      ];
      const fromPython = await pythonOps(calls.map(([control, args, kwargs]) => ({ control, args, kwargs })));
      const byNode = (x: unknown) => (Array.isArray(x) ? [...x].sort((a, b) => Object.keys(a as object)[0]!.localeCompare(Object.keys(b as object)[0]!)) : x);
      for (const [n, [method, , , call]] of calls.entries()) {
        const mine = await call(client.control);
        assert.deepEqual(mask(byNode(mine ?? null)), mask(byNode(fromPython[n])), `control ${method}`);
      }
    });

    test('celery and celeriac print the same for control commands', async (t) => {
      if (skip) return t.skip();
      const d = `${ts},${pyNode}`;
      // replies that do not depend on what ran before: celery and celeriac at the same time
      const same: CliCase[] = [
        { args: ['control', 'rate_limit', 'cc.add', '20/m', '-d', d] },
        { args: ['control', 'time_limit', 'cc.add', '10', '20', '-d', d] },
        { args: ['control', 'heartbeat', '-d', d, '-j'], json: true },
      ];
      if (FULL) {
        same.push(
          { args: ['control', 'rate_limit', 'a', 'b', 'c'] },
          { args: ['control', 'nosuch'] },
          { args: ['control', 'revoke', ids.tsEta!, '-d', d] },
          { args: ['control', 'terminate', 'SIGKILL', '-d', d] },
          { args: ['control', 'autoscale', '4', '1', '-d', d] },
          { args: ['control', 'election', '-d', d] },
          { args: ['control', '--list'] },
        );
      }
      await pool(same.map((c) => () => compareCli(c)), 3);
      // commands that change what the next one replies: celery's, then celeriac's, each undone after
      await compareCliInTurn([{ args: ['control', 'add_consumer', NEWQ, '-d', d] }, { args: ['control', 'cancel_consumer', NEWQ, '-d', d, '-j'], json: true }]);
      // the float the CLI sends reaches the Python worker as a float, as celery's does: time_limit=20.0
      const reg = await client.control.inspect({ destination: [pyNode], timeout: 5 }).registered('time_limit', 'soft_time_limit');
      assert.ok(reg![pyNode]!.includes('cc.add [time_limit=20.0 soft_time_limit=10.0]'), JSON.stringify(reg));
      const bad = await celeriac(['control', 'pool_grow', 'abc']);
      assert.equal(bad.status, 64, bad.stderr);
      assert.match(bad.stderr, /invalid literal for int\(\) with base 10: 'abc'/);
    });

    test('fleet check: clean fleet exits 0; a shared queue with a task one consumer lacks, other accept_content, and a route nobody consumes exit 1', async (t) => {
      if (skip) return t.skip();
      const d = `${ts},${pyNode}`;
      const clean = await celeriac(['fleet', 'check', '-d', d]);
      assert.equal(clean.status, 0, clean.stdout + clean.stderr);
      assert.equal(clean.stdout, 'OK: no problem found (2 nodes, 2 queues).\n');
      // the Python worker also consumes the TypeScript queue now (it lacks cc.ts_only)
      const added = await celeriac(['control', 'add_consumer', TSQ, '-d', pyNode]);
      assert.equal(added.status, 0, added.stderr);
      try {
        const badRoutes = JSON.stringify({ ...routes, 'cc.nowhere': NOWHERE });
        const json = await celeriac(['fleet', 'check', '-d', d, '--json'], { CC_ROUTES: badRoutes });
        assert.equal(json.status, 1, json.stderr);
        const report = JSON.parse(json.stdout) as { ok: boolean; queues: Record<string, string[]>; findings: { kind: string; queue?: string; task?: string; setting?: string; unknownTo?: string[] }[] };
        assert.equal(report.ok, false);
        assert.deepEqual(report.queues[TSQ], [pyNode, ts].sort());
        assert.deepEqual(report.findings.map((f) => [f.kind, f.queue, f.task ?? f.setting]), [
          ['unconsumed-route', NOWHERE, 'cc.nowhere'],
          ['unknown-task', TSQ, 'cc.ts_only'],
          ['setting-mismatch', TSQ, 'accept_content'],
        ], json.stdout);
        assert.deepEqual(report.findings[1]!.unknownTo, [pyNode]);
      } finally {
        await celeriac(['control', 'cancel_consumer', TSQ, '-d', pyNode]);
      }
    });

    test('control shutdown: no reply (exit 69, the same error line) from celery and celeriac; the workers stop', async (t) => {
      if (skip) return t.skip();
      const tsStopped = new Promise<void>((r) => worker!.once('stopped', () => r()));
      const pyExited = new Promise<void>((r) => (py!.process.exitCode !== null ? r() : py!.process.once('exit', () => r())));
      const [p, m] = await Promise.all([celery(['control', 'shutdown', '-d', pyNode]), celeriac(['control', 'shutdown', '-d', ts])]);
      assert.equal(p.status, 69);
      assert.equal(m.status, 69);
      assert.equal(m.stderr, 'Error: No nodes replied within time constraint\n');
      assert.ok(p.stderr.includes('Error: No nodes replied within time constraint'), p.stderr);
      await pyExited;
      await tsStopped;
    });
  });
}
