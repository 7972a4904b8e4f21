/**
 * Beat under load: `npm run bench:beat [-- --minutes 2 --entries 10000 --runs 1]`.
 *
 * One schedule, the same for every contender: N interval entries (`bench.e<i>`, default 10,000) with
 * random periods of 5-60 whole seconds (a seeded generator: `--seed`), so sends fall on random seconds;
 * each sends `bench.beat.noop(<entry name>)` to one queue that nothing consumes. Contenders, one after
 * the other (the machine has 2 shared cores), each on a fresh private redis-server database (FLUSHALL):
 *
 *   celeriac-file    celeriac beat -S file  (bin/celeriac.js, the checkout through tsx, as a user runs it)
 *   celeriac-redis   celeriac beat -S redis (RedBeat's layout and lock)
 *   python-file      celery beat (PersistentScheduler, its shelve file), Celery 5.6 in .venv-celery
 *   python-redbeat   celery beat -S redbeat.RedBeatScheduler (PYTHONPATH=../shared/peers/redbeat)
 *
 * Measured, per contender and run, over the steady window (from `--warmup` seconds after the spawn,
 * default a quarter of the run, at most 20 s, to the end):
 * - CPU: user + system time of the beat's process tree (/proc/<pid>/stat) per wall second; the CPU
 *   spent before the window (start-up: loading the schedule, RedBeat's first round) is given apart;
 * - RSS of the process tree at the end (and its peak, sampled every second);
 * - send lateness. A message's time is when the broker took it: the redis-server's own timestamp of
 *   the LPUSH, seen on a MONITOR connection of the bench. Celery's interval rule makes the next run due
 *   one period after the previous run (last_run_at + interval, not a fixed grid), so the lateness of
 *   an entry's k-th send (k >= 2) is `t_k - t_(k-1) - period`: how much more than one period after the
 *   previous send it went out. The same external measure for all four (no instrumentation inside the
 *   Python beat); a delay that every send of an entry has alike (the publish itself) cancels out, what
 *   remains is how late the beat woke up for a due entry and how that varies. First sends are left
 *   out (their due time is one period after the beat installed the schedule, which start-up delays);
 * - sends in the window; entries sent at least once but overdue at its end by more than 1 s (last
 *   send + period + 1 s before the end: the backlog of a beat that falls behind), and entries never sent
 *   (in a run shorter than 60 s + start-up, entries with long periods are never due: not a fault).
 *
 * Everything is printed as a Markdown table (medians over `--runs`, and the ratios to celeriac-file
 * computed within each run, then their median); raw numbers go to bench/results/beat-latest.json and
 * the table to beat-latest.md (`--out`). `--contenders celeriac-file,python-file` picks some.
 * Short mode for CI: `--minutes 0.2 --entries 1000`.
 */
import { existsSync, mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { median, percentile, Proc, processTree, sleep } from './lib.ts';
import { startRedis } from '../test/helpers/private-redis.ts';
import { mulberry32 } from '../test/helpers/random.ts';
import { redbeatPath } from '../test/helpers/peers.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..');
const PY = resolve(ROOT, process.env.CELERIAC_PYTHON ?? '.venv-celery/bin/python');
const REDBEAT = redbeatPath();
const QUEUE = 'bench.beat';

const { values: o } = parseArgs({
  options: {
    minutes: { type: 'string', default: '2' },
    entries: { type: 'string', default: '10000' },
    runs: { type: 'string', default: '1' },
    seed: { type: 'string', default: '1' },
    warmup: { type: 'string' },
    contenders: { type: 'string' },
    out: { type: 'string', default: join(HERE, 'results/beat-latest.json') },
  },
});
const MINUTES = Number(o.minutes);
const N = Number(o.entries);
const RUNS = Number(o.runs);
if (!(MINUTES > 0) || !(N > 0) || !(RUNS >= 1)) throw new Error('--minutes, --entries and --runs need positive numbers');
const DURATION = MINUTES * 60_000;
const WARMUP = o.warmup !== undefined ? Number(o.warmup) * 1000 : Math.min(20_000, DURATION / 4);
const log = (s: string) => process.stderr.write(`[bench:beat] ${s}\n`);

