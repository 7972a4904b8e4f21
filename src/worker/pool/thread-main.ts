/**
 * A slot of the `threads` pool: the code a `node:worker_threads` Worker runs (src/worker/pool/threads.ts
 * starts it). Like a Celery prefork child it imports the app module itself (`-A`, TypeScript included,
 * through src/cli/load-app.ts) and runs the task functions registered there; the main thread keeps the
 * broker, acks, results, events and remote control.
 *
 * Messages (main → slot): `run` a call, `reply` to a call the task made. (slot → main): `ready` once the
 * app is loaded (`init-error` if it cannot be), `done` with the return value or the error, `limit` when
 * the soft time limit fired here, `call` for what a task asks of the worker: `self.retry`,
 * `self.updateState`, `self.replace` (run on the main thread with the task's own request, so RETRY is
 * stored and the retry published as the async pool does).
 *
 * Soft time limits fire here, as in a Celery child (SoftTimeLimitExceeded raised in the task, its
 * `self.signal` aborted); the hard one is the main thread's: it terminates this thread.
 */
import { parentPort, threadId, workerData } from 'node:worker_threads';
import { getHeapStatistics } from 'node:v8';
import type { PyDict, PyValue } from '../../../protocol/values.ts';
import type { SignatureDict } from '../../../protocol/types.ts';
import type { Celery } from '../../app.ts';
import { loadApp } from '../../cli/load-app.ts';
import { runInTaskContext } from '../../producer.ts';
import { Context } from '../request.ts';
import { withAutoretry } from '../retry.ts';
import { BoundTask, resolveTask, type RetryOptions, type TaskRuntime, type TaskSelfHost } from '../task.ts';
import { runWithTimeLimits } from '../timelimit.ts';
import { callTask } from '../trace.ts';
import { decodeError, decodeValue, encodeError, encodeValue, type TransferredError } from './transfer.ts';

export interface SlotData {
  appSpec: string;
  cwd: string;
}

export type ToSlot =
  | { type: 'run'; job: number; task: string; ctx: unknown; args: unknown; kwargs: unknown; soft: number | null }
  | { type: 'reply'; call: number; ok: true; value: unknown }
  | { type: 'reply'; call: number; ok: false; error: TransferredError; token: number };

export type FromSlot =
  | { type: 'ready'; threadId: number }
  | { type: 'init-error'; error: TransferredError; message: string }
  | { type: 'done'; job: number; ok: true; value: unknown; children: unknown; heapKiB: number }
  | { type: 'done'; job: number; ok: false; error: TransferredError; token: number | null; children: unknown; heapKiB: number }
  | { type: 'limit'; job: number; kind: 'soft'; seconds: number }
  | { type: 'call'; job: number; call: number; method: 'retry' | 'updateState' | 'replace'; args: unknown[] };

/** Set on an error the main thread handed back: the main thread's own object stands for it if the task rethrows it. */
const TOKEN = Symbol('celeriac.pool.token');

/** To the main thread (a worker thread's port), or to the parent process (a `processes` slot's IPC channel). */
const port = parentPort
  ? { post: (m: FromSlot) => parentPort!.postMessage(m), on: (f: (m: ToSlot) => void) => void parentPort!.on('message', f), data: workerData as SlotData }
  : { post: (m: FromSlot) => void process.send!(m), on: (f: (m: ToSlot) => void) => void process.on('message', f), data: JSON.parse(process.env.CELERIAC_POOL_SLOT ?? '{}') as SlotData };
const post = port.post;
const pending = new Map<number, { resolve(v: unknown): void; reject(e: unknown): void }>();
let calls = 0;

function rpc(job: number, method: 'retry' | 'updateState' | 'replace', args: unknown[]): Promise<unknown> {
  const call = ++calls;
  return new Promise((resolve, reject) => {
    pending.set(call, { resolve, reject });
    post({ type: 'call', job, call, method, args });
  });
}

