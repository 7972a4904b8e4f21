/**
 * `celery.result.AsyncResult` and `GroupResult`, in camelCase, over a {@link ResultBackend}.
 *
 * Everything that reads the backend is async: `await r.state()`, `await r.ready()`, `await r.result()`.
 * Like Celery, a READY record (SUCCESS, FAILURE, REVOKED) is cached on the instance once read, so
 * later calls do not go back to Redis; unready states are always re-read.
 *
 * `AsyncResult` deliberately has no `then` method: `await someAsyncResult` yields the object itself,
 * never the task's value by accident. Use `await r.get()`.
 */
import type { ResultBackend, WaitOptions } from './backend.ts';
import { CeleriacError } from '../protocol/errors.ts';
import type { PythonError } from '../protocol/exceptions.ts';
import {
  asTuple,
  fromTuple,
  groupAsTuple,
  resultValue,
  type ResultMeta,
  type ResultRef,
  type ResultTuple,
} from '../protocol/result.ts';
import { FAILURE, PROPAGATE_STATES, READY_STATES, SUCCESS } from '../protocol/states.ts';
import type { PyValue } from '../protocol/values.ts';

/** What `revoke()` needs: the remote-control side of an app (wired by the app/control module). */
export interface RevokeControl {
  revoke(taskIds: string | string[], options?: { terminate?: boolean; signal?: string }): Promise<unknown>;
}

export interface AsyncResultOptions {
  /** Enables `revoke()`. */
  control?: RevokeControl | null;
  /** The previous step of a chain; `get()` re-throws its failure first (Celery's `follow_parents`). */
  parent?: AsyncResult | GroupResult | null;
}

export interface GetOptions extends WaitOptions {
  /** Throw the task's error for FAILURE/REVOKED (default true); false returns the error as the value. */
  propagate?: boolean;
  /**
   * Accepted for Celery compatibility and ignored: the Redis backend is woken by PUBLISH, it never polls.
   */
  interval?: number;
  /**
   * Refuse to wait from inside a running task (default true), Celery's `assert_will_not_block`. The
   * worker tells celeriac it is running a task through {@link setTaskContextProbe}.
   */
  disableSyncSubtasks?: boolean;
  /** Re-throw a parent's failure before waiting (default true; only with `propagate`). */
  followParents?: boolean;
}

const E_WOULDBLOCK =
  'Never call result.get() within a task! See https://docs.celeryq.dev/en/latest/userguide/tasks.html#avoid-launching-synchronous-subtasks ' +
  '(pass disableSyncSubtasks: false to wait anyway)';

/** Thrown by `get()` inside a task (Celery raises `RuntimeError(E_WOULDBLOCK)`). */
export class SyncSubtaskError extends CeleriacError {
  override name = 'SyncSubtaskError';
  override readonly code = 'EWOULDBLOCK';
}

/**
 * `collect()` / `iterdeps()` reached a result that is not ready while `intermediate` is false
 * (Celery's `celery.exceptions.IncompleteStream`).
 */
export class IncompleteStream extends CeleriacError {
  override name = 'IncompleteStream';
  override readonly code = 'EINCOMPLETE';
}

let taskContextProbe: () => boolean = () => false;

/** The worker installs a probe that returns true while a task body is running (`task_join_will_block`). */
export function setTaskContextProbe(probe: () => boolean): void {
  taskContextProbe = probe;
}

type AnyResult = AsyncResult | GroupResult;

/** `result_from_tuple` with a backend: an {@link AsyncResult} or a {@link GroupResult}. */
export function resultFromTuple(
  value: PyValue | ResultTuple | ResultRef,
  backend: ResultBackend,
  control?: RevokeControl | null,
): AnyResult {
  const ref: ResultRef = Array.isArray(value) ? fromTuple(value as PyValue) : (value as ResultRef);
  const parent = ref.parent ? resultFromTuple(ref.parent, backend, control) : null;
  if (ref.kind === 'group') {
    return new GroupResult(
      ref.id,
      ref.results.map((r) => resultFromTuple(r, backend, control)),
      backend,
      { control: control ?? null, parent },
    );
  }
  return new AsyncResult(ref.id, backend, { control: control ?? null, parent });
}

export class AsyncResult<T = unknown> {
  readonly id: string;
  readonly backend: ResultBackend;
  readonly parent: AnyResult | null;
  private readonly control: RevokeControl | null;
  private cache: ResultMeta | null = null;

  constructor(id: string, backend: ResultBackend, options: AsyncResultOptions = {}) {
    if (typeof id !== 'string' || id === '') throw new CeleriacError('AsyncResult needs a task id');
    this.id = id;
    this.backend = backend;
    this.parent = options.parent ?? null;
    this.control = options.control ?? null;
  }

