/**
 * CPU-bound tasks per pool: `npm run bench:pools [-- --runs 5 --tasks 200 --ms 20]`.
 *
 * A task of `--ms` milliseconds of arithmetic (`pool.spin`: test/interop/worker-pool-app.ts, and its
 * Python twin test/python/pool_tasks.py), `--tasks` of them published at once to a queue of their own
 * on Redis db 13, drained by, one at a time in the same run:
 * - `celeriac worker -P threads -c 2` (one worker thread per slot);
 * - `celeriac worker -P processes -c 2` (one child process per slot);
 * - `celeriac worker -c 2` (the async pool: the event loop, one task at a time for CPU-bound work);
 * - `celery worker -P prefork -c 2` (Python).
 * Each worker is started, waited for (`ready.`), then timed from the first publish to the last result
 * read back; `--runs` times each, interleaved; the table gives the medians of tasks/s.
 * `--ms 0` is the no-op drain: what each pool costs per task.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { availableParallelism } from 'node:os';
import { Celery } from '../src/app.ts';
import { median, sleep } from './lib.ts';

const ROOT = resolve(import.meta.dirname, '..');
const PYTHON = resolve(ROOT, process.env.CELERIAC_PYTHON ?? '.venv-celery/bin/python');
const REDIS = `redis://${process.env.CELERIAC_REDIS_HOST ?? '127.0.0.1'}:${process.env.CELERIAC_REDIS_PORT ?? 6379}/13`;

const { values: opts } = parseArgs({
  options: { runs: { type: 'string', default: '5' }, tasks: { type: 'string', default: '200' }, ms: { type: 'string', default: '20' } },
});
const RUNS = Number(opts.runs);
const MS = Number(opts.ms);
// the no-op drain: more tasks (each is cheap)
const TASKS = Number(MS === 0 && opts.tasks === '200' ? '2000' : opts.tasks);

interface Case {
  name: string;
  start(queue: string): ChildProcess;
}

const env = { ...process.env, POOL_TEST_BROKER: REDIS, POOL_TEST_BACKEND: REDIS };
const celeriac = (extra: string[]) => (queue: string) => spawn(process.execPath, [resolve(ROOT, 'bin/celeriac.js'), '-A', resolve(ROOT, 'test/interop/worker-pool-app.ts'),
  'worker', '-Q', queue, '-n', `${queue}@%h`, '-c', '2', '-l', 'info', '--without-mingle', ...extra], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });

const CASES: Case[] = [
  { name: 'celeriac -P threads -c 2', start: celeriac(['-P', 'threads']) },
  { name: 'celeriac -P processes -c 2', start: celeriac(['-P', 'processes']) },
  { name: 'celeriac -P async -c 2', start: celeriac(['-P', 'async']) },
  {
    name: 'celery -P prefork -c 2',
    start: (queue) => spawn(PYTHON, ['-m', 'celery', '-A', 'pool_tasks', 'worker', '-P', 'prefork', '-c', '2', '-Q', queue, '-n', `${queue}@%h`, '-l', 'info', '--without-mingle', '--without-gossip'],
      { cwd: resolve(ROOT, 'test/python'), env, stdio: ['ignore', 'pipe', 'pipe'] }),
  },
];

async function ready(child: ChildProcess): Promise<void> {
  let log = '';
  child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  const end = Date.now() + 60_000;
  while (!/ready\./.test(log)) {
    if (Date.now() > end || child.exitCode !== null) throw new Error(`worker did not start:\n${log}`);
    await sleep(50);
  }
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(t);
}

async function once(app: Celery, c: Case, run: number): Promise<number> {
  const queue = `bench.pool.${process.pid}.${run}.${CASES.indexOf(c)}`;
  const child = c.start(queue);
  try {
    await ready(child);
    const t0 = performance.now();
    const results = [];
    for (let i = 0; i < TASKS; i++) results.push(await app.sendTask('pool.spin', [MS], {}, { queue }));
    for (const r of results) await r.get({ timeout: 120 });
    return TASKS / ((performance.now() - t0) / 1000);
  } finally {
    await stop(child);
  }
}

const app = new Celery({ broker_url: REDIS, result_backend: REDIS, env: {} });
const rates = new Map<string, number[]>(CASES.map((c) => [c.name, []]));
for (let run = 0; run < RUNS; run++) {
  for (const c of CASES) {
    const r = await once(app, c, run);
    rates.get(c.name)!.push(r);
    process.stderr.write(`run ${run + 1}/${RUNS} ${c.name}: ${r.toFixed(1)} tasks/s\n`);
  }
}
await app.close();
console.log(`\n${TASKS} tasks of ${MS} ms arithmetic${MS === 0 ? ' (no-op)' : ''}, ${RUNS} runs, ${availableParallelism()} CPUs; median tasks/s (all runs)`);
for (const [name, xs] of rates) console.log(`  ${name.padEnd(28)} ${median(xs).toFixed(1).padStart(8)}   (${xs.map((x) => x.toFixed(1)).join(', ')})`);
