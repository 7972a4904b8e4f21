/**
 * The `threads` and `processes` pools (`-P threads`; `-P processes`, Celery's `prefork` maps there):
 * each slot a `node:worker_threads` Worker, or a child process (isolation, native code that is not
 * thread-safe, a crash that cannot take the worker down), running src/worker/pool/thread-main.ts,
 * which imports the app module (`-A`) itself, as a prefork child imports the app, and runs the task
 * functions there. CPU-bound tasks run in parallel, one per slot; the main thread's event loop stays
 * free for the broker, acks, results, events and remote control. Both speak the same messages (structured
 * clone: a thread's port, a child's `serialization: 'advanced'` IPC channel).
 *
 * What Celery's prefork pool does with its children, done here with threads:
 * - hard time limit: the slot is terminated (`Worker.terminate()` stops running JavaScript; a child gets SIGKILL) and the
 *   call fails with `TimeLimitExceeded(limit)`; a new slot replaces it (billiard's `_on_hard_timeout`
 *   kills the child, the pool's maintenance starts another). Soft limits fire inside the slot.
 * - `terminate(task, signum)` (`revoke(terminate=True)`, `control terminate`): the slot running the
 *   task is terminated (a child gets the signal asked for), the call fails with billiard's `Terminated(signum)` and the worker records
 *   REVOKED, as Celery's `Request.terminate`.
 * - a slot that dies on its own (`process.exit` in a task, an uncaught error, out of memory): the call
 *   fails with `WorkerLostError('Worker exited prematurely: exitcode N Job: J.')` (a child killed by a
 *   signal: `signal 9 (SIGKILL)`, billiard's wording).
 * - `worker_max_tasks_per_child`: a slot is replaced after that many tasks; `worker_max_memory_per_child`
 *   (KiB): after a task that leaves the slot above it: a child's resident size (as Celery's), a thread's
 *   V8 heap (a thread has no resident size of its own).
 *
 * Libraries: piscina 5, tinypool 2 and workerpool 10 pool threads well, but none lets a task running in a
 * thread call back into the main thread and wait for the answer (self.retry, updateState, replace), nor
 * says which thread runs which task (terminate one task, report the slot's thread id), nor recycles a
 * thread after N tasks; each is a few lines on node:worker_threads, so this pool uses Node's own modules
 * (workerpool also has child processes, with the same gaps).
 */
import { Worker as Thread } from 'node:worker_threads';
import { spawn as spawnProcess } from 'node:child_process';
import { constants as osConstants } from 'node:os';
import { Terminated, TimeLimitExceeded, WorkerLostError } from '../../../protocol/exceptions.ts';
import type { PyDict } from '../../../protocol/values.ts';
import type { WorkerLogger } from '../log.ts';
import type { PoolJob, TaskPool } from './pool.ts';
import type { FromSlot, SlotData, ToSlot } from './thread-main.ts';
import { decodeError, decodeValue, encodeError, encodeValue } from './transfer.ts';

export interface ThreadPoolOptions {
  /** `threads` (worker_threads, default) or `processes` (child processes: isolation, native code that is not thread-safe). */
  kind?: 'threads' | 'processes';
  /** The app module as `-A` names it; each slot imports it. */
  appSpec: string;
  /** Where `appSpec` is resolved from. @default process.cwd() */
  cwd?: string;
  size: number;
  /** `worker_max_tasks_per_child`: replace a slot after this many tasks (null: never). */
  maxTasksPerChild?: number | null;
  /** `worker_max_memory_per_child` in KiB: replace a slot whose heap is above it after a task (null: never). */
  maxMemoryPerChild?: number | null;
  logger: WorkerLogger;
}

interface Entry {
  id: number;
  job: PoolJob;
  resolve(v: unknown): void;
  reject(e: unknown): void;
  /** Main-thread objects a task got back as errors (retry's Retry, replace's Ignore), by token. */
  tokens: Map<number, unknown>;
  timer?: NodeJS.Timeout;
}

/** A slot's thread or child process, as the pool drives it. */
interface Handle {
  postMessage(m: ToSlot): void;
  /** Stop it (a thread is terminated, a process gets `signum`, SIGKILL by default). */
  terminate(signum?: number): unknown;
}

