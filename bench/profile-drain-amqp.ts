/**
 * Profiles the celeriac worker draining a preloaded RabbitMQ queue (not part of `npm run bench`):
 *
 *   node --import tsx bench/profile-drain-amqp.ts [N=20000] [--runs R] [--cpu-prof] [--prefetch P]
 *
 * Each run preloads N no-op messages (`bench.noop_nr`, ignore_result) into a fresh queue
 * `bench.profile-amqp.<random>` with celeriac's producer, starts bench/ts-worker.ts (with `--cpu-prof`,
 * the profile goes to bench/results/prof-amqp/), times from the first message taken until
 * `queue.declare(passive)` reports message_count 0, and prints the drain rate and the worker's CPU time
 * per 1000 messages (user+sys from /proc: steadier than rates on a shared machine). RabbitMQ does not
 * report unacked messages to a client, so up to the prefetch window may still be running at the end
 * (8 of N by default). Also RabbitMQ's own CPU per message when its beam.smp is visible in /proc (every
 * ack frame costs the broker too; shared, so noisier). With several runs, the medians come last.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import amqplib from 'amqplib';
import { Celery } from '../src/app.ts';
import { cpuMs, cpuTimes, median, pidByName, sleep } from './lib.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const URL = 'amqp://guest:guest@127.0.0.1:5672//';
const BACKEND = 'redis://127.0.0.1:6379/2';
const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const n = Number(process.argv[2] !== undefined && /^\d+$/.test(process.argv[2]) ? process.argv[2] : 20000);
const runs = Number(arg('--runs') ?? 1);
const prefetch = arg('--prefetch');
const dir = join(HERE, 'results/prof-amqp');
const prof = process.argv.includes('--cpu-prof') ? ['--cpu-prof', `--cpu-prof-dir=${dir}`] : [];

/** RabbitMQ's Erlang VM on this machine, if visible: its CPU per message too (noisy: shared). */
const rabbit = pidByName('beam.smp');
const total = (pid: number | null) => (pid === null ? 0 : cpuMs(pid));

const conn = await amqplib.connect(URL.replace(/\/\/$/, '/'));
const ch = await conn.createChannel();
const ready = async (q: string) => (await ch.checkQueue(q)).messageCount;

async function once(): Promise<{ rate: number; cpuPerK: number; sysPerK: number; rabbitPerK: number }> {
  const q = `bench.profile-amqp.${randomBytes(4).toString('hex')}`;
  const app = new Celery({ broker_url: URL, result_backend: null, env: {} });
  let next = 0;
  const lane = async () => {
    while (next++ < n) await app.sendTask('bench.noop_nr', [], {}, { queue: q, ignore_result: true });
  };
  await Promise.all(Array.from({ length: 200 }, lane));
  await app.close();
  while ((await ready(q)) < n) await sleep(5);
  const cfg = { url: URL, queue: q, backend: BACKEND, ...(prefetch ? { prefetch: Number(prefetch) } : {}) };
  const c = spawn(process.execPath, [...prof, '--import', 'tsx', join(HERE, 'ts-worker.ts'), JSON.stringify(cfg)], { stdio: ['ignore', 'pipe', 'inherit'] });
  c.stdout.on('data', () => undefined);
  try {
    while ((await ready(q)) === n) await sleep(2);
    const t0 = performance.now();
    const cpu0 = cpuTimes(c.pid!);
    const rabbit0 = total(rabbit);
    while ((await ready(q)) > 0) await sleep(5);
    const secs = (performance.now() - t0) / 1000;
    const cpu1 = cpuTimes(c.pid!);
    const sys = cpu1.sys - cpu0.sys;
    const perK = (ms: number) => ms / (n / 1000);
    return { rate: n / secs, cpuPerK: perK(cpu1.user - cpu0.user + sys), sysPerK: perK(sys), rabbitPerK: perK(total(rabbit) - rabbit0) };
  } finally {
    c.kill('SIGTERM');
    await new Promise((s) => c.on('exit', s));
    await ch.deleteQueue(q);
  }
}

const rates: number[] = [];
const cpus: number[] = [];
const rabbits: number[] = [];
for (let i = 0; i < runs; i++) {
  const r = await once();
  rates.push(r.rate);
  cpus.push(r.cpuPerK);
  rabbits.push(r.rabbitPerK);
  console.log(`${n} drained at ${r.rate.toFixed(0)} tasks/s, worker CPU ${r.cpuPerK.toFixed(1)} ms per 1000 (sys ${r.sysPerK.toFixed(1)})${rabbit === null ? '' : `, RabbitMQ CPU ${r.rabbitPerK.toFixed(1)} ms per 1000`}${prof.length ? `; profile in ${dir}` : ''}`);
}
if (runs > 1) {
  console.log(`median of ${runs}: ${median(rates).toFixed(0)} tasks/s, worker CPU ${median(cpus).toFixed(1)} ms per 1000` +
    (rabbit === null ? '' : `, RabbitMQ CPU ${median(rabbits).toFixed(1)} ms per 1000`));
}
await conn.close();