  /** Celery's `task_id` alias. */
  get taskId(): string {
    return this.id;
  }

  /**
   * Waits for the task and returns its value. For FAILURE/REVOKED throws the typed
   * {@link PythonError} (with `traceback`) unless `propagate: false`, which returns it instead.
   * Throws `ResultTimeoutError` after `timeout` seconds, and the signal's reason when aborted.
   */
  get(options: GetOptions & { propagate: false }): Promise<T | PythonError>;
  get(options?: GetOptions): Promise<T>;
  async get(options: GetOptions = {}): Promise<T | PythonError> {
    const propagate = options.propagate ?? true;
    if ((options.disableSyncSubtasks ?? true) && taskContextProbe()) throw new SyncSubtaskError(E_WOULDBLOCK);
    if (propagate && (options.followParents ?? true)) await this.maybeThrowParents();
    let meta = this.cache;
    if (!meta) {
      const wait: WaitOptions = {};
      if (options.timeout !== undefined) wait.timeout = options.timeout;
      if (options.signal) wait.signal = options.signal;
      if (options.onMessage) wait.onMessage = options.onMessage;
      meta = this.setCache(await this.backend.waitForReady(this.id, wait));
    }
    return this.valueOf(meta, propagate);
  }

  private valueOf(meta: ResultMeta, propagate: boolean): T | PythonError {
    const value = resultValue(meta);
    if (propagate && PROPAGATE_STATES.has(meta.status) && value !== null && typeof value === 'object' && value instanceof Error) {
      throw value;
    }
    return value as T | PythonError;
  }

  private async maybeThrowParents(): Promise<void> {
    const chain: AnyResult[] = [];
    for (let node = this.parent; node; node = node.parent) chain.push(node);
    for (const node of chain.reverse()) await node.maybeThrow();
  }

  /** Throws the task's error when it FAILED or was REVOKED (Celery's `maybe_throw`); else returns its value. */
  async maybeThrow(): Promise<T | PythonError | null> {
    const meta = await this.meta();
    return this.valueOf(meta, true);
  }

  private setCache(meta: ResultMeta): ResultMeta {
    if (READY_STATES.has(meta.status)) this.cache = meta;
    return meta;
  }

  /** The raw record (`_get_task_meta`): cached once READY, PENDING when nothing is stored. */
  async meta(): Promise<ResultMeta> {
    if (this.cache) return this.cache;
    return this.setCache(await this.backend.getTaskMeta(this.id));
  }

  /** The task's state: PENDING, STARTED, RETRY, SUCCESS, FAILURE, REVOKED or a custom one (PROGRESS...). */
  async state(): Promise<string> {
    return (await this.meta()).status;
  }
  /** Celery's `status` alias. */
  status(): Promise<string> {
    return this.state();
  }

  async ready(): Promise<boolean> {
    return READY_STATES.has(await this.state());
  }
  async successful(): Promise<boolean> {
    return (await this.state()) === SUCCESS;
  }
  async failed(): Promise<boolean> {
    return (await this.state()) === FAILURE;
  }

  /**
   * The value, the error (not thrown) for RETRY/FAILURE/REVOKED, or a custom state's meta dict
   * (`update_state(state='PROGRESS', meta={...})`); null while PENDING.
   */
  async result(): Promise<T | PythonError | PyValue> {
    return resultValue(await this.meta()) as T | PythonError | PyValue;
  }
  /** Celery's `info` alias of `result`. */
  info(): Promise<T | PythonError | PyValue> {
    return this.result();
  }

  /** The Python (or celeriac) traceback text of a failed/retried task, else null. */
  async traceback(): Promise<string | null> {
    return (await this.meta()).traceback ?? null;
  }

  /** `date_done` as a Date (UTC), null until READY. The exact text is in `(await meta()).date_done`. */
  async dateDone(): Promise<Date | null> {
    const dd = (await this.meta()).date_done;
    if (!dd) return null;
    const d = new Date(dd.replace(/(\.\d{3})\d+/, '$1'));
    return Number.isNaN(d.getTime()) ? null : d;
  }

  /** Results of the tasks this task sent while running (chain steps, callbacks), or null. */
  async children(): Promise<AnyResult[] | null> {
    const children = (await this.meta()).children;
    if (!children) return null;
    return children.map((c) => resultFromTuple(c, this.backend, this.control));
  }

  /** `iterdeps()`: `[parent, node]` pairs of the result tree, breadth first (see {@link iterdeps}). */
  iterdeps(options: { intermediate?: boolean } = {}): AsyncGenerator<[AnyResult | null, AnyResult]> {
    return iterdeps(this, options);
  }

