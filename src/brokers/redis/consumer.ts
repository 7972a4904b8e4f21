/**
 * Consuming from Redis lists the way kombu's `MultiChannelPoller` does: BRPOP on a dedicated
 * connection (never polling), keys in priority-major order, `queue_order_strategy` cycling, a BRPOP
 * timeout of `polling_interval` (1 s) so cancel is prompt, and a new BRPOP only while
 * `held < prefetch` (kombu `QoS.can_consume`). Every delivery is recorded in the unacked hash/index
 * before the application sees it.
 *
 * While there is prefetch room, messages already waiting are taken in batches first, without blocking:
 * a Lua script pops up to `room` of them in the order successive BRPOPs would and records each one in
 * the unacked hash/index in the same atomic step, exactly as kombu's `QoS.append` (see `FETCH_BATCH`).
 * Only when it finds nothing does the consumer BRPOP (the blocking wait: never polling).
 *
 * A delivery's unacked entry is kept fresh while it is held, also after the consumer is cancelled (see
 * `UnackedStore.keepFresh`): a long ETA/countdown or acks_late task is not taken by a visibility restore.
 */
import type { Redis } from 'ioredis';
import { decodeRedisEnvelope } from '../../../protocol/index.ts';
import type { RawMessage } from '../../../protocol/types.ts';
import type { ConsumeOptions, Consumer, Delivery } from '../../broker.ts';
import { BrokerError, InvalidMessageError } from '../errors.ts';
import { isReplyError } from '../../redis/client.ts';
import type { QuarantineReason } from '../../../protocol/quarantine.ts';
import type { RedisQuarantine } from '../../quarantine/redis.ts';
import { splitUnacked } from './jsontext.ts';
import { messagePriority, QueueCycle, type RedisKeys } from './keys.ts';
import type { ResolvedRedisOptions } from './options.ts';
import type { Fetched, Taken, UnackedStore } from './qos.ts';

/** Most messages one batch fetch takes when prefetch is unlimited (0). */
const UNLIMITED_BATCH = 100;
/** Batch fetches in flight at once (each for the prefetch room free when it was sent). */
const MAX_FETCHES = 2;
/** Below twice this prefetch, one fetch asks for all the room (see share()). */
const MIN_SHARE = 4;

/** What a consumer needs from its broker. */
export interface ConsumerHost {
  readonly keys: RedisKeys;
  readonly options: ResolvedRedisOptions;
  readonly store: UnackedStore;
  /** `<queue>.celeriac.invalid`: where refused messages are kept (src/quarantine/redis.ts). */
  readonly quarantine: RedisQuarantine;
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

  ack(): Promise<void> {
    return this.settle(() => this.consumer.host.store.remove(this.deliveryTag), true);
  }

  /** `requeue=true` puts it at the BACK of its queue (kombu `restore_by_tag(leftmost=True)`). */
  reject(requeue: boolean): Promise<void> {
    if (requeue) return this.settle(() => this.consumer.host.store.restoreByTag(this.deliveryTag, true, this.queue), false);
    return this.settle(() => this.consumer.host.store.remove(this.deliveryTag), true);
  }

  /**
   * A message the worker will not run: kept with the reason in `<queue>.celeriac.invalid` and removed
   * from the unacked hash in one step. Resolves with that list's name, or null when the bounds keep none
   * (then it is dropped, as `reject(false)`) or when a visibility restore had already taken it back.
   */
  quarantine(reason: QuarantineReason): Promise<string | null> {
    let where: string | null = null;
    const c = this.consumer.host;
    return this.settle(async () => {
      const payload = await c.client.hgetBuffer(c.keys.unacked, this.deliveryTag);
      if (!payload) return; // restored meanwhile: it is back in its queue
      // read byte for byte (latin1), the envelope kept exactly; exchange and routing key are UTF-8
      const parts = splitUnacked(payload.toString('latin1'));
      const envelope = parts.envelope;
      const exchange = Buffer.from(parts.exchange, 'latin1').toString('utf8');
      const routingKey = Buffer.from(parts.routingKey, 'latin1').toString('utf8');
      const key = c.keys.queueKey(this.queue, messagePriority(this.raw.properties.priority));
      where = await c.quarantine.put({ ...reason, queue: this.queue, key, envelope: Buffer.from(envelope, 'latin1'), exchange, routingKey, deliveryTag: this.deliveryTag });
    }, true).then(() => (where === null ? null : `the Redis list ${JSON.stringify(where)}`));
  }

