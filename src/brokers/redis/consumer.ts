/**
 * Consuming from Redis lists the way kombu's `MultiChannelPoller` does: BRPOP on a dedicated
 * connection (never polling), keys in priority-major order, `queue_order_strategy` cycling, a BRPOP
 * timeout of `polling_interval` (1 s) so cancel is prompt, and a new BRPOP only while
 * `held < prefetch` (kombu `QoS.can_consume`). Every delivery is recorded in the unacked hash/index
 * before the application sees it.
 */
import type { Redis } from 'ioredis';
import { decodeRedisEnvelope } from '../../../protocol/index.ts';
import type { RawMessage } from '../../../protocol/types.ts';
import type { ConsumeOptions, Consumer, Delivery } from '../../broker.ts';
import { BrokerError, InvalidMessageError } from '../errors.ts';
import { QueueCycle, type RedisKeys } from './keys.ts';
import type { ResolvedRedisOptions } from './options.ts';
import type { UnackedStore } from './qos.ts';

/** What a consumer needs from its broker. */
export interface ConsumerHost {
  readonly keys: RedisKeys;
  readonly options: ResolvedRedisOptions;
  readonly store: UnackedStore;
  readonly safeUrl: string;
  /** The broker's shared (non-blocking) connection. */
  readonly client: Redis;
  /** A new connection for blocking commands, with error reporting attached. */
  newBlockingClient(report: (err: Error) => void): Redis;
  report(err: Error, onError?: (err: Error) => void): void;
  track(delivery: RedisDelivery): void;
  untrack(delivery: RedisDelivery): void;
  consumerDone(consumer: RedisConsumer): void;
  /** Starts the periodic visibility restore (if not running); resolves after the first scan. */
  startRestoring(onError?: (err: Error) => void): Promise<void>;
}

type State = 'held' | 'settling' | 'settled' | 'returned';

/** One message taken from a list; held (unacked) until ack/reject. */
export class RedisDelivery implements Delivery {
  private state: State = 'held';

  constructor(
    private readonly consumer: RedisConsumer,
    readonly raw: RawMessage,
    readonly queue: string,
    /** The envelope's `delivery_tag`: the field of the unacked hash. */
    readonly deliveryTag: string,
  ) {}

  get settled(): boolean {
    return this.state !== 'held';
  }

  async ack(): Promise<void> {
    await this.settle(() => this.consumer.host.store.remove(this.deliveryTag));
  }

  /** `requeue=true` puts it at the BACK of its queue (kombu `restore_by_tag(leftmost=True)`). */
  async reject(requeue: boolean): Promise<void> {
    await this.settle(() =>
      requeue ? this.consumer.host.store.restoreByTag(this.deliveryTag, true, this.queue) : this.consumer.host.store.remove(this.deliveryTag),
    );
  }

  /** Broker close: back to the FRONT of its queue, flagged redelivered (kombu `restore_unacked`). */
  async giveBack(): Promise<void> {
    if (this.state !== 'held') return;
    this.state = 'settling';
    try {
      await this.consumer.host.store.restoreByTag(this.deliveryTag, false, this.queue);
    } finally {
      this.state = 'returned';
      this.consumer.release(this);
    }
  }

  private async settle(op: () => Promise<unknown>): Promise<void> {
    if (this.state === 'settled' || this.state === 'settling') return; // a second ack/reject is a no-op
    if (this.state === 'returned') {
      throw new BrokerError(`delivery ${this.deliveryTag} from queue ${JSON.stringify(this.queue)} was already given back to the queue by close(); it will be redelivered`);
    }
    this.state = 'settling';
    try {
      await op();
    } catch (err) {
      this.state = 'held'; // still unacked: close() or a visibility restore gives it back
      throw err;
    }
    this.state = 'settled';
    this.consumer.release(this);
  }
}

export class RedisConsumer implements Consumer {
  private prefetch: number;
  private cancelled = false;
  private readonly held = new Set<RedisDelivery>();
  private readonly cycle: QueueCycle;
  private readonly blocking: Redis;
  private wake: (() => void) | undefined;
  private onCancel: (() => void) | undefined;
  private readonly cancelled$ = new Promise<void>((resolve) => (this.onCancel = resolve));
  private readonly done: Promise<void>;
  private readonly onError: ((err: Error) => void) | undefined;

  constructor(
    readonly host: ConsumerHost,
    readonly queues: readonly string[],
    private readonly onMessage: (delivery: Delivery) => void,
    options: ConsumeOptions,
  ) {
    this.prefetch = options.prefetch;
    this.onError = options.onError;
    this.cycle = new QueueCycle(queues, host.options.queueOrderStrategy);
    this.blocking = host.newBlockingClient((err) => this.report(err));
    this.done = this.run();
  }

