/**
 * The celeriac side of bench/beat.ts: the app `celeriac beat -A bench/beat-app.ts` loads, with the same
 * schedule as bench/python/beat_bench.py (same environment variables).
 */
import { readFileSync } from 'node:fs';
import { Celery } from '../src/app.ts';

const entries = JSON.parse(readFileSync(process.env.BENCH_BEAT_ENTRIES!, 'utf8')) as { name: string; every: number }[];
const queue = process.env.BENCH_BEAT_QUEUE!;

export const app = new Celery({
  broker_url: process.env.BENCH_BEAT_BROKER!,
  timezone: 'UTC',
  enable_utc: true,
  redbeat_key_prefix: process.env.BENCH_BEAT_PREFIX ?? 'redbeat:',
  beat_schedule: Object.fromEntries(entries.map((e) => [e.name, { task: 'bench.beat.noop', schedule: e.every, args: [e.name], options: { queue } }])),
});