interface Slot {
  thread: Handle;
  threadId: number;
  ready: Promise<void>;
  up: boolean;
  current: Entry | null;
  tasks: number;
  /** Why the main thread terminated it (hard limit, terminate): what the running call fails with. */
  killedWith: Error | null;
  /** Replace it when its task is done (max tasks / memory), or drop it (shrink). */
  retire: boolean;
  exited: boolean;
}

/** The slot entry file: compiled JavaScript next to this file, or TypeScript in a checkout (through tsx). */
function entryOf(): { entry: string; tsx: string | null } {
  const self = import.meta.url;
  if (self.endsWith('.ts')) return { entry: new URL('./thread-main.ts', self).href, tsx: import.meta.resolve('tsx/esm/api') };
  return { entry: new URL('./thread-main.js', self).href, tsx: null };
}

// a worker thread does not inherit the main thread's module hooks: a checkout's TypeScript entry needs tsx there too
const BOOT = `
const { workerData } = require('node:worker_threads');
(async () => {
  if (workerData.__tsx) {
    const { register } = await import(workerData.__tsx);
    register();
    const mark = Symbol.for('celeriac.tsx');
    globalThis[mark] = { ...globalThis[mark], esm: true };
  }
  await import(workerData.__entry);
})().catch((err) => { process.nextTick(() => { throw err; }); });
`;

// a processes slot: the same entry, in a fresh node with an IPC channel (structured clone, as threads)
const BOOT_PROCESS = `
const d = JSON.parse(process.env.CELERIAC_POOL_SLOT);
if (d.__tsx) {
  const { register } = await import(d.__tsx);
  register();
  const mark = Symbol.for('celeriac.tsx');
  globalThis[mark] = { ...globalThis[mark], esm: true };
}
await import(d.__entry);
`;

export class ThreadPool implements TaskPool {
  readonly name: 'threads' | 'processes';
  private readonly slots = new Set<Slot>();
  private readonly queue: Entry[] = [];
  private target: number;
  private jobs = 0;
  private stopped = false;
  private readonly boot = entryOf();

  constructor(private readonly o: ThreadPoolOptions) {
    this.target = o.size;
    this.name = o.kind ?? 'threads';
  }

  get size(): number {
    return this.target;
  }

  /** Thread ids of the slots (what `inspect stats` lists as the pool's `processes`). */
  get threadIds(): number[] {
    return [...this.slots].map((s) => s.threadId);
  }

  async start(): Promise<void> {
    const started: Slot[] = [];
    for (let i = 0; i < this.target; i++) started.push(this.spawn());
    await Promise.all(started.map((s) => s.ready));
  }

  private spawn(): Slot {
    const data: SlotData & { __entry: string; __tsx: string | null } = { appSpec: this.o.appSpec, cwd: this.o.cwd ?? process.cwd(), __entry: this.boot.entry, __tsx: this.boot.tsx };
    const { handle: thread, id, events } = this.name === 'processes' ? this.spawnProcess(data) : this.spawnThread(data);
    const slot: Slot = { thread, threadId: id, ready: undefined as unknown as Promise<void>, up: false, current: null, tasks: 0, killedWith: null, retire: false, exited: false };
    this.slots.add(slot);
    let lastError: unknown = null;
    slot.ready = new Promise<void>((resolve, reject) => {
      events.on('message', (m: FromSlot) => {
        if (m.type === 'ready') {
          slot.up = true;
          resolve();
          this.dispatch();
        } else if (m.type === 'init-error') {
          reject(new Error(`a pool thread could not load the app ${this.o.appSpec}: ${m.message}`));
        } else this.onMessage(slot, m);
      });
      events.on('error', (err: Error) => {
        lastError = err;
        if (!slot.up) reject(err);
      });
      events.on('exit', (code: number | null, signal?: NodeJS.Signals | null) => {
        slot.exited = true;
        this.slots.delete(slot);
        if (!slot.up) reject(new Error(`a pool thread exited (code ${code}) before it was ready`));
        const entry = slot.current;
        slot.current = null;
        if (entry) {
          clearTimeout(entry.timer);
          if (slot.killedWith) entry.reject(slot.killedWith);
          else {
            if (lastError) this.o.logger.error(`pool thread ${slot.threadId} died: ${(lastError as Error)?.stack ?? String(lastError)}`);
            // billiard's human_status: "exitcode 3", "signal 9 (SIGKILL)"
            const status = signal ? `signal ${osConstants.signals[signal] ?? ''} (${signal})` : `exitcode ${code}`;
            entry.reject(new WorkerLostError([`Worker exited prematurely: ${status} Job: ${entry.id}.`]));
          }
        }
        this.maintain();
      });
    });
    slot.ready.catch(() => undefined);
    return slot;
  }