  /** `collect()`: `[result, value]` for this result and every child it left, as they complete (see {@link collect}). */
  collect(options: GetOptions & { intermediate?: boolean } = {}): AsyncGenerator<[AnyResult, unknown]> {
    return collect(this, options);
  }

  /** `result_extended` fields, when the worker stored them. */
  async name(): Promise<string | null> {
    return ((await this.meta()).name ?? null) as string | null;
  }
  async args(): Promise<PyValue> {
    return (await this.meta()).args ?? null;
  }
  async kwargs(): Promise<PyValue> {
    return (await this.meta()).kwargs ?? null;
  }
  async worker(): Promise<string | null> {
    return ((await this.meta()).worker ?? null) as string | null;
  }
  async retries(): Promise<number | null> {
    return ((await this.meta()).retries ?? null) as number | null;
  }
  async queue(): Promise<string | null> {
    return ((await this.meta()).queue ?? null) as string | null;
  }

  /** Deletes the stored result (and the parents'), like Celery's `forget`. */
  async forget(): Promise<void> {
    this.cache = null;
    if (this.parent) await this.parent.forget();
    await this.backend.forget(this.id);
  }

  /** Asks every worker to revoke the task (remote control; needs `control`). */
  async revoke(options: { terminate?: boolean; signal?: string } = {}): Promise<void> {
    if (!this.control) {
      throw new CeleriacError(
        `cannot revoke task ${this.id}: this AsyncResult has no remote control; create it through the app (app.AsyncResult) or pass { control }`,
      );
    }
    await this.control.revoke(this.id, options);
  }

  /** `as_tuple()`: `[[id, parentTuple|null], null]`. */
  asTuple(): ResultTuple {
    return asTuple(this.id, this.parent ? this.parent.asTuple() : null);
  }

  /** The task id, as Python's `str(result)`. */
  toString(): string {
    return this.id;
  }

  /** `<AsyncResult: id>` in `util.inspect`, like Python's repr. */
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `<AsyncResult: ${this.id}>`;
  }
}

export class GroupResult {
  readonly id: string;
  readonly results: AnyResult[];
  readonly backend: ResultBackend;
  readonly parent: AnyResult | null;
  private readonly control: RevokeControl | null;

  constructor(id: string, results: readonly (AnyResult | string)[], backend: ResultBackend, options: AsyncResultOptions = {}) {
    this.id = id;
    this.backend = backend;
    this.control = options.control ?? null;
    this.parent = options.parent ?? null;
    this.results = results.map((r) => (typeof r === 'string' ? new AsyncResult(r, backend, { control: this.control }) : r));
  }

  /** Loads a group saved by `save()` (here or by Python's `GroupResult.save()`), or null. */
  static async restore(groupId: string, backend: ResultBackend, control?: RevokeControl | null): Promise<GroupResult | null> {
    const tuple = await backend.restoreGroup(groupId);
    if (tuple === null) return null;
    const res = resultFromTuple(tuple, backend, control);
    if (!(res instanceof GroupResult)) throw new CeleriacError(`saved group ${groupId} is not a GroupResult tuple`);
    return res;
  }

  /** Stores `{"result": as_tuple()}` at `celery-taskset-meta-<id>` (Python can `GroupResult.restore` it). */
  async save(): Promise<void> {
    await this.backend.saveGroup(this.id, this.asTuple() as unknown as PyValue);
  }

  /** Deletes the saved group record. */
  async delete(): Promise<void> {
    await this.backend.deleteGroup(this.id);
  }

  private async metas(): Promise<(ResultMeta | null)[]> {
    const tasks = this.results.filter((r): r is AsyncResult => r instanceof AsyncResult);
    if (this.backend.getMany && tasks.length === this.results.length) {
      const got = await this.backend.getMany(tasks.map((r) => r.id));
      return got;
    }
    return Promise.all(this.results.map((r) => (r instanceof AsyncResult ? r.meta() : Promise.resolve(null))));
  }

  private async each<R>(task: (meta: ResultMeta) => R, group: (g: GroupResult) => Promise<R>): Promise<R[]> {
    const metas = await this.metas();
    return Promise.all(
      this.results.map(async (r, i) => {
        const m = metas[i];
        if (r instanceof GroupResult) return group(r);
        return task(m ?? (await r.meta()));
      }),
    );
  }

