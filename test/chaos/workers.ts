/**
 * Workers under fault, as child processes: a celeriac worker (`bin/celeriac.js worker -A
 * test/chaos/chaos-app.ts`) or a Python Celery worker (`python -m celery -A chaos_tasks worker -P
 * threads`, test/python/chaos_tasks.py), started the same way so the harness can put either through the
 * same faults: SIGKILL, SIGSTOP/SIGCONT, SIGTERM (warm shutdown), and the peak RSS (`VmHWM` in
 * /proc/<pid>/status: the most resident memory the process ever had, read before it exits).
 *
 * Both log at WARNING (refusals are ERROR lines; no per-task lines for 100,000 tasks). celeriac prints
 * `<name> ready.` at that level; Celery logs it at INFO, so chaos_tasks.py prints `CHAOS-READY` from
 * its worker_ready signal.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { PYTHON } from '../helpers/peers.ts';

export type Impl = 'ts' | 'py';

export interface WorkerSpec {
  impl: Impl;
  brokerUrl: string;
  queue: string;
  /** The counter hash (test/chaos/counts.ts). */
  key: string;
  counterUrl: string;
  concurrency: number;
  prefetchMultiplier: number;
  /** Redis visibility_timeout, seconds. */
  visibility?: number;
  /** AMQP broker_heartbeat, seconds. */
  heartbeat?: number;
  name: string;
}

export interface ChaosWorker {
  readonly impl: Impl;
  readonly pid: number;
  readonly child: ChildProcess;
  log(): string;
  readonly exited: Promise<void>;
  kill9(): Promise<void>;
  /** SIGTERM (warm shutdown), SIGKILL after `ms`. */
  stop(ms?: number): Promise<void>;
  signal(sig: NodeJS.Signals): void;
  /** Peak resident memory so far, in KiB (VmHWM), or null once it has exited. */
  peakRssKb(): number | null;
}

const live = new Set<ChildProcess>();

/** SIGKILLs every worker still running (for `after`). */
export function killAllWorkers(): void {
  for (const c of live) if (c.exitCode === null && c.signalCode === null) {
    c.kill('SIGCONT');
    c.kill('SIGKILL');
  }
  live.clear();
}

function statusField(pid: number, field: string): number | null {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** Starts a worker and resolves once it is ready to consume. */
export async function startWorker(spec: WorkerSpec, timeoutMs = 60_000): Promise<ChaosWorker> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    CHAOS_BROKER: spec.brokerUrl,
    CHAOS_COUNTER: spec.counterUrl,
    CHAOS_KEY: spec.key,
    CHAOS_QUEUE: spec.queue,
    ...(spec.visibility !== undefined ? { CHAOS_VISIBILITY: String(spec.visibility) } : {}),
    ...(spec.heartbeat !== undefined ? { CHAOS_HEARTBEAT: String(spec.heartbeat) } : {}),
  };
  const common = ['-Q', spec.queue, '-c', String(spec.concurrency), '--prefetch-multiplier', String(spec.prefetchMultiplier),
    '-n', `${spec.name}@%h`, '-l', 'warning', '--without-mingle', '--without-gossip', '--without-heartbeat'];
  const child = spec.impl === 'ts'
    ? spawn(process.execPath, ['bin/celeriac.js', 'worker', '-A', 'test/chaos/chaos-app.ts', ...common], { env, stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(resolve(PYTHON), ['-m', 'celery', '-A', 'chaos_tasks', 'worker', '-P', 'threads', ...common],
      { cwd: 'test/python', env, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  let log = '';
  child.on('error', (err) => (log += `spawn failed: ${err.message}\n`));
  child.stdout!.on('data', (d: Buffer) => (log += d.toString('utf8')));
  child.stderr!.on('data', (d: Buffer) => (log += d.toString('utf8')));
  const exited = new Promise<void>((r) => child.once('exit', () => {
    live.delete(child);
    r();
  }));
  const gone = () => child.exitCode !== null || child.signalCode !== null;
  const end = Date.now() + timeoutMs;
  while (!/ ready\.|CHAOS-READY/.test(log)) {
    if (gone() || Date.now() > end) {
      child.kill('SIGKILL');
      throw new Error(`${spec.impl} worker did not start:\n${log.slice(-3000)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const pid = child.pid!;
  return {
    impl: spec.impl,
    pid,
    child,
    log: () => log,
    exited,
    async kill9() {
      if (gone()) return;
      child.kill('SIGKILL');
      await exited;
    },
    async stop(ms = 20_000) {
      if (gone()) return;
      child.kill('SIGCONT');
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), ms);
      await exited;
      clearTimeout(timer);
    },
    signal: (sig) => void child.kill(sig),
    peakRssKb: () => statusField(pid, 'VmHWM'),
  };
}