  /** Broker close: back to the FRONT of its queue, flagged redelivered (kombu `restore_unacked`). */
  async giveBack(): Promise<void> {
    if (this.state !== 'held') return;
    this.state = 'settling';
    this.consumer.host.store.stopKeeping(this.deliveryTag);
    try {
      await this.consumer.host.store.restoreByTag(this.deliveryTag, false, this.queue);
    } finally {
      this.state = 'returned';
      this.consumer.release(this);
    }
  }

  /**
   * `releaseEarly`: the operation is a removal queued on the store, which Redis applies before any
   * later batch fetch (same connection, sent first), so the prefetch slot is freed at once rather than
   * after the reply; if the removal fails the delivery is held again.
   */
  private settle(op: () => Promise<unknown>, releaseEarly: boolean): Promise<void> {
    if (this.state === 'settled' || this.state === 'settling') return SETTLED; // a second ack/reject is a no-op
    if (this.state === 'returned') {
      return Promise.reject(new BrokerError(`delivery ${this.deliveryTag} from queue ${JSON.stringify(this.queue)} was already given back to the queue by close(); it will be redelivered`));
    }
    this.state = 'settling';
    this.consumer.host.store.stopKeeping(this.deliveryTag); // before the removal is queued (see keepFresh)
    let done: Promise<unknown>;
    try {
      done = op();
    } catch (err) {
      done = Promise.reject(err);
    }
    if (releaseEarly) this.consumer.release(this);
    // not an async function: one promise per ack, on the path every message takes
    return done.then(
      () => {
        this.state = 'settled';
        if (!releaseEarly) this.consumer.release(this);
      },
      (err: unknown) => {
        this.state = 'held'; // still unacked: close() or a visibility restore gives it back
        this.consumer.keepFresh(this);
        if (releaseEarly) this.consumer.rehold(this);
        throw err;
      },
    );
  }
}