// ---- the schedule --------------------------------------------------------------------------------

// a seeded generator, so every contender and run gets the same schedule
const rand = mulberry32(Number(o.seed));
const ENTRIES = Array.from({ length: N }, (_, i) => ({ name: `bench.e${i}`, every: 5 + Math.floor(rand() * 56) }));
const PERIOD = new Map(ENTRIES.map((e) => [e.name, e.every * 1000]));

// ---- contenders ------------------------------------------------------------------------------------

interface Contender {
  key: string;
  label: string;
  available: () => string | null;
  spawn: (dir: string, env: NodeJS.ProcessEnv) => Proc;
}

const celeriac = (kind: 'file' | 'redis') => (dir: string, env: NodeJS.ProcessEnv) => new Proc(`celeriac-${kind}`, process.execPath, [
  join(ROOT, 'bin/celeriac.js'), 'beat', '-A', join(HERE, 'beat-app.ts'), '-S', kind,
  ...(kind === 'file' ? ['-s', join(dir, 'celerybeat-schedule.json')] : []), '-l', 'warning',
], { cwd: ROOT, env });
const python = (redbeat: boolean) => (dir: string, env: NodeJS.ProcessEnv) => new Proc(redbeat ? 'python-redbeat' : 'python-file', PY, [
  '-m', 'celery', '-A', 'beat_bench', 'beat', '-l', 'warning',
  ...(redbeat ? ['-S', 'redbeat.RedBeatScheduler'] : ['-s', join(dir, 'celerybeat-schedule')]),
], { cwd: join(HERE, 'python'), env: { ...env, ...(redbeat ? { PYTHONPATH: REDBEAT } : {}) } });
const pythonMissing = () => (existsSync(PY) ? null : `no Python at ${PY} (bash .ci/setup-python.sh)`);

const CONTENDERS: Contender[] = [
  { key: 'celeriac-file', label: 'celeriac beat -S file', available: () => null, spawn: celeriac('file') },
  { key: 'celeriac-redis', label: 'celeriac beat -S redis', available: () => null, spawn: celeriac('redis') },
  { key: 'python-file', label: 'Python celery beat (PersistentScheduler)', available: pythonMissing, spawn: python(false) },
  {
    key: 'python-redbeat', label: 'Python celery beat -S redbeat.RedBeatScheduler',
    available: () => pythonMissing() ?? (existsSync(join(REDBEAT, 'redbeat', 'schedulers.py')) ? null : `no RedBeat at ${REDBEAT}`),
    spawn: python(true),
  },
];

// ---- measuring -------------------------------------------------------------------------------------

/** User + system CPU ms of a process tree (processes that exited are no longer counted). */
function treeCpuMs(pid: number): number {
  let ms = 0;
  for (const p of processTree(pid)) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ms += (Number(f[11]) + Number(f[12])) * 10;
    } catch {
      // gone
    }
  }
  return ms;
}

