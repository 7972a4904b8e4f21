/**
 * Remote control, the client side (Celery's `app.control`): broadcast commands to workers through the
 * `celery.pidbox` fanout exchange, exactly as `kombu.pidbox.Mailbox._broadcast` publishes them.
 * Commands without a reply (revoke, terminate, shutdown, rate_limit...) need nothing more; commands
 * that collect replies (`inspect`) come with the events/inspect work.
 */
import { encodeKombuJson } from '../protocol/serialization/index.ts';
import type { PyDict, PyValue } from '../protocol/values.ts';
import type { RawMessage } from '../protocol/types.ts';
import type { Broker } from './broker.ts';

export interface BroadcastOptions {
  /** Node names to address (`celery@host`); all workers when omitted. */
  destination?: string[] | null;
  /** Seconds the command stays valid (header `expires`, as Celery sets it). @default 1 */
  timeout?: number;
}

export class Control {
  /** Lamport clock of this process's control messages (`clock` header). */
  private clock = 0;

  constructor(
    private readonly broker: () => Promise<Broker>,
    /** `control_exchange` @default 'celery' */
    private readonly namespace = 'celery',
  ) {}

  /** `app.control.broadcast(command, arguments)`: no reply is requested. */
  async broadcast(command: string, args: PyDict = {}, options: BroadcastOptions = {}): Promise<void> {
    const body: PyDict = { method: command, arguments: args, destination: options.destination ?? null, pattern: null, matcher: null };
    const raw: RawMessage = {
      body: encodeKombuJson(body),
      contentType: 'application/json',
      contentEncoding: 'utf-8',
      headers: { clock: ++this.clock, expires: Date.now() / 1000 + (options.timeout ?? 1) },
      properties: { delivery_mode: 2, priority: 0 },
      deliveryInfo: { exchange: `${this.namespace}.pidbox`, routing_key: '' },
    };
    const broker = await this.broker();
    await broker.publish(raw, { exchange: `${this.namespace}.pidbox`, routingKey: '', exchangeType: 'fanout' });
  }

  /**
   * `app.control.revoke(task_id, terminate=False, signal='SIGTERM')`: every worker marks the ids
   * revoked (a Python worker also stores REVOKED) and skips them when they arrive.
   */
  async revoke(taskIds: string | string[], options: { terminate?: boolean; signal?: string; destination?: string[] } = {}): Promise<void> {
    const ids = Array.isArray(taskIds) ? taskIds : [taskIds];
    const taskId: PyValue = ids.length === 1 ? ids[0]! : ids;
    await this.broadcast('revoke', { task_id: taskId, terminate: options.terminate ?? false, signal: options.signal ?? 'SIGTERM' },
      { destination: options.destination ?? null });
  }
}
