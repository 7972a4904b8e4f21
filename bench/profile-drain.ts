/**
 * Profiles the celeriac worker draining a preloaded queue (not part of `npm run bench`):
 *
 *   node --import tsx bench/profile-drain.ts [N=20000] [res] [--concurrency C] [--no-prof] [--prof-dir DIR]
 *
 * Preloads N no-op messages on Redis db 15, starts bench/ts-worker.ts under `node --cpu-prof`
 * (profile written to bench/results/prof/), prints the drain rate and the worker's CPU time per 1000
 * messages (user+sys, from /proc: steadier than rates on a shared machine) and redis-server's, and stops the worker.
 * With `res`, done = every result stored.
 */
import { spawn } from 'node:child_process';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { Celery } from '../src/app.ts';
import { cpuMs, cpuTimes, pidByName } from './lib.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const URL = 'redis://127.0.0.1:6379/15';
const q = 'bench.profile';
const n = Number(process.argv[2] ?? 20000);
const results = process.argv.includes('res');
const ci = process.argv.indexOf('--concurrency');
const concurrency = ci > 0 ? Number(process.argv[ci + 1]) : undefined;
const r = new Redis({ db: 15 });
await r.flushdb();
const app = new Celery({ broker_url: URL, result_backend: null, env: {} });
let next = 0;
const ids: string[] = [];
const lane = async () => {
  while (next++ < n) ids.push((await app.sendTask(results ? 'bench.noop' : 'bench.noop_nr', [], {}, results ? { queue: q } : { queue: q, ignore_result: true })).id);
};
await Promise.all(Array.from({ length: 500 }, lane));
await app.close();
const di = process.argv.indexOf('--prof-dir');
const dir = di > 0 ? process.argv[di + 1]! : join(HERE, 'results/prof');
const prof = process.argv.includes('--no-prof') ? [] : ['--cpu-prof', `--cpu-prof-dir=${dir}`];
const c = spawn(process.execPath, [...prof, '--import', 'tsx', join(HERE, 'ts-worker.ts'), JSON.stringify({ url: URL, queue: q, concurrency })], { stdio: 'inherit' });
while ((await r.llen(q)) === n) await new Promise((s) => setTimeout(s, 2));
const t0 = performance.now();
const cpu0 = cpuTimes(c.pid!);
const redisPid = pidByName('redis-server');
if (redisPid === null) throw new Error('redis-server is not visible in /proc: profile against a local Redis');
const red0 = cpuMs(redisPid);
while ((await r.llen(q)) > 0 || (await r.hlen('unacked')) > 0) await new Promise((s) => setTimeout(s, 5));
if (results) {
  const keys = ids.map((id) => `celery-task-meta-${id}`);
  for (;;) {
    let have = 0;
    for (let i = 0; i < keys.length; i += 5000) have += await r.exists(...keys.slice(i, i + 5000));
    if (have === n) break;
    await new Promise((s) => setTimeout(s, 5));
  }
}
const cpu1 = cpuTimes(c.pid!);
const sys = cpu1.sys - cpu0.sys;
const cpu = cpu1.user - cpu0.user + sys;
const red = cpuMs(redisPid) - red0;
console.log(`${n} drained at ${(n / ((performance.now() - t0) / 1000)).toFixed(0)} tasks/s, worker CPU ${(cpu / (n / 1000)).toFixed(1)} ms per 1000 (sys ${(sys / (n / 1000)).toFixed(1)}), redis-server ${(red / (n / 1000)).toFixed(1)}${prof.length ? `; profile in ${dir}` : ''}`);
c.kill('SIGTERM');
await new Promise((s) => c.on('exit', s));
await r.flushdb();
r.disconnect();
