/**
 * BullMQ's side of bench/profile-drain.ts (not part of `npm run bench`):
 *
 *   node --import tsx bench/profile-drain-bullmq.ts [N=20000] [--concurrency C]
 *
 * Preloads N no-op jobs (results kept, BullMQ's default) on Redis db 15, starts bench/bullmq-worker.ts,
 * and prints the drain rate with the CPU time per 1000 jobs of the worker and of redis-server (from
 * /proc), to set beside profile-drain.ts's figures for celeriac.
 */
import { spawn } from 'node:child_process';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { cpuMs, pidByName } from './lib.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const n = Number(process.argv[2] ?? 20000);
const ci = process.argv.indexOf('--concurrency');
const concurrency = ci > 0 ? Number(process.argv[ci + 1]) : 8;
const queue = 'bench.profile.bull';
const r = new Redis({ db: 15 });
await r.flushdb();
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- bench-only peer, installed by bench/peers.ts
const { Queue } = (await import('bullmq' as string)) as any;
const q = new Queue(queue, { connection: { host: '127.0.0.1', port: 6379, db: 15, maxRetriesPerRequest: null } });
for (let i = 0; i < n; i += 1000) await q.addBulk(Array.from({ length: Math.min(1000, n - i) }, () => ({ name: 'noop', data: {}, opts: {} })));
const redisPid = pidByName('redis-server');
if (redisPid === null) throw new Error('redis-server is not visible in /proc: profile against a local Redis');
const c = spawn(process.execPath, ['--import', 'tsx', join(HERE, 'bullmq-worker.ts'), JSON.stringify({ host: '127.0.0.1', port: 6379, db: 15, queue, concurrency })], { stdio: ['ignore', 'ignore', 'inherit'] });
const wait = `bull:${queue}:wait`;
while ((await r.llen(wait)) === n) await new Promise((s) => setTimeout(s, 2));
const t0 = performance.now();
const cpu0 = cpuMs(c.pid!);
const red0 = cpuMs(redisPid);
while ((await r.zcard(`bull:${queue}:completed`)) < n) await new Promise((s) => setTimeout(s, 5));
const cpu = cpuMs(c.pid!) - cpu0;
const red = cpuMs(redisPid) - red0;
const per = (ms: number) => (ms / (n / 1000)).toFixed(1);
console.log(`${n} drained at ${(n / ((performance.now() - t0) / 1000)).toFixed(0)} jobs/s, worker CPU ${per(cpu)} ms per 1000, redis-server ${per(red)}`);
c.kill('SIGTERM');
await new Promise((s) => c.on('exit', s));
await q.close();
await r.quit();