  /** Deliveries this consumer holds (delivered, not yet acked/rejected). */
  get unacked(): number {
    return this.held.size;
  }

  setPrefetch(n: number): void {
    this.prefetch = n;
    this.poke();
  }

  async cancel(): Promise<void> {
    this.cancelled = true;
    this.onCancel?.();
    this.poke();
    // a BRPOP in flight returns within brpop_timeout; if the connection is down, stop waiting for it
    const force = setTimeout(() => this.blocking.disconnect(), (this.host.options.brpopTimeout + 2) * 1000);
    try {
      await this.done;
    } finally {
      clearTimeout(force);
    }
  }

  /** Called by a delivery once settled or given back: frees a prefetch slot. */
  release(d: RedisDelivery): void {
    this.held.delete(d);
    this.host.untrack(d);
    this.poke();
  }

  private report(err: Error): void {
    this.host.report(err, this.onError);
  }

  private poke(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  private pause(ms?: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = ms === undefined ? undefined : setTimeout(() => this.poke(), ms);
      this.wake = () => {
        if (timer) clearTimeout(timer);
        resolve();
      };
    });
  }

  private async run(): Promise<void> {
    const timeout = this.host.options.brpopTimeout;
    try {
      // like kombu's on_poll_init: restore visible messages before the first BRPOP
      await Promise.race([this.host.startRestoring(this.onError), this.cancelled$]);
      while (!this.cancelled) {
        if (this.prefetch > 0 && this.held.size >= this.prefetch) {
          await this.pause();
          continue;
        }
        const { keys, keyToQueue } = this.host.keys.brpopKeys(this.cycle.consume());
        let reply: [Buffer, Buffer] | null;
        try {
          reply = await this.blocking.brpopBuffer(keys, timeout);
        } catch (err) {
          if (this.cancelled) break;
          this.report(new BrokerError(`BRPOP on ${this.host.safeUrl} failed: ${(err as Error).message}; retrying in 1 s`, { cause: err }));
          await this.pause(1000);
          continue;
        }
        if (reply) await this.handle(reply[0].toString('utf8'), reply[1], keyToQueue);
      }
    } finally {
      this.blocking.disconnect();
      this.host.consumerDone(this);
    }
  }

  private queueOf(key: string, keyToQueue: Map<string, string>): string {
    const q = keyToQueue.get(key);
    if (q !== undefined) return q;
    // kombu `_brpop_read`: strip the prefix, then rsplit(sep, 1)[0]
    const bare = key.startsWith(this.host.options.globalKeyprefix) ? key.slice(this.host.options.globalKeyprefix.length) : key;
    const i = bare.lastIndexOf(this.host.options.sep);
    return i < 0 ? bare : bare.slice(0, i);
  }

  private async handle(key: string, element: Buffer, keyToQueue: Map<string, string>): Promise<void> {
    const { store, client } = this.host;
    const queue = this.queueOf(key, keyToQueue);
    this.cycle.rotate(queue);
    if (this.cancelled) {
      // taken by the last BRPOP after cancel(): straight back to the front, untouched
      await client.rpush(key, element).catch((err: Error) => this.lost(queue, key, element, err));
      return;
    }
    let raw: RawMessage;
    try {
      raw = decodeRedisEnvelope(element);
    } catch (err) {
      const dest = this.host.keys.invalidKey(queue);
      let movedTo: string | null = dest;
      await client.lpush(dest, element).catch(() => (movedTo = null));
      this.report(new InvalidMessageError(queue, element, movedTo, err));
      return;
    }
    const tag = raw.deliveryTag ?? '';
    try {
      await store.append(tag, element, raw.deliveryInfo.exchange, raw.deliveryInfo.routing_key);
    } catch (err) {
      // not recorded as unacked: give it back rather than deliver it untracked
      await client.rpush(key, element).catch((e: Error) => this.lost(queue, key, element, e));
      this.report(new BrokerError(`queue ${JSON.stringify(queue)}: could not record delivery ${tag} as unacked (${(err as Error).message}); put it back`, { cause: err }));
      await this.pause(1000);
      return;
    }
    const delivery = new RedisDelivery(this, raw, queue, tag);
    this.held.add(delivery);
    this.host.track(delivery);
    try {
      this.onMessage(delivery);
    } catch (err) {
      this.report(new BrokerError(`queue ${JSON.stringify(queue)}: the message handler threw for delivery ${tag} (still unacked): ${(err as Error).message}`, { cause: err }));
    }
  }

  private lost(queue: string, key: string, element: Buffer, err: Error): void {
    const e = new BrokerError(
      `queue ${JSON.stringify(queue)}: could not push a message (${element.length} bytes) back to ${JSON.stringify(key)}: ${err.message}; ` +
        'its raw bytes are on this error (.raw)',
      { cause: err },
    );
    this.report(Object.assign(e, { raw: element }));
  }
}
