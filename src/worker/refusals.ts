/**
 * Messages the worker will not run, settled the way Celery's consumer does (`on_unknown_task`,
 * `on_invalid_task`, `on_decode_error`: logged, a FAILURE NotRegistered stored for an unknown task,
 * signals sent), except that celeriac keeps each one instead of dropping it: it goes to its queue's
 * quarantine `<queue>.celeriac.invalid` with the reason (src/quarantine/), where `celeriac quarantine`
 * lists it and puts it back once the cause is fixed. Where a transport has no quarantine, or
 * `worker_quarantine_max_messages` is 0, it is rejected as Celery does; a RabbitMQ queue with a
 * dead-letter exchange rejects it there.
 *
 * Every refusal is counted by kind ({@link Refusals.counts}: `inspect stats` `refused`, and metrics).
 */
import type { DecodeError } from '../../protocol/errors.ts';
import { NotRegistered } from '../../protocol/exceptions.ts';
import type { QuarantineKind, QuarantineReason } from '../../protocol/quarantine.ts';
import { buildResultMeta } from '../../protocol/result.ts';
import { SecurityError } from '../../protocol/security/errors.ts';
import type { PyValue } from '../../protocol/values.ts';
import { FAILURE } from '../../protocol/states.ts';
import type { ResultBackend } from '../backend.ts';
import type { Delivery } from '../broker.ts';
import { signals } from '../signals.ts';
import type { WorkerLogger } from './log.ts';

/** What the refusals need from the worker. */
export interface RefusalsHost {
  readonly hostname: string;
  readonly logger: WorkerLogger;
  /** The result backend (null: results are not stored). */
  backend(): ResultBackend | null;
  /** `unknownTasks: 'requeue'` puts unknown tasks back instead. */
  readonly requeueUnknown: boolean;
  emit(event: 'task-unknown', name: string, id: string): void;
  emit(event: 'message-rejected', error: unknown): void;
  emit(event: 'message-refused', kind: QuarantineKind, queue: string): void;
}

export class Refusals {
  /** Refused messages by kind, since start. */
  readonly counts: Record<Exclude<QuarantineKind, 'legacy' | 'malformed'>, number> = { 'decode-error': 0, invalid: 0, signature: 0, 'unknown-task': 0 };

  constructor(private readonly host: RefusalsHost) {}

  /**
   * Quarantines and says what happened, for the log line; without a quarantine, settles as Celery does
   * (`fallback`: reject without requeue, or ack for a body that cannot be decoded).
   */
  private async keep(delivery: Delivery, reason: QuarantineReason, fallback: 'reject' | 'ack' = 'reject'): Promise<string> {
    this.counts[reason.kind as keyof Refusals['counts']]++;
    this.host.emit('message-refused', reason.kind, delivery.queue);
    const { logger } = this.host;
    if (delivery.quarantine) {
      try {
        const where = await delivery.quarantine(reason);
        return where
          ? `The message has been quarantined in ${where} (celeriac quarantine list -Q ${delivery.queue}).`
          : 'The message has been rejected (not requeued): worker_quarantine_max_messages is 0.';
      } catch (err) {
        logger.error(`quarantining a message from ${JSON.stringify(delivery.queue)} failed: ${(err as Error).message}; rejecting it instead`);
      }
    }
    if (fallback === 'ack') {
      await delivery.ack().catch((x: Error) => logger.error(`ack failed: ${x.message}`));
      return 'The message has been acknowledged (dropped).';
    }
    await delivery.reject(false).catch((x: Error) => logger.error(`reject failed: ${x.message}`));
    return 'The message has been rejected (not requeued).';
  }

  private about(delivery: Delivery, kind: QuarantineKind, reason: string): QuarantineReason {
    const h = delivery.raw.headers ?? {};
    return {
      kind, reason, hostname: this.host.hostname,
      task: typeof h.task === 'string' ? h.task : null,
      taskId: typeof h.id === 'string' ? h.id : null,
    };
  }

  /** `Consumer.on_unknown_task`: FAILURE NotRegistered stored, the message kept (or requeued). */
  async unknownTask(delivery: Delivery, name: string, id: string, sent: { value: PyValue; repr: string } = { value: name, repr: JSON.stringify(name) }): Promise<void> {
    const { logger, hostname } = this.host;
    const requeue = this.host.requeueUnknown;
    let outcome = 'The message has been requeued.';
    if (requeue) await delivery.reject(true).catch((err: Error) => logger.error(`reject failed: ${err.message}`));
    else outcome = await this.keep(delivery, { ...this.about(delivery, 'unknown-task', `no task named ${sent.repr} is registered in ${hostname}`), task: name, taskId: id || null });
    logger.error(
      `Received unregistered task of type ${sent.repr} (id ${id}) from queue ${JSON.stringify(delivery.queue)}.\n` +
      `${outcome}${requeue ? '' : ' FAILURE NotRegistered stored.'} Is the task registered in this worker's app (app.task(name, fn))?\n` +
      `delivery_info: ${JSON.stringify(delivery.raw.deliveryInfo)}`,
    );
    this.host.emit('task-unknown', name, id);
    const backend = this.host.backend();
    if (!requeue && backend && id) {
      try {
        const p = delivery.raw.properties;
        // children [] as Celery stores it (mark_as_failure with a request that has no children)
        await backend.storeResult(buildResultMeta({ taskId: id, state: FAILURE, result: new NotRegistered([sent.value]), traceback: null, children: [] }),
          { reply_to: typeof p.reply_to === 'string' ? p.reply_to : null, correlation_id: typeof p.correlation_id === 'string' ? p.correlation_id : null });
      } catch (err) {
        logger.error(`storing NotRegistered for ${id} failed: ${(err as Error).message}`);
      }
    }
    await signals.task_unknown.send({ sender: hostname, name, id, message: delivery.raw, exc: new NotRegistered([sent.value]) });
  }

  /** `Consumer.on_invalid_task`: logged, kept (Celery: rejected without requeue), nothing stored. */
  async invalidTask(delivery: Delivery, err: unknown): Promise<void> {
    const e = err instanceof Error ? err : new Error(String(err));
    const outcome = await this.keep(delivery, this.about(delivery, err instanceof SecurityError ? 'signature' : 'invalid', e.message));
    this.host.logger.error(
      `Received invalid task message from queue ${JSON.stringify(delivery.queue)}: ${e.message}\n` +
      `${outcome} headers: ${safeJson(delivery.raw.headers)} content-type: ${delivery.raw.contentType}`,
    );
    this.host.emit('message-rejected', err);
    await signals.task_rejected.send({ sender: this.host.hostname, message: delivery.raw, exc: err });
  }

  /** `Consumer.on_decode_error`: logged critical, kept (Celery: acked, so dropped). */
  async decodeError(delivery: Delivery, err: DecodeError): Promise<void> {
    const outcome = await this.keep(delivery, this.about(delivery, 'decode-error', err.message), 'ack');
    this.host.logger.critical(
      `Can't decode message body from queue ${JSON.stringify(delivery.queue)}: ${err.message} ` +
      `(type:${JSON.stringify(delivery.raw.contentType)} encoding:${JSON.stringify(delivery.raw.contentEncoding)} ` +
      `headers:${safeJson(delivery.raw.headers)}). ${outcome}`,
    );
    this.host.emit('message-rejected', err);
  }
}

export function safeJson(v: unknown): string {
  try {
    const s = JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x instanceof Uint8Array ? `<${x.length} bytes>` : x));
    return s.length > 2000 ? `${s.slice(0, 2000)}…` : s;
  } catch {
    return String(v);
  }
}
