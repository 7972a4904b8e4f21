/**
 * An in-memory broker and result backend for the worker's unit tests: deliveries are handed to the
 * worker by the test (`deliver`), acks and rejects are logged, publishes recorded, results kept in order.
 */
import type { ResultMeta } from '../../protocol/result.ts';
import type { RawMessage } from '../../protocol/types.ts';
import type { ResultBackend } from '../../src/backend.ts';
import type { Broker, ConsumeOptions, Consumer, Delivery, PublishTarget } from '../../src/broker.ts';

export class MemDelivery implements Delivery {
  settled: string | null = null;
  constructor(readonly raw: RawMessage, readonly queue: string, private readonly owner: MemBroker) {}
  async ack() {
    this.settled = 'ack';
    this.owner.log.push(`ack:${String(this.raw.headers.id)}`);
  }
  async reject(requeue: boolean) {
    this.settled = requeue ? 'requeue' : 'reject';
    this.owner.log.push(`${this.settled}:${String(this.raw.headers.id)}`);
  }
}

export class MemBroker implements Broker {
  readonly safeUrl = 'memory://';
  readonly log: string[] = [];
  readonly published: { raw: RawMessage; target: PublishTarget }[] = [];
  /** Task messages published to queue `q` come back to the worker (retries). */
  loopback = false;
  /** publish() of these task names fails. */
  failPublishOf = new Set<string>();
  onMessage: ((d: Delivery) => void) | null = null;
  prefetch: number[] = [];
  deliveries: MemDelivery[] = [];
  closed = false;
  async connect() {}
  async declareQueue() {}
  async publish(raw: RawMessage, target: PublishTarget) {
    if (target.exchange === 'celeryev') return; // worker-online / heartbeat events (tested in events.test.ts)
    if (this.failPublishOf.has(String(raw.headers.task))) throw new Error('publish refused');
    this.published.push({ raw, target });
    if (this.loopback && target.routingKey === 'q') setImmediate(() => this.deliver(raw));
  }
  consume(_queues: string[], onMessage: (d: Delivery) => void, options: ConsumeOptions): Consumer {
    this.onMessage = onMessage;
    this.prefetch.push(options.prefetch);
    return { setPrefetch: (n) => void this.prefetch.push(n), cancel: async () => void (this.onMessage = null) };
  }
  deliver(raw: RawMessage, queue = 'q'): MemDelivery {
    const d = new MemDelivery(raw, queue, this);
    this.deliveries.push(d);
    this.onMessage!(d);
    return d;
  }
  async queueLength() {
    return 0;
  }
  async purge() {
    return 0;
  }
  async close() {
    this.closed = true;
    for (const d of this.deliveries) if (!d.settled) this.log.push(`given-back:${String(d.raw.headers.id)}`);
  }
}

export class MemBackend implements ResultBackend {
  readonly safeUrl = 'memory://';
  readonly stored: ResultMeta[] = [];
  reads = 0;
  failReads = false;
  async connect() {}
  async storeResult(meta: ResultMeta) {
    this.stored.push(meta);
  }
  async getTaskMeta(id: string): Promise<ResultMeta> {
    this.reads++;
    if (this.failReads) throw new Error('backend down');
    return [...this.stored].reverse().find((m) => m.task_id === id) ?? ({ status: 'PENDING', task_id: id } as ResultMeta);
  }
  async waitForReady(id: string) {
    return this.getTaskMeta(id);
  }
  async forget() {}
  async saveGroup() {}
  async restoreGroup() {
    return null;
  }
  async deleteGroup() {}
  async close() {}
  states(id: string) {
    return this.stored.filter((m) => m.task_id === id).map((m) => m.status);
  }
  /** A record stored by another worker. */
  put(id: string, status: string, result: unknown, children: unknown[] | null = []) {
    this.stored.push({ task_id: id, status, result, traceback: null, children, date_done: '2026-01-01T00:00:00' } as unknown as ResultMeta);
  }
}