function treeRssMiB(pid: number): number {
  let kb = 0;
  for (const p of processTree(pid)) {
    try {
      const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${p}/status`, 'utf8'));
      if (m) kb += Number(m[1]);
    } catch {
      // gone
    }
  }
  return kb / 1024;
}

interface Result {
  contender: string;
  run: number;
  startupCpuS: number;
  cpuPerS: number;
  rssMiB: number;
  peakRssMiB: number;
  sends: number;
  /** Entries overdue by more than 1 s at the end of the window (last send + period + 1 s < end): the backlog. */
  overdue: number;
  /** Entries never sent during the run. */
  neverSent: number;
  lateness: { n: number; p50: number; p99: number; max: number; over1s: number };
  firstSendS: number | null;
}

/** Message arrivals: [server time ms, raw LPUSH value] (decoded after the run, off the clock). */
let arrivals: [number, string][] = [];

async function measure(c: Contender, run: number, url: string, redis: Redis): Promise<Result> {
  await redis.flushall();
  arrivals = [];
  const dir = mkdtempSync(join(tmpdir(), `bench-beat-${c.key}-`));
  const entriesFile = join(dir, 'entries.json');
  writeFileSync(entriesFile, JSON.stringify(ENTRIES));
  const env = { ...process.env, BENCH_BEAT_BROKER: url, BENCH_BEAT_ENTRIES: entriesFile, BENCH_BEAT_QUEUE: QUEUE, BENCH_BEAT_PREFIX: `bench-${c.key}:` };
  const spawnedAt = Date.now();
  const proc = c.spawn(dir, env);
  let peak = 0;
  let cpuAtWarmup = 0;
  try {
    while (Date.now() - spawnedAt < WARMUP) {
      proc.assertAlive();
      peak = Math.max(peak, treeRssMiB(proc.pid));
      await sleep(Math.min(1000, WARMUP - (Date.now() - spawnedAt)));
    }
    cpuAtWarmup = treeCpuMs(proc.pid);
    const windowStart = Date.now();
    while (Date.now() - spawnedAt < DURATION) {
      proc.assertAlive();
      peak = Math.max(peak, treeRssMiB(proc.pid));
      await sleep(Math.min(1000, Math.max(0, DURATION - (Date.now() - spawnedAt))));
    }
    const cpuEnd = treeCpuMs(proc.pid);
    const windowEnd = Date.now();
    const rss = treeRssMiB(proc.pid);
    peak = Math.max(peak, rss);
    await proc.stop(10_000);
    await sleep(200); // the last MONITOR lines
    // sends by entry, in order of the broker's time
    const byEntry = new Map<string, number[]>();
    let first: number | null = null;
    for (const [t, raw] of arrivals) {
      const m = JSON.parse(raw) as { body: string; properties?: { body_encoding?: string } };
      const body = JSON.parse(m.properties?.body_encoding === 'base64' ? Buffer.from(m.body, 'base64').toString('utf8') : m.body) as [string[]];
      const name = body[0][0]!;
      (byEntry.get(name) ?? byEntry.set(name, []).get(name)!).push(t);
      first = first === null ? t : Math.min(first, t);
    }
    const late: number[] = [];
    let sends = 0;
    let overdue = 0;
    for (const [name, ts] of byEntry) {
      ts.sort((a, b) => a - b);
      const period = PERIOD.get(name)!;
      for (let k = 0; k < ts.length; k++) {
        if (ts[k]! < windowStart || ts[k]! > windowEnd) continue;
        sends++;
        if (k > 0) late.push(ts[k]! - ts[k - 1]! - period);
      }
      if (ts[ts.length - 1]! + period + 1000 < windowEnd) overdue++;
    }
    return {
      contender: c.key, run, startupCpuS: cpuAtWarmup / 1000, cpuPerS: (cpuEnd - cpuAtWarmup) / (windowEnd - windowStart),
      rssMiB: rss, peakRssMiB: peak, sends, overdue, neverSent: N - byEntry.size,
      lateness: {
        n: late.length, p50: percentile(late, 50), p99: percentile(late, 99), max: late.length ? Math.max(...late) : NaN,
        over1s: late.filter((x) => x > 1000).length,
      },
      firstSendS: first === null ? null : (first - spawnedAt) / 1000,
    };
  } finally {
    if (proc.alive) await proc.stop(5000);
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---- main ------------------------------------------------------------------------------------------

const wanted = o.contenders?.split(',').map((s) => s.trim());
const contenders = CONTENDERS.filter((c) => !wanted || wanted.includes(c.key)).filter((c) => {
  const why = c.available();
  if (why) log(`${c.key} left out: ${why}`);
  return !why;
});
if (contenders.length === 0) throw new Error('no contender to run');

const server = await startRedis({ prefix: 'bench-beat' });
const url = `redis://127.0.0.1:${server.port}/0`;
const redis = new Redis(url);
const monitorBase = new Redis(url);
const monitor = await monitorBase.monitor();
monitor.on('monitor', (time: string, args: string[]) => {
  if (args[0]?.toLowerCase() !== 'lpush' || args[1] !== QUEUE) return;
  const t = Number(time) * 1000;
  for (const v of args.slice(2)) arrivals.push([t, v]);
});

const results: Result[] = [];
try {
  log(`${N} entries (periods 5-60 s, seed ${o.seed}), ${MINUTES} min per contender, steady window from ${WARMUP / 1000} s, ${RUNS} run(s): ${contenders.map((c) => c.key).join(', ')}`);
  for (let run = 1; run <= RUNS; run++) {
    for (const c of contenders) {
      const r = await measure(c, run, url, redis);
      results.push(r);
      log(`run ${run} ${c.key}: cpu ${r.cpuPerS.toFixed(4)} s/s (start-up ${r.startupCpuS.toFixed(2)} s), rss ${r.rssMiB.toFixed(1)} MiB, `
        + `sends ${r.sends}, overdue at end ${r.overdue}, never sent ${r.neverSent}, lateness p50 ${r.lateness.p50.toFixed(0)} ms p99 ${r.lateness.p99.toFixed(0)} ms max ${r.lateness.max.toFixed(0)} ms (n ${r.lateness.n}), first send ${r.firstSendS?.toFixed(1) ?? '-'} s`);
    }
  }
} finally {
  monitor.disconnect();
  monitorBase.disconnect();
  redis.disconnect();
  await server.stop();
  rmSync(server.dir, { recursive: true, force: true });
}

const fmt = (x: number, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');
const base = 'celeriac-file';
const ratio = (key: string, f: (r: Result) => number) => {
  const rs: number[] = [];
  for (let run = 1; run <= RUNS; run++) {
    const a = results.find((r) => r.contender === key && r.run === run);
    const b = results.find((r) => r.contender === base && r.run === run);
    if (a && b && f(b) > 0) rs.push(f(a) / f(b));
  }
  return median(rs);
};
const rows = contenders.map((c) => {
  const rs = results.filter((r) => r.contender === c.key);
  const m = (f: (r: Result) => number) => median(rs.map(f));
  return [
    c.label, fmt(m((r) => r.cpuPerS * 100), 2), fmt(ratio(c.key, (r) => r.cpuPerS), 2), fmt(m((r) => r.startupCpuS), 2),
    fmt(m((r) => r.rssMiB)), fmt(m((r) => r.lateness.p50), 0), fmt(m((r) => r.lateness.p99), 0), fmt(m((r) => r.lateness.max), 0),
    fmt(m((r) => r.sends), 0), fmt(m((r) => r.overdue), 0), fmt(m((r) => r.neverSent), 0),
  ];
});
const head = ['contender', 'CPU % (s/s x100)', 'CPU vs celeriac-file', 'start-up CPU s', 'RSS MiB', 'lateness p50 ms', 'p99 ms', 'max ms', 'sends', 'overdue at end', 'never sent'];
const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const line = (cells: string[]) => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
const table = [
  `Beat, ${N} interval entries (5-60 s), ${MINUTES} min each, steady window from ${WARMUP / 1000} s; median of ${RUNS} run(s); node ${process.version}`,
  '',
  line(head),
  `|${widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`,
  ...rows.map(line),
].join('\n');
console.log(`\n${table}\n`);
for (const r of results) {
  console.log(`celeriac-count: bench beat ${r.contender} run ${r.run}: cpu_per_s=${r.cpuPerS.toFixed(4)} startup_cpu_s=${r.startupCpuS.toFixed(2)} `
    + `rss_mib=${r.rssMiB.toFixed(1)} sends=${r.sends} overdue=${r.overdue} never_sent=${r.neverSent} lateness_p50_ms=${r.lateness.p50.toFixed(1)} lateness_p99_ms=${r.lateness.p99.toFixed(1)} lateness_n=${r.lateness.n}`);
}
mkdirSync(dirname(o.out), { recursive: true });
writeFileSync(o.out, JSON.stringify({ date: new Date().toISOString(), entries: N, minutes: MINUTES, warmupS: WARMUP / 1000, seed: Number(o.seed), results }, null, 2) + '\n');
writeFileSync(o.out.replace(/\.json$/, '') + '.md', table + '\n');
