/**
 * Idle memory of a worker, as a user runs it: `npm run bench:idle-rss [-- --runs 3 --idle 5]`.
 *
 * Packs the repository as a fresh clone would (prepack builds dist/), installs the tarball into a
 * scratch project outside the repository, and starts, one at a time on Redis db 13 with a queue of its
 * own, each of:
 * - the installed package's worker (dist/) with a .js app module: no TypeScript tooling loaded;
 * - the same with a .ts app module (tsx's hooks and its esbuild service loaded);
 * - the repository checkout's worker (bin/celeriac.js runs src/ through tsx) with test/helpers/worker-app.ts;
 * - a Python Celery prefork worker, `celery -A pack_peer worker -c 2` (test/python/pack_peer.py).
 * Each is measured after it logs `ready.` and then sits idle for `--idle` seconds: the RSS of the
 * main process (what `ps` shows for the worker's pid), and the RSS and PSS of its whole process tree
 * (the Python pool's children, tsx's esbuild service). `--runs` times each; the table gives medians.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { median, rssMiB, sleep, treePssMiB } from './lib.ts';
import { npmInstall, packFreshTree, show, userEnv } from '../test/package/pack-tree.ts';

const ROOT = resolve(import.meta.dirname, '..');
const PYTHON = resolve(ROOT, process.env.CELERIAC_PYTHON ?? '.venv-celery/bin/python');
const REDIS = `redis://${process.env.CELERIAC_REDIS_HOST ?? '127.0.0.1'}:${process.env.CELERIAC_REDIS_PORT ?? 6379}/13`;

const { values: opts } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    idle: { type: 'string', default: '5' },
    keep: { type: 'boolean', default: false },
  },
});
const RUNS = Number(opts.runs);
const IDLE_MS = Number(opts.idle) * 1000;

interface Case {
  name: string;
  cmd: string;
  args: (queue: string) => string[];
  cwd: string;
  env?: NodeJS.ProcessEnv;
}

interface Reading { main: number; treeRss: number; treePss: number; processes: number }

const APP = (ext: 'js' | 'ts') => `import { createApp } from 'celeriac';
export const app = createApp({ broker_url: '${REDIS}', result_backend: '${REDIS}' });
app.task('idle.add', (a${ext === 'ts' ? ': number' : ''}, b${ext === 'ts' ? ': number' : ''}) => a + b);
`;

/** Starts a worker, waits for `ready.`, lets it idle, reads its memory, stops it. */
async function measure(c: Case, run: number): Promise<Reading> {
  const queue = `idle-rss.${process.pid}.${run}.${c.name.replace(/\W+/g, '-')}`;
  const child = spawn(c.cmd, c.args(queue), { cwd: c.cwd, env: { ...userEnv(), ...c.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString('utf8')));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString('utf8')));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  try {
    const end = Date.now() + 90_000;
    while (!/ready\./.test(out)) {
      if (Date.now() > end || child.exitCode !== null) throw new Error(`${c.name}: no "ready." from the worker:\n${out.slice(-3000)}`);
      await sleep(50);
    }
    await sleep(IDLE_MS);
    const tree = treePssMiB(child.pid!);
    return { main: rssMiB(child.pid!), treeRss: tree.rss, treePss: tree.pss, processes: tree.processes };
  } finally {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    }
  }
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'celeriac-idle-rss-'));
  try {
    process.stderr.write('idle-rss: packing a fresh tree of the repository (prepack builds dist/)\n');
    const packed = await packFreshTree(ROOT, work);
    if (packed.ran.status !== 0 || !existsSync(packed.tarball)) throw new Error(`npm pack failed:\n${show(packed.ran)}`);
    const project = join(work, 'project');
    mkdirSync(project);
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'idle-rss', version: '1.0.0', private: true, type: 'module' }) + '\n');
    process.stderr.write('idle-rss: installing the tarball into a scratch project\n');
    const installed = await npmInstall(project, [packed.tarball]);
    if (installed.status !== 0) throw new Error(`npm install failed:\n${show(installed)}`);
    writeFileSync(join(project, 'tasks.js'), APP('js'));
    writeFileSync(join(project, 'tasks.ts'), APP('ts'));
    const bin = join(project, 'node_modules', '.bin', 'celeriac');
    const nodeWorker = (app: string) => (queue: string) => ['worker', '-A', app, '-Q', queue, '-n', `${queue}@%h`, '-l', 'info', '-b', REDIS, '--result-backend', REDIS];

    const cases: Case[] = [
      { name: 'installed dist/, .js app', cmd: bin, args: nodeWorker('./tasks.js'), cwd: project },
      { name: 'installed dist/, .ts app (tsx)', cmd: bin, args: nodeWorker('./tasks.ts'), cwd: project },
      { name: 'checkout src/ through tsx, .ts app', cmd: process.execPath, args: (q) => [join(ROOT, 'bin', 'celeriac.js'), ...nodeWorker('test/helpers/worker-app.ts')(q)], cwd: ROOT },
    ];
    if (existsSync(PYTHON)) {
      cases.push({
        name: 'Python prefork -c 2 (celery 5.6)',
        cmd: PYTHON,
        args: (q) => ['-m', 'celery', '-A', 'pack_peer', 'worker', '-c', '2', '-Q', q, '-n', `${q}@%h`, '-l', 'info'],
        cwd: join(ROOT, 'test', 'python'),
        env: { PACK_REDIS_URL: REDIS },
      });
    } else {
      process.stderr.write(`idle-rss: no Python at ${PYTHON} (bash .ci/setup-python.sh): the Python row is left out\n`);
    }

    const readings = new Map<string, Reading[]>();
    for (let run = 1; run <= RUNS; run++) {
      for (const c of cases) {
        const r = await measure(c, run);
        (readings.get(c.name) ?? readings.set(c.name, []).get(c.name)!).push(r);
        process.stderr.write(`idle-rss: run ${run}/${RUNS} ${c.name}: main ${r.main.toFixed(1)} MiB, tree RSS ${r.treeRss.toFixed(1)} MiB / PSS ${r.treePss.toFixed(1)} MiB (${r.processes} processes)\n`);
      }
    }

    const rows = cases.map((c) => {
      const rs = readings.get(c.name)!;
      const m = (f: (r: Reading) => number) => median(rs.map(f)).toFixed(1);
      return [c.name, m((r) => r.main), m((r) => r.treeRss), m((r) => r.treePss), String(Math.max(...rs.map((r) => r.processes))), rs.map((r) => r.main.toFixed(0)).join(' ')];
    });
    const head = ['worker', 'main RSS MiB', 'tree RSS MiB', 'tree PSS MiB', 'processes', 'main RSS per run'];
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    const line = (cells: string[]) => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
    console.log(`\nIdle worker memory, ${IDLE_MS / 1000} s after ready, median of ${RUNS} run(s), node ${process.version}\n`);
    console.log(line(head));
    console.log(`|${widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`);
    for (const r of rows) console.log(line(r));
  } finally {
    if (opts.keep) process.stderr.write(`idle-rss: kept ${work}\n`);
    else rmSync(work, { recursive: true, force: true });
  }
}

await main();
