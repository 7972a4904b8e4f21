/**
 * What remote-control commands see of the worker (Celery passes handlers `state`: app, hostname,
 * consumer) and the panel's types (`celery/worker/control.py:Panel`).
 */
import type { PyDict, PyValue } from '../../../protocol/values.ts';
import type { Celery } from '../../app.ts';
import type { QueueDeclaration } from '../../broker.ts';
import type { WorkerLogger } from '../log.ts';
import type { Request } from '../request.ts';
import type { LamportClock } from './mailbox.ts';
import type { FloatValue } from '../../control/float.ts';
import type { LimitedSet } from './revoked.ts';
import type { AttributeOverrides } from './taskinfo.ts';

/** The worker as the control commands drive it. */
export interface ControlledWorker {
  readonly app: Celery;
  readonly hostname: string;
  readonly logger: WorkerLogger;
  readonly queues: readonly string[];
  readonly concurrency: number;
  readonly prefetchMultiplier: number;
  /** `worker_state.revoked`. */
  readonly revoked: LimitedSet;
  /** When the worker started (ms since epoch). */
  readonly startedAt: number;
  /** Active (executing), reserved (received, waiting for a slot or a rate-limit token) and ETA-held requests. */
  requestsSnapshot(): { active: Request[]; reserved: Request[]; scheduled: { request: Request; eta: Date; priority: number | null }[] };
  /** Current prefetch count (`qos.value`). */
  prefetchCount(): number;
  /** `Autoscaler.update(max, min)`: the bounds now, or null when the worker does not autoscale. */
  autoscale(max: number | null, min: number | null): [number, number] | null;
  /** The pool's part of `inspect stats` (`pool.info`). */
  poolInfo(): PyDict;
  /** Whether the pool can stop a running task (`terminate_job`): the threads pool can, the async pool cannot. */
  readonly canTerminate: boolean;
  /** `Request.terminate` of a running task: its pool slot is stopped; false when it is not in one. */
  terminateTask(taskId: string, signum: number): boolean;
  /** `pool.grow(n)` / `pool.shrink(n)` with `_update_prefetch_count`. */
  resizePool(delta: number): void;
  /** `add_task_queue` / `cancel_task_queue`. */
  addConsumer(queue: QueueDeclaration): Promise<void>;
  cancelConsumer(queue: string): Promise<void>;
  /** Task attributes changed at runtime (`rate_limit`, `time_limit` commands). */
  setRateLimit(taskName: string, limit: string | number | null): void;
  rateLimitOf(taskName: string): string | number | null;
  setTimeLimits(taskName: string, soft: number | null, hard: number | null): void;
  /** `backend.mark_as_revoked(id, reason='revoked')` (no request: no chord). */
  markAsRevoked(taskId: string): Promise<void>;
  /** Warm shutdown. */
  stop(): Promise<void>;
}

/** The `state` every handler gets. */
export interface PanelState {
  readonly worker: ControlledWorker;
  /**
   * The app's clock (`app.clock`): forwarded by each control message, shared with the worker's events,
   * sent in mingle's `hello` replies and read by `inspect clock` / `stats`.
   */
  readonly clock: LamportClock;
  /**
   * kombu's `Mailbox.clock`, a clock of its own as in Celery: adjusted by the `clock` header of the
   * requests and replies received, forwarded into the `clock` header of those sent.
   */
  readonly mailboxClock: LamportClock;
  /** Tasks completed per name (`state.total_count`). */
  readonly totals: Map<string, number>;
  /** Task attributes the `rate_limit` / `time_limit` commands set, as `inspect registered` shows them. */
  readonly attributes: AttributeOverrides;
  /** Task events on/off (`enable_events` / `disable_events`); the events dispatcher reads it. */
  taskEvents: boolean;
  /** Hooks for the events dispatcher: `heartbeat` command. */
  onHeartbeatRequest?: () => void;
}

/** What a handler may need of the request beyond its arguments. */
export interface RequestMeta {
  /** Arguments sent as Python floats (`10.0`), which a JavaScript number does not tell from ints. */
  readonly floatArgs: ReadonlySet<string>;
}

/** What a handler answers: a Python value, with `PyFloat` for Python floats with a whole value (`120.0`). */
export type Reply = FloatValue | undefined;

export type Handler = (state: PanelState, args: PyDict, meta: RequestMeta) => Reply | Promise<Reply>;

/**
 * Python's `TypeError` for a handler called without its required arguments (`terminate() missing 1
 * required positional argument: 'signal'`), what a Python worker answers then.
 */
export function requireArgs(command: string, args: PyDict, names: readonly string[]): void {
  const missing = names.filter((n) => !(n in args));
  if (!missing.length) return;
  const quoted = missing.map((n) => `'${n}'`);
  const list = quoted.length === 1 ? quoted[0] : quoted.length === 2 ? quoted.join(' and ') : `${quoted.slice(0, -1).join(', ')}, and ${quoted.at(-1)}`;
  throw new TypeError(`${command}() missing ${missing.length} required positional argument${missing.length > 1 ? 's' : ''}: ${list}`);
}

/** `celery.exceptions.WorkerShutdown`: the command is not answered and the worker shuts down warm. */
export class WorkerShutdown extends Error {
  override name = 'WorkerShutdown';
}

export const ok = (value: PyValue): PyDict => ({ ok: value });
export const nok = (value: PyValue): PyDict => ({ error: value });

/** `maybe_list`: a single value as a list, null/undefined as []. */
export function maybeList(v: PyValue | undefined): PyValue[] {
  if (v === null || v === undefined) return [];
  return Array.isArray(v) ? v : [v];
}
