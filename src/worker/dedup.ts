/**
 * `worker_deduplicate_successful_tasks` (`app.conf.workerDeduplicateSuccessfulTasks`): a worker does not
 * run a task id again once it has succeeded.
 *
 * Celery (`celery/app/trace.py` `build_tracer`, `celery/worker/state.py` `successful_requests`) checks
 * only a *redelivered* message of an `acks_late` task with a persistent result backend: the id in the
 * worker's `successful_requests` (a LimitedSet, `CELERY_WORKER_SUCCESSFUL_MAX` 1000 ids,
 * `CELERY_WORKER_SUCCESSFUL_EXPIRES` 10800 s) → skipped silently; else the backend's state, SUCCESS →
 * skipped (`Task <name>[<id>] Task already completed successfully.` at info), after sending the link
 * callbacks / next chain step when the stored record has no `children` but the request has some.
 *
 * celeriac also guards against beat sending one slot twice as two NEW messages with the same task id
 * (after a crash or a lost publisher confirm), so with the setting on:
 *
 * - the local set (every task that succeeds on this worker is added) is checked for EVERY delivery,
 *   whatever its acks mode: a Map lookup;
 * - the result backend is read (one GET per checked delivery, before the ack and the run) only for a
 *   delivery that is `redelivered` (any acks mode: a message the broker gave back) or that carries the
 *   header `periodic_task_name` (beat's messages). Reading it for every delivery would add a round trip
 *   to every task; redeliveries are rare and beat sends few messages, so the cost stays where
 *   duplicates come from. No read without a result backend, nor with the `rpc://` backend (not
 *   persistent, Celery's `backend.persistent` rule: it only knows replies sent to this process).
 *   A read that fails → the task runs (Celery's `BackendGetMetaError` rule);
 * - a copy that arrives while the same id is running on this worker waits (unacked, listed as
 *   reserved) until the running one has settled, then is checked again: it is skipped if that one
 *   succeeded, else it runs. (Celery does not check that case: both would run.)
 *
 * A skipped delivery is acked and logged at info with the reason; as Celery it gets `task-received`,
 * `task-started` and `task-succeeded` events (the last with `result` and `runtime` None), no task
 * signals besides `task_received`, and nothing is stored. The worker emits `task-deduplicated`.
 * With the setting off none of this runs (the worker holds no {@link Deduplicator}).
 */
import { SUCCESS } from '../../protocol/states.ts';
import type { ResultBackend } from '../backend.ts';
import { RpcBackend } from '../backends/rpc.ts';
import type { Celery } from '../app.ts';
import { dispatchCallbacksAndChain } from './dispatch.ts';
import { LimitedSet } from './control/revoked.ts';
import type { WorkerLogger } from './log.ts';
import type { Request } from './request.ts';
import { excRepr } from './retry.ts';

/** `celery.worker.state.SUCCESSFUL_MAX` (`CELERY_WORKER_SUCCESSFUL_MAX`). */
export const SUCCESSFUL_MAX = Number(process.env.CELERY_WORKER_SUCCESSFUL_MAX ?? 1000);
/** `celery.worker.state.SUCCESSFUL_EXPIRES` in seconds (`CELERY_WORKER_SUCCESSFUL_EXPIRES`). */
export const SUCCESSFUL_EXPIRES = Number(process.env.CELERY_WORKER_SUCCESSFUL_EXPIRES ?? 10800);

/** The header beat (and django-celery-beat) puts on the messages it sends. */
export const PERIODIC_HEADER = 'periodic_task_name';

/** Celery's description in `LOG_IGNORED` for a task the backend says succeeded. */
export const ALREADY_SUCCEEDED = 'Task already completed successfully.';

/** What to do with a delivery. `skip` carries the reason logged. */
export type Verdict = { run: true } | { run: false; reason: string };

const RUN: Verdict = { run: true };

