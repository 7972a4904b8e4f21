// `celeriac worker -P prefork` (→ processes) from the command line on RabbitMQ, Python sending: the app
// module loaded in each child process by the CLI's loader, CPU-bound tasks in parallel, a hard time limit that
// stops a spinning task, `inspect stats` showing the pool's processes, `control autoscale` with --autoscale.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { resolve } from 'node:path';
import { AMQP_URL, PYTHON, requirePython, uniqueName } from '../helpers/peers.ts';
import { peer, sleep, URL, type Outcome, type PeerUrls } from '../helpers/worker.ts';

const QUEUE = uniqueName('ts.poolcli');
const NODE = `${QUEUE}@localhost`;
const URLS: PeerUrls = { broker: AMQP_URL, backend: URL };
let child: ChildProcess | null = null;
let log = '';
let skip = false;

const send = (name: string, args: unknown[] = [], options: object = {}) => ({ op: 'send', name, args, options: { queue: QUEUE, ...options } });
async function outcomes(ops: object[], timeout = 30): Promise<Outcome[]> {
  const ids = (await peer(ops, {}, URLS)) as string[];
  return (await peer([{ op: 'get_many', ids, timeout }], {}, URLS))[0] as Outcome[];
}
const celery = (args: string[]) => promisify(execFile)(PYTHON, ['-m', 'celery', '-b', AMQP_URL, ...args], { encoding: 'utf8' });

describe('celeriac worker -P prefork --autoscale on RabbitMQ', () => {
  before(async () => {
    const probe = { skip: () => { skip = true; } };
    if (!requirePython(probe as never)) return;
    child = spawn(process.execPath, [resolve('bin/celeriac.js'), '-A', resolve('test/interop/worker-pool-app.ts'), 'worker', '-P', 'prefork', '--autoscale', '2,2',
      '-Q', QUEUE, '-n', NODE, '-l', 'info', '--without-mingle'], { env: { ...process.env, POOL_TEST_BROKER: AMQP_URL, POOL_TEST_BACKEND: URL }, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    for (let i = 0; !/ready\./.test(log); i++) {
      if (i > 600 || child.exitCode !== null) throw new Error(`worker did not start:\n${log}`);
      await sleep(50);
    }
  });
  after(async () => {
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child!.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  });

  test('CPU-bound tasks in parallel, a hard time limit stops a spinning task, the worker carries on', async (t) => {
    if (skip) return t.skip();
    assert.match(log, /concurrency: 2 \(processes\)/);
    const [a, b, stuck] = await outcomes([send('pool.spin', [300]), send('pool.spin', [300]), send('pool.forever', [], { time_limit: 1 })]);
    const ra = a!.result as { start: number; end: number };
    const rb = b!.result as { start: number; end: number };
    assert.ok(ra.start < rb.end && rb.start < ra.end, `run intervals overlap: ${JSON.stringify([ra, rb])}`);
    assert.equal(stuck!.state, 'FAILURE');
    assert.deepEqual(stuck!.exception, { exc_type: 'TimeLimitExceeded', exc_module: 'billiard.exceptions', args: [1] });
    const [next] = await outcomes([send('pool.add', [40, 2])]);
    assert.equal(next!.result, 42);
    assert.match(log, /Hard time limit \(1s\) exceeded for pool\.forever/);
  });

  test('inspect stats lists the pool processes; control autoscale changes the bounds', async (t) => {
    if (skip) return t.skip();
    const stats = JSON.parse((await celery(['inspect', 'stats', '-d', NODE, '-j', '-t', '5'])).stdout) as Record<string, { pool: Record<string, unknown> }>;
    const pool = stats[NODE]!.pool;
    assert.equal(pool['max-concurrency'], 2);
    assert.equal((pool.processes as number[]).length, 2);
    assert.equal(pool.implementation, 'celeriac.worker:ProcessPool');
    const out = (await celery(['control', '-d', NODE, '-t', '5', 'autoscale', '3', '1'])).stdout;
    assert.match(out, /autoscale now max=3 min=1/);
  });
});
