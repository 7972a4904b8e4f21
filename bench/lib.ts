/** Helpers of the benchmark runner: child processes, polling, /proc memory and CPU readings, statistics. */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Nearest-rank percentile (p in 0..100). */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * s.length);
  return s[Math.min(s.length - 1, Math.max(0, rank - 1))]!;
}

/** Runs a command to completion; resolves with the JSON object on the last line of stdout. */
export function runJson<T>(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (err = (err + d.toString('utf8')).slice(-4000)));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 600_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const last = out.trim().split('\n').pop() ?? '';
      if (code === 0) {
        try {
          resolve(JSON.parse(last) as T);
        } catch {
          reject(new Error(`${cmd} ${args.join(' ')}: no JSON on stdout:\n${out.slice(-2000)}\n${err}`));
        }
      } else reject(new Error(`${cmd} ${args[0] ?? ''} exited ${code ?? signal}:\n${err}`));
    });
  });
}

/** A long-running child (a worker) in its own process group. */
export class Proc {
  readonly child: ChildProcess;
  readonly pid: number;
  private stderr = '';
  private stdout = '';
  private exited: Promise<void>;
  exitCode: number | null = null;

  constructor(readonly label: string, cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
    this.child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    if (this.child.pid === undefined) throw new Error(`could not start ${label}`);
    this.pid = this.child.pid;
    this.child.stdout!.on('data', (d: Buffer) => (this.stdout = (this.stdout + d.toString('utf8')).slice(-4000)));
    this.child.stderr!.on('data', (d: Buffer) => (this.stderr = (this.stderr + d.toString('utf8')).slice(-4000)));
    this.exited = new Promise((resolve) => this.child.on('exit', (code) => {
      this.exitCode = code ?? -1;
      resolve();
    }));
  }

  get alive(): boolean {
    return this.exitCode === null;
  }

  /** Resolves when stdout contains `marker`; rejects if the process exits first or on timeout. */
  async waitFor(marker: string, timeoutMs = 60_000): Promise<string> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      if (this.stdout.includes(marker)) return this.stdout;
      if (!this.alive) throw new Error(`${this.label} exited (${this.exitCode}) before "${marker}":\n${this.stderr}`);
      await sleep(20);
    }
    throw new Error(`${this.label}: no "${marker}" after ${timeoutMs} ms:\n${this.stderr}`);
  }

  assertAlive(): void {
    if (!this.alive) throw new Error(`${this.label} exited (${this.exitCode}):\n${this.stderr}`);
  }

  /** SIGTERM (warm shutdown), then SIGKILL to its process group after `graceMs`. */
  async stop(graceMs = 15_000): Promise<void> {
    if (this.alive) {
      try {
        process.kill(this.pid, 'SIGTERM');
      } catch {
        // already gone
      }
      await Promise.race([this.exited, sleep(graceMs)]);
    }
    try {
      process.kill(-this.pid, 'SIGKILL'); // the group: prefork children, helpers
    } catch {
      // group already gone
    }
    await Promise.race([this.exited, sleep(2000)]);
  }

  get errors(): string {
    return this.stderr;
  }
}

/** Polls `check` every `intervalMs` until it returns true; throws after `timeoutMs`. */
export async function pollUntil(check: () => Promise<boolean>, intervalMs: number, timeoutMs: number, what: string, alive?: () => void): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    alive?.();
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

// ---- memory (Linux /proc) ----------------------------------------------------------------------

function readKb(path: string, field: string): number {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(path, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** VmRSS of one process, in MiB. */
export function rssMiB(pid: number): number {
  return readKb(`/proc/${pid}/status`, 'VmRSS') / 1024;
}

/** User and system CPU time of a process so far, in ms (fields 14 and 15 of /proc/<pid>/stat, clock ticks of 10 ms). */
export function cpuTimes(pid: number): { user: number; sys: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: Number(f[11]) * 10, sys: Number(f[12]) * 10 };
}

/** User + system CPU time of a process so far, in ms. */
export function cpuMs(pid: number): number {
  const t = cpuTimes(pid);
  return t.user + t.sys;
}

/** The oldest visible process whose command name starts with `name` (redis-server, beam.smp), or null. */
export function pidByName(name: string): number | null {
  let found: number | null = null;
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/comm`, 'utf8').startsWith(name) && (found === null || Number(d) < found)) found = Number(d);
    } catch {
      // exited meanwhile
    }
  }
  return found;
}

/** `pid` and all its descendants. */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(name));
      children.set(ppid, list);
    } catch {
      // exited meanwhile
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    out.push(p);
    for (const c of children.get(p) ?? []) walk(c);
  };
  walk(pid);
  return out;
}

/** Sum of PSS (proportional set size: shared pages split between sharers) over the tree, MiB. */
export function treePssMiB(pid: number): { pss: number; rss: number; processes: number } {
  const pids = processTree(pid);
  let pss = 0;
  let rss = 0;
  for (const p of pids) {
    pss += readKb(`/proc/${p}/smaps_rollup`, 'Pss');
    rss += readKb(`/proc/${p}/status`, 'VmRSS');
  }
  return { pss: pss / 1024, rss: rss / 1024, processes: pids.length };
}