/** A copy of a task id that is running here, waiting for it to settle. */
interface Active {
  owner: Request;
  waiting: Request[];
}

export class Deduplicator {
  /** Ids that succeeded on this worker (`worker_state.successful_requests`). */
  readonly successful: LimitedSet;
  private readonly active = new Map<string, Active>();
  private readonly readBackend: boolean;

  constructor(
    private readonly app: Celery,
    private readonly backend: ResultBackend | null,
    private readonly logger: WorkerLogger,
    options: { maxlen?: number; expires?: number } = {},
  ) {
    this.successful = new LimitedSet({ maxlen: options.maxlen ?? SUCCESSFUL_MAX, expires: options.expires ?? SUCCESSFUL_EXPIRES });
    this.readBackend = backend !== null && !(backend instanceof RpcBackend);
  }

  /** The id succeeded here (an expired entry no longer counts). */
  succeededHere(id: string): boolean {
    this.successful.purge();
    return this.successful.has(id);
  }

  /** `task_ready(request, successful=True)`. */
  recordSuccess(id: string): void {
    this.successful.add(id);
  }

  /** Whether this delivery gets a backend read (see the module notes). */
  needsBackendRead(req: Request): boolean {
    if (!this.readBackend) return false;
    const c = req.context;
    return c.delivery_info.redelivered || c.allHeaders[PERIODIC_HEADER] !== undefined;
  }

  /**
   * Claims the id for `req`, or parks `req` behind the copy running here (false: the worker hands it
   * back through {@link release} of that copy).
   */
  claim(req: Request): boolean {
    const a = this.active.get(req.id);
    if (a) {
      a.waiting.push(req);
      return false;
    }
    this.active.set(req.id, { owner: req, waiting: [] });
    return true;
  }

  /** `req` settled: its id is free; the copies that waited for it are returned (to be checked again). */
  release(req: Request): Request[] {
    const a = this.active.get(req.id);
    if (!a || a.owner !== req) return NONE;
    this.active.delete(req.id);
    return a.waiting;
  }

  /** Copies waiting for a running one (reserved, unacked). */
  parked(): Request[] {
    const out: Request[] = [];
    for (const a of this.active.values()) out.push(...a.waiting);
    return out;
  }

  /**
   * The check before a claimed request runs (Celery's trace prologue). Rejects when the stored
   * SUCCESS is found but its callbacks cannot be sent (the worker requeues the message, as Celery's
   * `Reject(exc, requeue=True)`).
   */
  async check(req: Request): Promise<Verdict> {
    if (this.succeededHere(req.id)) return { run: false, reason: `${ALREADY_SUCCEEDED.slice(0, -1)} on this worker.` };
    if (!this.needsBackendRead(req)) return RUN;
    const ctx = req.context;
    let meta;
    try {
      meta = await this.backend!.getTaskMeta(req.id);
    } catch (err) {
      this.logger.warning(`Task ${req.name}[${req.id}] deduplication: reading the stored state failed, the task runs: ${excRepr(err)}`);
      return RUN;
    }
    if (meta.status !== SUCCESS) return RUN;
    const children = meta.children;
    if ((ctx.callbacks?.length || ctx.chain?.length) && !(Array.isArray(children) && children.length > 0)) {
      try {
        // the original stored no children: its callbacks / next chain step may never have been sent
        await dispatchCallbacksAndChain({ app: this.app, logger: this.logger }, meta.result, ctx.callbacks, ctx.chain, {
          parentId: ctx.id, rootId: ctx.root_id || ctx.id,
          priority: this.app.conf.taskInheritParentPriority ? ctx.delivery_info.priority : null,
        });
      } catch (err) {
        this.logger.error(`Failed to dispatch chain/callbacks for deduplicated task ${req.id}: ${excRepr(err)}`);
        throw err;
      }
    }
    this.recordSuccess(req.id);
    return { run: false, reason: ALREADY_SUCCEEDED };
  }
}

const NONE: Request[] = [];
