/**
 * The seam between celeriac's runtime and a result backend (Redis today; RPC next). Backends store and
 * read Celery's own records (protocol/result.ts) so Python and TypeScript read each other's results.
 */
import type { ResultMeta } from '../protocol/result.ts';
import type { PyValue } from '../protocol/values.ts';

export interface WaitOptions {
  /** Seconds; undefined waits forever. */
  timeout?: number;
  signal?: AbortSignal;
  /** Called for every state change seen while waiting (e.g. PROGRESS). */
  onMessage?: (meta: ResultMeta) => void;
}

export interface ResultBackend {
  readonly safeUrl: string;
  connect(): Promise<void>;
  /** Stores a record; a SUCCESS already stored is never overwritten (Celery's rule). Wakes waiting clients. */
  storeResult(meta: ResultMeta): Promise<void>;
  /** The stored record, or a PENDING one when nothing is stored. */
  getTaskMeta(taskId: string): Promise<ResultMeta>;
  /** Resolves with the first READY record (SUCCESS, FAILURE, REVOKED); subscribes, never polls. */
  waitForReady(taskId: string, options?: WaitOptions): Promise<ResultMeta>;
  /** Called when a task is sent, so the wait that follows cannot miss the result. */
  onTaskCall?(taskId: string): void;
  forget(taskId: string): Promise<void>;
  saveGroup(groupId: string, resultTuple: PyValue): Promise<void>;
  restoreGroup(groupId: string): Promise<PyValue | null>;
  deleteGroup(groupId: string): Promise<void>;
  close(): Promise<void>;
}