  private spawnThread(data: object): { handle: Handle; id: number; events: NodeJS.EventEmitter } {
    const thread = new Thread(BOOT, { eval: true, workerData: data });
    thread.unref();
    return { handle: { postMessage: (m) => thread.postMessage(m), terminate: () => thread.terminate() }, id: thread.threadId, events: thread };
  }

  private spawnProcess(data: object): { handle: Handle; id: number; events: NodeJS.EventEmitter } {
    const child = spawnProcess(process.execPath, ['--input-type=module', '-e', BOOT_PROCESS], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'advanced', env: { ...process.env, CELERIAC_POOL_SLOT: JSON.stringify(data) },
    });
    child.unref();
    (child.channel as { unref?(): void } | undefined)?.unref?.();
    const handle: Handle = {
      postMessage: (m) => {
        if (child.connected) child.send(m);
      },
      terminate: (signum?: number) => child.kill(signum ?? 'SIGKILL'),
    };
    // the channel keeps no hold on the worker while the child idles, but must while a call runs: ref'd per call below
    return { handle, id: child.pid ?? 0, events: child };
  }

  /** Back to `target` live slots (billiard's `maintain_pool`), then hand out waiting calls. */
  private maintain(): void {
    if (this.stopped) return;
    let live = [...this.slots].filter((s) => !s.retire).length;
    while (live < this.target) {
      const s = this.spawn();
      s.ready.catch((err: Error) => this.o.logger.error(err.message));
      live++;
    }
    this.dispatch();
  }

  run(job: PoolJob): Promise<unknown> {
    if (this.stopped) return Promise.reject(new Error('the pool is stopped'));
    return new Promise((resolve, reject) => {
      this.queue.push({ id: ++this.jobs, job, resolve, reject, tokens: new Map() });
      this.dispatch();
    });
  }

  private dispatch(): void {
    for (const slot of this.slots) {
      if (this.queue.length === 0) return;
      if (!slot.up || slot.current || slot.retire || slot.exited) continue;
      this.assign(slot, this.queue.shift()!);
    }
  }

  private assign(slot: Slot, entry: Entry): void {
    slot.current = entry;
    const { job } = entry;
    const ctx = job.self.request;
    const msg: ToSlot = {
      type: 'run', job: entry.id, task: job.runtime.name,
      ctx: encodeValue({ ...ctx, children: [] }), args: encodeValue(job.args), kwargs: encodeValue(job.kwargs),
      soft: job.limits.soft !== null && (job.limits.hard === null || job.limits.soft < job.limits.hard) ? job.limits.soft : null,
    };
    const hard = job.limits.hard;
    if (hard !== null) {
      entry.timer = setTimeout(() => {
        job.onLimit('hard', hard);
        this.kill(slot, new TimeLimitExceeded([hard]));
      }, hard * 1000);
    }
    try {
      slot.thread.postMessage(msg);
    } catch (err) {
      // arguments structured clone cannot copy: fail the call, keep the slot
      clearTimeout(entry.timer);
      slot.current = null;
      entry.reject(err);
      this.dispatch();
    }
  }

  private kill(slot: Slot, reason: Error, signum?: number): void {
    if (slot.exited) return;
    slot.killedWith = reason;
    slot.retire = true;
    void slot.thread.terminate(signum);
  }

  private onMessage(slot: Slot, m: FromSlot): void {
    const entry = slot.current;
    if (!entry || !('job' in m) || m.job !== entry.id) return;
    if (m.type === 'limit') {
      entry.job.onLimit(m.kind, m.seconds);
    } else if (m.type === 'call') {
      void this.call(slot, entry, m);
    } else if (m.type === 'done') {
      clearTimeout(entry.timer);
      slot.current = null;
      slot.tasks++;
      const children = decodeValue(m.children);
      if (Array.isArray(children)) entry.job.self.request.children.push(...(children as never[]));
      if (m.ok) entry.resolve(decodeValue(m.value));
      else entry.reject(m.token !== null && entry.tokens.has(m.token) ? entry.tokens.get(m.token) : decodeError(m.error));
      const { maxTasksPerChild, maxMemoryPerChild } = this.o;
      if (maxTasksPerChild && slot.tasks >= maxTasksPerChild) {
        this.o.logger.info(`pool thread ${slot.threadId} did ${slot.tasks} task(s) (worker_max_tasks_per_child): replaced`);
        this.retire(slot);
      } else if (maxMemoryPerChild && m.heapKiB > maxMemoryPerChild) {
        this.o.logger.warning(`pool thread ${slot.threadId} heap ${m.heapKiB} KiB above worker_max_memory_per_child (${maxMemoryPerChild} KiB): replaced`);
        this.retire(slot);
      } else if (this.liveCount() > this.target) {
        this.retire(slot);
      } else this.dispatch();
    }
  }

  private liveCount(): number {
    return [...this.slots].filter((s) => !s.retire && !s.exited).length;
  }

  /** An idle slot goes away (its exit handler starts a replacement if the pool is short). */
  private retire(slot: Slot): void {
    slot.retire = true;
    void slot.thread.terminate();
    this.dispatch();
  }

  /** A task's `self.retry` / `updateState` / `replace`, on the main thread with its own request. */
  private async call(slot: Slot, entry: Entry, m: Extract<FromSlot, { type: 'call' }>): Promise<void> {
    const self = entry.job.self;
    let reply: ToSlot;
    try {
      let value: unknown;
      if (m.method === 'retry') {
        const raw = m.args[0] as Record<string, unknown>;
        const o: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(raw)) {
          const wrapped = k === 'exc' && v && typeof v === 'object' && 'error' in v ? (v as { error: { e: Parameters<typeof decodeError>[0]; token: number | null } }).error : null;
          o[k] = wrapped ? (wrapped.token !== null && entry.tokens.has(wrapped.token) ? entry.tokens.get(wrapped.token) : decodeError(wrapped.e)) : decodeValue(v);
        }
        value = await self.retry(o);
        if (value instanceof Error) {
          // throw: false hands the Retry back: a token, so a task that throws it rethrows this very object
          const token = entry.tokens.size + 1;
          entry.tokens.set(token, value);
          reply = { type: 'reply', call: m.call, ok: false, error: encodeError(value), token };
          if (!slot.exited) slot.thread.postMessage(reply);
          return;
        }
      } else if (m.method === 'updateState') {
        const [state, meta, taskId] = m.args as [string, unknown, string | null];
        value = await self.updateState(state, decodeValue(meta) as never, taskId ?? undefined);
      } else {
        value = await self.replace(decodeValue(m.args[0]) as never);
      }
      reply = { type: 'reply', call: m.call, ok: true, value: encodeValue(value ?? null) };
    } catch (err) {
      const token = entry.tokens.size + 1;
      entry.tokens.set(token, err);
      reply = { type: 'reply', call: m.call, ok: false, error: encodeError(err), token };
    }
    if (!slot.exited && slot.current === entry) slot.thread.postMessage(reply);
  }

  terminate(taskId: string, signum: number): boolean {
    for (const slot of this.slots) {
      if (slot.current?.job.self.request.id === taskId) {
        this.kill(slot, new Terminated([signum]), signum);
        return true;
      }
    }
    return false;
  }

  resize(size: number): void {
    this.target = Math.max(1, size);
    let live = this.liveCount();
    for (const slot of this.slots) {
      if (live <= this.target) break;
      if (!slot.current && !slot.retire && !slot.exited) {
        this.retire(slot);
        live--;
      }
    }
    this.maintain();
  }

  info(): PyDict {
    return {
      'max-concurrency': this.target,
      processes: this.threadIds,
      'max-tasks-per-child': this.o.maxTasksPerChild ?? 'N/A',
      'put-guarded-by-semaphore': false,
      implementation: this.name === 'processes' ? 'celeriac.worker:ProcessPool' : 'celeriac.worker:ThreadPool',
    };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const e of this.queue.splice(0)) e.reject(new Error('the pool stopped'));
    await Promise.allSettled([...this.slots].map((s) => s.thread.terminate()));
  }
}