/** `self` in a slot: what needs the worker goes to the main thread. */
class SlotTask extends BoundTask {
  constructor(runtime: TaskRuntime, ctx: Context, host: TaskSelfHost, private readonly job: number) {
    super(runtime, ctx, host);
  }
  override retry(options: RetryOptions = {}): Promise<never | Error> {
    const o: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(options)) o[k] = k === 'exc' && v instanceof Error ? { error: encodeErrorWithToken(v) } : encodeValue(v);
    return rpc(this.job, 'retry', [o]) as Promise<never | Error>;
  }
  override replace(sig: SignatureDict): Promise<never> {
    return rpc(this.job, 'replace', [encodeValue(sig)]) as Promise<never>;
  }
  override async updateState(state: string, meta: PyValue = null, taskId?: string): Promise<void> {
    await rpc(this.job, 'updateState', [state, encodeValue(meta), taskId ?? null]);
  }
}

function encodeErrorWithToken(err: unknown): { e: TransferredError; token: number | null } {
  const token = err !== null && typeof err === 'object' ? (err as { [TOKEN]?: number })[TOKEN] : undefined;
  return { e: encodeError(err), token: token ?? null };
}

async function main(): Promise<void> {
  const data = port.data;
  let app: Celery;
  try {
    app = await loadApp(data.appSpec, data.cwd);
  } catch (err) {
    post({ type: 'init-error', error: encodeError(err), message: (err as Error)?.message ?? String(err) });
    return;
  }
  const runtimes = new Map<string, TaskRuntime>();
  const runtimeFor = (name: string): TaskRuntime => {
    let rt = runtimes.get(name);
    if (!rt) {
      const t = app.tasks.get(name);
      if (!t) throw new Error(`task ${name} is not registered in ${data.appSpec} as loaded in a pool thread`);
      runtimes.set(name, (rt = resolveTask(app, t)));
    }
    return rt;
  };
  const host: TaskSelfHost = { app, backend: null, resultExtended: app.conf.resultExtended, retry: (self, o) => self.retry(o) };
  // code a task left running (after its soft limit) must not end the slot with an unhandled rejection
  process.on('unhandledRejection', () => undefined);

  port.on((m: ToSlot) => {
    if (m.type === 'reply') {
      const p = pending.get(m.call);
      if (!p) return;
      pending.delete(m.call);
      if (m.ok) p.resolve(decodeValue(m.value));
      else {
        const err = decodeError(m.error);
        Object.defineProperty(err, TOKEN, { value: m.token });
        p.reject(err);
      }
      return;
    }
    void run(m);
  });

  async function run(m: Extract<ToSlot, { type: 'run' }>): Promise<void> {
    const ctx = Object.assign(Object.create(Context.prototype) as Context, decodeValue(m.ctx));
    ctx.children = [];
    const args = decodeValue(m.args) as PyValue[];
    const kwargs = decodeValue(m.kwargs) as PyDict;
    let out: FromSlot;
    try {
      const runtime = runtimeFor(m.task);
      const self = new SlotTask(runtime, ctx, host, m.job);
      const rootId = ctx.root_id || ctx.id;
      const call = () => runInTaskContext({ id: ctx.id, root_id: rootId, delivery_info: { priority: ctx.delivery_info.priority }, children: ctx.children }, () =>
        runWithTimeLimits(() => callTask(runtime, self, args, kwargs), { soft: m.soft, hard: null }, () => self.abortController,
          (kind, seconds) => post({ type: 'limit', job: m.job, kind: 'soft', seconds })));
      const value = await withAutoretry(self, runtime, call);
      out = { type: 'done', job: m.job, ok: true, value: encodeValue(value), children: encodeValue(ctx.children), heapKiB: heapKiB() };
    } catch (err) {
      const { e, token } = encodeErrorWithToken(err);
      out = { type: 'done', job: m.job, ok: false, error: e, token, children: encodeValue(ctx.children), heapKiB: heapKiB() };
    }
    try {
      post(out);
    } catch (err) {
      // a return value structured clone cannot copy (a function, a class instance with private state)
      post({ type: 'done', job: m.job, ok: false, error: encodeError(err), token: null, children: [], heapKiB: heapKiB() });
    }
  }

  // a processes slot whose parent is gone ends (its IPC channel closed)
  if (!parentPort) process.on('disconnect', () => process.exit(0));
  post({ type: 'ready', threadId: parentPort ? threadId : process.pid });
}

/** What worker_max_memory_per_child compares: a thread's V8 heap; a process's resident size (as Celery's). */
function heapKiB(): number {
  return Math.round((parentPort ? getHeapStatistics().used_heap_size : process.memoryUsage().rss) / 1024);
}

void main();