const SETTLED: Promise<void> = Promise.resolve();

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
  /** Batch fetches (Lua) enabled; off after the server refused the script (BRPOP only then). */
  private batching = true;
  /** Prefetch slots promised to the batch fetches in flight. */
  private reserved = 0;
  /** Batch fetches in flight. */
  private fetches = 0;
  /** Handling of the batch fetches in flight, in order; never rejects. */
  private fetched: Promise<void> = Promise.resolve();
  /** A batch fetch took fewer messages than it asked for: the next wait is a BRPOP. */
  private mayBeEmpty = false;
  /** Acks are held for the fetch being prepared (see run()). */
  private holding = false;
  /** The room was re-read after a setImmediate (see run()). */
  private settled = false;
  /** A batch fetch failed (connection): wait 1 s before the next attempt. */
  private backoff = false;

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
      this.host.store.flushRemovals(true); // acks already issued are written before a close() QUITs
    }
  }

  /** Called by a delivery once settled or given back: frees a prefetch slot. */
  release(d: RedisDelivery): void {
    this.held.delete(d);
    this.host.untrack(d);
    this.poke();
  }

  /** A delivery whose early-released ack failed: held (and counted against prefetch) again. */
  rehold(d: RedisDelivery): void {
    this.held.add(d);
    this.host.track(d);
  }

  private report(err: Error): void {
    this.host.report(err, this.onError);
  }

  /** A held delivery's unacked entry is refreshed until it is settled or given back. */
  keepFresh(d: RedisDelivery): void {
    this.host.store.keepFresh(d.deliveryTag, (err) => this.report(err));
  }

  private unhold(): void {
    if (!this.holding) return;
    this.holding = false;
    this.host.store.releaseRemovals();
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
        if (this.backoff) {
          this.backoff = false;
          this.settled = false;
          this.unhold();
          await this.pause(1000);
          continue;
        }
        const room = this.room();
        if (room <= 0) {
          this.settled = false;
          this.unhold();
          await this.pause();
          continue;
        }
        const queues = this.cycle.consume();
        const { keys, keyToQueue } = this.host.keys.brpopKeys(queues);
        if (!this.mayBeEmpty && this.batchable(keys, queues.length)) {
          // round_robin over several queues: the next key order depends on what this fetch takes
          const rotate = this.rotates(queues.length);
          if (this.fetches > 0 && (rotate || this.fetches >= MAX_FETCHES)) {
            this.settled = false;
            this.unhold();
            await this.pause();
            continue;
          }
          // Fewer, fuller batches: messages just delivered usually start (early ack: their slots free
          // up) within the current macrotask, so decide after it (one setImmediate, acks held meanwhile
          // so they ride with the fetch) rather than at the first freed slot; and while a fetch is in
          // flight, wait for a fair share of the prefetch window instead of fetching one message at a
          // time (each fetch is a round trip and a script run on the server).
          if (!this.settled) {
            this.settled = true;
            this.host.store.holdRemovals();
            try {
              await new Promise<void>((resolve) => setImmediate(resolve));
            } finally {
              this.holding = true;
            }
            continue; // re-read the room, queues and keys
          }
          this.settled = false;
          if (this.fetches > 0 && this.prefetch > 0 && room < this.fairShare()) {
            this.unhold();
            await this.pause();
            continue;
          }
          this.startFetch(keys, keyToQueue, queues.length, this.share(room, rotate), rotate);
          this.unhold(); // the fetch took the queued acks
          continue;
        }
        this.settled = false;
        this.unhold();
        if (this.fetches > 0) {
          await this.pause(); // let the fetches in flight settle first
          continue;
        }
        let reply: [Buffer, Buffer] | null;
        try {
          reply = await this.blocking.brpopBuffer(keys, timeout);
        } catch (err) {
          if (this.cancelled) break;
          this.report(new BrokerError(`BRPOP on ${this.host.safeUrl} failed: ${(err as Error).message}; retrying in 1 s`, { cause: err }));
          await this.pause(1000);
          continue;
        }
        if (reply) {
          this.mayBeEmpty = false; // something arrived: look for more without blocking next
          await this.handle(reply[0].toString('utf8'), reply[1], keyToQueue, keys, queues.length);
        }
      }
    } finally {
      this.unhold();
      // fetches in flight are handled (given back: cancelled) before cancel() resolves, unless Redis
      // is unreachable: then they are handled whenever they settle
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.fetched, new Promise<void>((resolve) => (timer = setTimeout(resolve, (timeout + 2) * 1000)))]);
      clearTimeout(timer);
      this.blocking.disconnect();
      this.host.consumerDone(this);
    }
  }

  /** Prefetch slots free now (none while a fetch in flight holds the unlimited batch). */
  private room(): number {
    return this.prefetch > 0 ? this.prefetch - this.held.size - this.reserved : this.fetches > 0 ? 0 : UNLIMITED_BATCH;
  }

  /**
   * How many of the `room` free slots one fetch asks for: a share of the prefetch window, so that a
   * second fetch runs on the server while the worker handles the first one's messages (see startFetch).
   */
  private share(room: number, rotate: boolean): number {
    if (rotate || this.prefetch < 2 * MIN_SHARE) return room;
    return Math.min(room, this.fairShare());
  }

  /** One fetch's share of the prefetch window: what a fetch asks for, and waits for while another is in flight. */
  private fairShare(): number {
    return Math.ceil(this.prefetch / MAX_FETCHES);
  }

  /** The batch script can stand in for BRPOP on `keys`: scripts run and every priority key of the `nq` queues is listed. */
  private batchable(keys: readonly string[], nq: number): boolean {
    return this.batching && keys.length === nq * this.host.options.prioritySteps.length;
  }

  /** round_robin over several queues: the queue that delivered goes last, so key order depends on each delivery. */
  private rotates(nq: number): boolean {
    return this.host.options.queueOrderStrategy === 'round_robin' && nq > 1;
  }

  /**
   * Starts a batch fetch of up to `n` messages (`n` prefetch slots reserved until it is handled).
   * Fetches in flight are handled in the order they were sent (Redis ran them in that order).
   */
  private startFetch(keys: string[], keyToQueue: Map<string, string>, nq: number, n: number, rotate: boolean): void {
    this.reserved += n;
    this.fetches++;
    const reply = this.host.store.fetchBatch(keys, nq, n, rotate).then(
      (got) => ({ got, err: undefined }),
      (err: unknown) => ({ got: [] as Fetched[], err }),
    );
    this.fetched = this.fetched
      .then(async () => {
        const { got, err } = await reply;
        if (err !== undefined) return this.fetchFailed(err);
        if (got.length < n) this.mayBeEmpty = true; // (or stopped before a message only BRPOP's path handles)
        await this.handleFetched(got, keyToQueue);
      })
      .catch((err: unknown) => this.report(new BrokerError(`handling fetched messages failed: ${(err as Error)?.message ?? String(err)}`, { cause: err })))
      .finally(() => {
        this.reserved -= n;
        this.fetches--;
        this.poke();
      })
      // Another reply is waiting to be handled (it usually arrived with this one): first let the
      // loop, woken above, send the next fetch for the slots this batch freed (its setImmediate was
      // queued before this one), so the server runs it while the worker handles that reply. Handling
      // the replies back to back would leave the server idle, then the worker while it waits.
      .then(() => (this.fetches > 0 ? new Promise<void>((resolve) => setImmediate(resolve)) : undefined));
  }

  private fetchFailed(err: unknown): void {
    if (this.cancelled) return;
    if (isReplyError(err)) {
      if (!this.batching) return;
      // the server refused the script (scripting disabled, ACL...): consume with BRPOP alone
      this.batching = false;
      this.report(new BrokerError(`batch fetch on ${this.host.safeUrl} refused (${(err as Error).message}); consuming with BRPOP only`, { cause: err }));
      return;
    }
    if (this.backoff) return;
    this.backoff = true;
    this.report(new BrokerError(`batch fetch on ${this.host.safeUrl} failed: ${(err as Error).message}; retrying in 1 s`, { cause: err }));
  }

  /** A list key as BRPOP named it, without `global_keyprefix`. */
  private keyOf(key: string): string {
    const prefix = this.host.options.globalKeyprefix;
    return prefix && key.startsWith(prefix) ? key.slice(prefix.length) : key;
  }

  private queueOf(key: string, keyToQueue: Map<string, string>): string {
    const q = keyToQueue.get(key);
    if (q !== undefined) return q;
    // kombu `_brpop_read`: strip the prefix, then rsplit(sep, 1)[0]
    const bare = key.startsWith(this.host.options.globalKeyprefix) ? key.slice(this.host.options.globalKeyprefix.length) : key;
    const i = bare.lastIndexOf(this.host.options.sep);
    return i < 0 ? bare : bare.slice(0, i);
  }

  /**
   * A message a BRPOP took: recorded as unacked before it is delivered. Where scripts run, the same
   * command also takes what else is waiting, up to the prefetch room (see `FETCH_BATCH`); when that
   * comes back short the next wait is a BRPOP again, with no empty fetch in between.
   */
  private async handle(key: string, element: Buffer, keyToQueue: Map<string, string>, keys: string[], nq: number): Promise<void> {
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
      let movedTo: string | null = null;
      let failed: unknown;
      try {
        movedTo = await this.host.quarantine.put({ kind: 'malformed', reason: (err as Error).message, queue, key: this.keyOf(key), envelope: element });
      } catch (e) {
        failed = e;
      }
      this.report(new InvalidMessageError(queue, element, movedTo, err, failed));
      return;
    }
    const tag = raw.deliveryTag ?? '';
    let more: Fetched[] = [];
    try {
      if (this.batchable(keys, nq)) {
        // round_robin over several queues: the key order changed with this delivery; take it alone
        const room = this.rotates(nq) ? 0 : Math.max(0, this.room() - 1);
        const taken = { tag, envelope: element, exchange: raw.deliveryInfo.exchange, routingKey: raw.deliveryInfo.routing_key };
        more = await this.recordTaken(keys, nq, room, taken);
        this.mayBeEmpty = more.length < room;
      } else {
        await store.append(tag, element, raw.deliveryInfo.exchange, raw.deliveryInfo.routing_key);
      }
    } catch (err) {
      // not recorded as unacked: give it back rather than deliver it untracked
      await client.rpush(key, element).catch((e: Error) => this.lost(queue, key, element, e));
      this.report(new BrokerError(`queue ${JSON.stringify(queue)}: could not record delivery ${tag} as unacked (${(err as Error).message}); put it back`, { cause: err }));
      await this.pause(1000);
      return;
    }
    this.deliver(new RedisDelivery(this, raw, queue, tag));
    if (more.length > 0) await this.handleFetched(more, keyToQueue);
  }

  /** fetchBatch with a BRPOP's message to record; append's MULTI if the server refuses the script. */
  private async recordTaken(keys: string[], nq: number, room: number, taken: Taken): Promise<Fetched[]> {
    try {
      return await this.host.store.fetchBatch(keys, nq, room, false, taken);
    } catch (err) {
      if (!isReplyError(err)) throw err;
      this.fetchFailed(err); // batching off, reported
      await this.host.store.append(taken.tag, taken.envelope, taken.exchange, taken.routingKey);
      return [];
    }
  }

  /** Delivers messages taken (and recorded as unacked) by a batch fetch, in the order they were taken. */
  private async handleFetched(got: Fetched[], keyToQueue: Map<string, string>): Promise<void> {
    const { store, client } = this.host;
    if (this.cancelled) {
      // taken by the last fetch after cancel(): straight back to the front, untouched
      await store.unfetch(got).catch((err: Error) => {
        this.report(new BrokerError(`could not give back ${got.length} message(s) fetched as the consumer was cancelled (${err.message}); ` +
          `they stay in ${this.host.keys.unacked} until a visibility restore`, { cause: err }));
      });
      return;
    }
    for (let i = 0; i < got.length; i++) {
      const f = got[i]!;
      const queue = this.queueOf(f.key, keyToQueue);
      this.cycle.rotate(queue);
      let raw: RawMessage;
      try {
        raw = decodeRedisEnvelope(f.element);
      } catch (err) {
        // recorded by the script, yet not a message we can deliver: quarantined and no longer unacked, at once
        let movedTo: string | null = null;
        let failed: unknown;
        try {
          movedTo = await this.host.quarantine.put({ kind: 'malformed', reason: (err as Error).message, queue, key: this.keyOf(f.key), envelope: f.element, deliveryTag: f.tag });
        } catch (e) {
          failed = e; // still in the unacked hash: a visibility restore puts it back
        }
        this.report(new InvalidMessageError(queue, f.element, movedTo, err, failed));
        continue;
      }
      const tag = raw.deliveryTag ?? '';
      if (tag !== f.tag || raw.deliveryInfo.exchange !== f.exchange || raw.deliveryInfo.routing_key !== f.routingKey) {
        // the script read the JSON differently from the decoder (e.g. duplicate keys): record it as kombu would
        try {
          await store.rerecord(f.tag, tag, f.element, raw.deliveryInfo.exchange, raw.deliveryInfo.routing_key);
        } catch (err) {
          this.report(new BrokerError(`queue ${JSON.stringify(queue)}: could not re-record delivery ${tag} as unacked (${(err as Error).message}); it stays unacked as ${f.tag} until a visibility restore`, { cause: err }));
          continue;
        }
      }
      this.deliver(new RedisDelivery(this, raw, queue, tag));
    }
  }

  private deliver(delivery: RedisDelivery): void {
    this.held.add(delivery);
    this.host.track(delivery);
    this.keepFresh(delivery);
    try {
      this.onMessage(delivery);
    } catch (err) {
      this.report(new BrokerError(`queue ${JSON.stringify(delivery.queue)}: the message handler threw for delivery ${delivery.deliveryTag} (still unacked): ${(err as Error).message}`, { cause: err }));
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
