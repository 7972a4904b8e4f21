/**
 * Celery's signals (`celery/signals.py`) as a small typed registry. Receivers are connected to a named
 * signal and called with one payload object (Celery's keyword arguments, same names):
 *
 *   import { signals } from 'celeriac';
 *   signals.task_prerun.connect(({ task_id, task }) => console.log('starting', task, task_id));
 *   signals.task_failure.connect(({ exception }) => alert(exception), { sender: 'tasks.charge' });
 *
 * Like Celery, signals are process-global, a receiver's error is logged and never breaks the sender,
 * and `sender` filters: for task signals the sender is the task name. Async receivers are awaited in
 * connection order before the worker goes on (Celery's receivers are synchronous).
 */
import type { PyDict, PyValue } from '../protocol/values.ts';

export type Receiver<P> = (payload: P) => unknown;

export interface ConnectOptions {
  /** Only payloads whose `sender` equals this (a task name for task signals). */
  sender?: unknown;
}

export class Signal<P extends { sender?: unknown }> {
  private receivers: { fn: Receiver<P>; sender: unknown; hasSender: boolean }[] = [];

  constructor(
    /** Celery's signal name, e.g. `task_prerun`. */
    readonly name: string,
  ) {}

  /** Connect a receiver; returns a function that disconnects it. */
  connect(fn: Receiver<P>, options: ConnectOptions = {}): () => void {
    this.receivers.push({ fn, sender: options.sender, hasSender: 'sender' in options });
    return () => this.disconnect(fn);
  }

  /** Disconnect a receiver; true when it was connected. */
  disconnect(fn: Receiver<P>): boolean {
    const before = this.receivers.length;
    this.receivers = this.receivers.filter((r) => r.fn !== fn);
    return this.receivers.length !== before;
  }

  get hasReceivers(): boolean {
    return this.receivers.length > 0;
  }

  /**
   * Call every matching receiver (awaiting async ones, in order). Errors are reported through
   * `onError` (default: console.error) and do not stop the other receivers (Celery's `Signal.send`).
   * Returns `[receiver, result-or-error]` pairs.
   */
  async send(payload: P, onError: (err: unknown, signal: string) => void = defaultOnError): Promise<[Receiver<P>, unknown][]> {
    const out: [Receiver<P>, unknown][] = [];
    for (const r of [...this.receivers]) {
      if (r.hasSender && r.sender !== payload.sender) continue;
      try {
        out.push([r.fn, await r.fn(payload)]);
      } catch (err) {
        onError(err, this.name);
        out.push([r.fn, err]);
      }
    }
    return out;
  }
}

function defaultOnError(err: unknown, signal: string): void {
  console.error(`[celeriac] Signal handler for ${signal} raised: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
}

/** The task request a signal receiver sees (the worker's `Context`). */
export interface SignalRequest {
  id: string;
  task: string;
  args: PyValue[];
  kwargs: PyDict;
  retries: number;
  hostname: string;
  [field: string]: unknown;
}

interface TaskSignalBase {
  /** The task name. */
  sender: string;
  task_id: string;
  /** The task name (Celery passes the task object). */
  task: string;
  args: PyValue[];
  kwargs: PyDict;
}

export interface TaskReceivedPayload {
  /** The worker's node name (Celery passes the consumer). */
  sender: string;
  request: SignalRequest;
}
export type TaskPrerunPayload = TaskSignalBase;
export interface TaskPostrunPayload extends TaskSignalBase {
  retval: unknown;
  state: string | null;
}
export interface TaskSuccessPayload {
  sender: string;
  result: unknown;
  request: SignalRequest;
}
export interface TaskFailurePayload {
  sender: string;
  task_id: string;
  exception: unknown;
  args: PyValue[];
  kwargs: PyDict;
  /** The Python-style traceback text. */
  traceback: string | null;
  einfo: { exception: unknown; traceback: string | null };
}
export interface TaskRetryPayload {
  sender: string;
  request: SignalRequest;
  /** The `Retry` error (its `exc` is the original error, if any). */
  reason: unknown;
  einfo: { exception: unknown; traceback: string | null };
}
export interface TaskRevokedPayload {
  sender: string;
  request: SignalRequest;
  terminated: boolean;
  signum: string | null;
  expired: boolean;
}
export interface TaskUnknownPayload {
  /** The worker's node name. */
  sender: string;
  name: string;
  id: string;
  message: unknown;
  exc: unknown;
}
export interface TaskRejectedPayload {
  sender: string;
  message: unknown;
  exc: unknown;
}
export interface WorkerPayload {
  /** The worker's node name. */
  sender: string;
}

/** `beat_init` / `beat_embedded_init`: the beat service about to start (Celery's sender is the Service). */
export interface BeatPayload {
  /** The beat service (src/beat/service.ts). */
  sender: unknown;
}

/** Celery's signal names, one {@link Signal} each. */
export const signals = {
  task_received: new Signal<TaskReceivedPayload>('task_received'),
  task_prerun: new Signal<TaskPrerunPayload>('task_prerun'),
  task_postrun: new Signal<TaskPostrunPayload>('task_postrun'),
  task_success: new Signal<TaskSuccessPayload>('task_success'),
  task_failure: new Signal<TaskFailurePayload>('task_failure'),
  task_retry: new Signal<TaskRetryPayload>('task_retry'),
  task_revoked: new Signal<TaskRevokedPayload>('task_revoked'),
  task_unknown: new Signal<TaskUnknownPayload>('task_unknown'),
  task_rejected: new Signal<TaskRejectedPayload>('task_rejected'),
  worker_init: new Signal<WorkerPayload>('worker_init'),
  worker_ready: new Signal<WorkerPayload>('worker_ready'),
  worker_shutting_down: new Signal<WorkerPayload & { sig: string | null; how: 'Warm' | 'Cold'; exitcode: number }>('worker_shutting_down'),
  worker_shutdown: new Signal<WorkerPayload>('worker_shutdown'),
  beat_init: new Signal<BeatPayload>('beat_init'),
  beat_embedded_init: new Signal<BeatPayload>('beat_embedded_init'),
} as const;

export type Signals = typeof signals;
