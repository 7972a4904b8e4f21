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
import type { LimitedSet } from './revoked.ts';

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
  readonly clock: LamportClock;
  /** Tasks completed per name (`state.total_count`). */
  readonly totals: Map<string, number>;
  /** Task events on/off (`enable_events` / `disable_events`); the events dispatcher reads it. */
  taskEvents: boolean;
  /** Hooks for the events dispatcher: `heartbeat` command. */
  onHeartbeatRequest?: () => void;
}

export type Handler = (state: PanelState, args: PyDict) => PyValue | undefined | Promise<PyValue | undefined>;

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