  /** True when every member is READY. */
  async ready(): Promise<boolean> {
    return (await this.each((m) => READY_STATES.has(m.status), (g) => g.ready())).every(Boolean);
  }
  /** True when every member succeeded. */
  async successful(): Promise<boolean> {
    return (await this.each((m) => m.status === SUCCESS, (g) => g.successful())).every(Boolean);
  }
  /** True when any member failed. */
  async failed(): Promise<boolean> {
    return (await this.each((m) => m.status === FAILURE, (g) => g.failed())).some(Boolean);
  }
  /** True when any member is not READY yet. */
  async waiting(): Promise<boolean> {
    return !(await this.ready());
  }
  /** Number of members that succeeded (Celery's `completed_count`). */
  async completedCount(): Promise<number> {
    return (await this.each((m) => m.status === SUCCESS, (g) => g.successful())).filter(Boolean).length;
  }

  /** Raises the first failure among the members, if any. */
  async maybeThrow(): Promise<void> {
    for (const r of this.results) await r.maybeThrow();
  }

  /**
   * The members' values in order (Celery's `join`). All members are waited for concurrently under one
   * `timeout`; with `propagate` the first failure in member order is thrown.
   */
  async get(options: GetOptions = {}): Promise<unknown[]> {
    const propagate = options.propagate ?? true;
    if ((options.disableSyncSubtasks ?? true) && taskContextProbe()) throw new SyncSubtaskError(E_WOULDBLOCK);
    const inner = new AbortController();
    const onOuterAbort = () => inner.abort(options.signal?.reason);
    if (options.signal?.aborted) throw options.signal.reason;
    options.signal?.addEventListener('abort', onOuterAbort, { once: true });
    const each: GetOptions = { ...options, signal: inner.signal, propagate, disableSyncSubtasks: false };
    const waits = this.results.map((r) => r.get(each) as Promise<unknown>);
    // Settle every wait; a later member's failure surfaces only when its turn comes (member order).
    waits.forEach((p) => p.catch(() => undefined));
    try {
      const out: unknown[] = [];
      for (const p of waits) out.push(await p);
      return out;
    } finally {
      options.signal?.removeEventListener('abort', onOuterAbort);
      inner.abort();
    }
  }

  /** Celery's `join` (same as `get`). */
  join(options: GetOptions = {}): Promise<unknown[]> {
    return this.get(options);
  }

  async forget(): Promise<void> {
    await Promise.all(this.results.map((r) => r.forget()));
  }

  async revoke(options: { terminate?: boolean; signal?: string } = {}): Promise<void> {
    if (!this.control) throw new CeleriacError(`cannot revoke group ${this.id}: no remote control (pass { control })`);
    await this.control.revoke(this.results.map((r) => r.id), options);
  }

  /** `as_tuple()`: `[[id, parentTuple|null], [memberTuples]]`. */
  asTuple(): ResultTuple {
    return groupAsTuple(this.id, this.results.map((r) => r.asTuple()), this.parent ? this.parent.asTuple() : null);
  }

  toString(): string {
    return this.id;
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `<GroupResult: ${this.id} [${this.results.map((r) => r.id).join(', ')}]>`;
  }
}

/** The children of a node: a task's stored `children`, a group's members. */
async function childrenOf(node: AnyResult): Promise<AnyResult[]> {
  return node instanceof GroupResult ? [...node.results] : ((await node.children()) ?? []);
}

/**
 * Celery's `ResultBase.iterdeps(intermediate=False)`: yields `[parent, node]` for the result and,
 * breadth first, every child of a ready node. Reaching a node that is not ready throws
 * {@link IncompleteStream}, unless `intermediate` is true (then its children are just not followed).
 */
export async function* iterdeps(root: AnyResult, options: { intermediate?: boolean } = {}): AsyncGenerator<[AnyResult | null, AnyResult]> {
  const queue: [AnyResult | null, AnyResult][] = [[null, root]];
  while (queue.length > 0) {
    const [parent, node] = queue.shift()!;
    yield [parent, node];
    if (await node.ready()) {
      for (const child of await childrenOf(node)) queue.push([node, child]);
    } else if (!options.intermediate) {
      throw new IncompleteStream(`Found the end of a stream of results but the stream was not ready: ${node.id} is not ready`);
    }
  }
}

/**
 * Celery's `AsyncResult.collect()`: `[result, value]` for the result and every result in its tree
 * (children the tasks stored, group members), each value from `get()` with `options`.
 */
export async function* collect(root: AnyResult, options: GetOptions & { intermediate?: boolean } = {}): AsyncGenerator<[AnyResult, unknown]> {
  const { intermediate, ...get } = options;
  for await (const [, node] of iterdeps(root, { intermediate: intermediate ?? false })) {
    yield [node, await node.get(get)];
  }
}
