/**
 * The seam between celeriac's runtime and a result backend (Redis, RPC). Backends store and
 * read Celery's own records (protocol/result.ts) so Python and TypeScript read each other's results.
 */
import { CeleriacError } from '../protocol/errors.ts';
import type { ResultMeta } from '../protocol/result.ts';
import type { SignatureDict } from '../protocol/types.ts';
import type { PyValue } from '../protocol/values.ts';

export interface WaitOptions {
  /**
   * Seconds; undefined waits forever. As in Celery (`if timeout and elapsed >= timeout`), `0` and
   * `null` also mean "wait forever".
   */
  timeout?: number | null;
  signal?: AbortSignal;
  /** Called for every state change seen while waiting (e.g. PROGRESS), the final READY one included. */
  onMessage?: (meta: ResultMeta) => void;
}

/**
 * The parts of the task request a backend may need to store a result (Celery passes `request=` to
 * `store_result`): the RPC backend publishes to `reply_to` with `correlation_id` (`destination_for`).
 * The worker's request context has these fields, so it can be passed as is.
 */
export interface StoreRequest {
  /** The caller's reply queue (the message's `reply_to` property); no reply is sent without it. */
  reply_to?: string | null;
  /** The message's `correlation_id` property; the task id when missing. */
  correlation_id?: string | null;
}

/** The parts of a task request `on_chord_part_return` reads. */
export interface ChordPartRequest {
  id: string;
  group: string | null;
  group_index: number | null;
  /** The chord body (`request.chord`). */
  chord: SignatureDict | PyValue | null;
}

/** What completing a chord needs from the app (the canvas engine implements it). */
export interface ChordHost {
  /** `callback.delay(resl)`. */
  delay(callback: SignatureDict | PyValue, args: PyValue[]): Promise<void>;
  /** `chord_error_from_stack(callback, exc)`: errbacks of the body, body stored as FAILURE. */
  chordErrorFromStack(callback: SignatureDict | PyValue, exc: Error): Promise<void>;
  /** `GroupResult.restore(gid)` + `join(propagate=True)` of a saved complex header, or null when none is saved. */
  joinSavedGroup(groupId: string): Promise<PyValue[] | null>;
}

/** A backend's native chord join (Celery's `set_chord_size`, `add_to_chord`, `on_chord_part_return`). */
export interface NativeChords {
  setChordSize(groupId: string, size: number): Promise<void>;
  addToChord(groupId: string): Promise<void>;
  onChordPartReturn(request: ChordPartRequest, state: string, result: unknown, host: ChordHost): Promise<void>;
}

export interface ResultBackend {
  readonly safeUrl: string;
  /** Native chord support (Redis); a backend without it has chords joined by `celery.chord_unlock`. */
  readonly chords?: NativeChords;
  connect(): Promise<void>;
  /**
   * Stores a record; a SUCCESS already stored is never overwritten (Celery's rule). Wakes waiting clients.
   * `request` is the task request the record is for, when there is one (the RPC backend needs it).
   */
  storeResult(meta: ResultMeta, request?: StoreRequest | null): Promise<void>;
  /** The stored record, or a PENDING one when nothing is stored. */
  getTaskMeta(taskId: string): Promise<ResultMeta>;
  /** Records of several tasks in one round trip (PENDING for missing ones), in the order asked. */
  getMany?(taskIds: readonly string[]): Promise<ResultMeta[]>;
  /** Resolves with the first READY record (SUCCESS, FAILURE, REVOKED); subscribes, never polls. */
  waitForReady(taskId: string, options?: WaitOptions): Promise<ResultMeta>;
  /**
   * Called when a task is sent, so the wait that follows cannot miss the result. A promise means
   * "publish only after this settles" (the RPC backend declares its reply queue first).
   */
  onTaskCall?(taskId: string): void | Promise<void>;
  forget(taskId: string): Promise<void>;
  saveGroup(groupId: string, resultTuple: PyValue): Promise<void>;
  restoreGroup(groupId: string): Promise<PyValue | null>;
  deleteGroup(groupId: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * A wait for a result gave up (Celery's `celery.exceptions.TimeoutError('The operation timed out.')`).
 * `name` is `TimeoutError` like Celery's class; `taskId` and `timeout` (seconds) say which wait.
 */
export class ResultTimeoutError extends CeleriacError {
  override name = 'TimeoutError';
  override readonly code = 'ETIMEDOUT';
  readonly taskId: string;
  readonly timeout: number;
  constructor(taskId: string, timeout: number) {
    super(`The operation timed out: no result for task ${taskId} within ${timeout} s`);
    this.taskId = taskId;
    this.timeout = timeout;
  }
}

/** What an aborted wait rejects with: the signal's reason, or an `AbortError`. */
export function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('The operation was aborted', 'AbortError');
}

/** The settle-once handle of a backend's `waitForReady` ({@link settleWait}). */
export interface WaitSettler {
  /** Rejects with `err`, or resolves with `meta` when `err` is undefined; only the first call counts. */
  finish(err: unknown, meta?: ResultMeta): void;
  /** Whether the wait has settled. */
  readonly done: boolean;
}

/**
 * The part every backend's `waitForReady` shares: the wait settles once, fails with
 * {@link ResultTimeoutError} after `timeout` seconds (null: never) and with {@link abortReason} when
 * `signal` aborts. `cleanup` runs once, before the promise settles, with the READY meta if any (the
 * backend drops its listener there).
 */
export function settleWait(
  taskId: string,
  options: { timeout: number | null; signal?: AbortSignal | undefined },
  resolve: (meta: ResultMeta) => void,
  reject: (err: unknown) => void,
  cleanup: (meta?: ResultMeta) => void,
): WaitSettler {
  const { timeout, signal } = options;
  let done = false;
  let timer: NodeJS.Timeout | undefined;
  const finish = (err: unknown, meta?: ResultMeta): void => {
    if (done) return;
    done = true;
    if (timer) clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
    cleanup(meta);
    if (err !== undefined) reject(err);
    else resolve(meta as ResultMeta);
  };
  const onAbort = () => finish(abortReason(signal as AbortSignal));
  signal?.addEventListener('abort', onAbort, { once: true });
  if (timeout !== null) timer = setTimeout(() => finish(new ResultTimeoutError(taskId, timeout)), timeout * 1000);
  return {
    finish,
    get done() {
      return done;
    },
  };
}

/** The operation needs a result backend and none is configured (Celery's `DisabledBackend`). */
export class NoResultBackendError extends CeleriacError {
  override name = 'NoResultBackendError';
  override readonly code = 'ENOBACKEND';
}

/** A result could not be stored (Celery's `BackendStoreError`), e.g. a value over Redis' 512 MB limit. */
export class BackendStoreError extends CeleriacError {
  override name = 'BackendStoreError';
  override readonly code = 'EBACKENDSTORE';
}

/**
 * The backend does not support this operation (Celery raises `NotImplementedError`, e.g. groups and
 * `forget` on the RPC backend). `name` is Python's class name.
 */
export class BackendNotImplementedError extends CeleriacError {
  override name = 'NotImplementedError';
  override readonly code = 'ENOTIMPLEMENTED';
}
