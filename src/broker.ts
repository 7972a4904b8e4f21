/**
 * The seam between celeriac's runtime (producer, worker) and a message transport. A transport is chosen
 * by URL scheme (redis://, rediss://, sentinel:// today; amqp:// next) and implements this interface
 * with kombu's exact layout, so Python and TypeScript processes share queues.
 */
import type { QuarantineReason } from '../protocol/quarantine.ts';
import type { RawMessage } from '../protocol/types.ts';
import type { QuarantineStore } from './quarantine/store.ts';

/** Exchange types kombu knows. */
export type ExchangeType = 'direct' | 'topic' | 'fanout' | 'headers';

export interface ExchangeDeclaration {
  name: string;
  type: ExchangeType;
  durable?: boolean;
  autoDelete?: boolean;
}

/** A queue as Celery declares it (`kombu.Queue`): name, exchange, routing key, arguments. */
export interface QueueDeclaration {
  name: string;
  exchange: ExchangeDeclaration;
  routingKey: string;
  durable?: boolean;
  autoDelete?: boolean;
  exclusive?: boolean;
  /** `x-max-priority`, `x-queue-type`, `x-expires`, ... */
  arguments?: Record<string, unknown>;
  /** Consumer-side priority for `x-max-priority` queues. */
  maxPriority?: number;
}

/** Where to publish: Celery sends direct-queue tasks to exchange `""` with routing key = queue name. */
export interface PublishTarget {
  exchange: string;
  routingKey: string;
  /** Declared (once per connection) before the first publish, as kombu's `maybe_declare` does. */
  declare?: QueueDeclaration[];
  /** The exchange type when `exchange` is not `""`; Redis keeps no exchange metadata. */
  exchangeType?: ExchangeType;
  /**
   * Seconds until the task's eta, as `Celery.send_task` computes it (`eta - now`, else `countdown`),
   * when the task has one. The AMQP transport uses it for native delayed delivery (quorum queues).
   */
  countdown?: number;
}

/** One delivered message. Exactly one of ack / reject must be called (the worker guarantees it). */
export interface Delivery {
  readonly raw: RawMessage;
  /** The queue it was taken from. */
  readonly queue: string;
  ack(): Promise<void>;
  /** `requeue=false` drops it (dead-letters on AMQP); `requeue=true` puts it back. */
  reject(requeue: boolean): Promise<void>;
  /**
   * Settles a message the worker will not run by keeping it, with the reason, in its queue's
   * quarantine `<queue>.celeriac.invalid` (src/quarantine/). Resolves with where it went (a phrase for
   * the log), or null when it was dropped (`worker_quarantine_max_messages` 0). Optional: without it
   * the worker rejects such messages, as Celery does.
   */
  quarantine?(reason: QuarantineReason): Promise<string | null>;
}

export interface ConsumeOptions {
  /** Max unacked deliveries held (0 = unlimited), like `basic_qos(prefetch_count)`. */
  prefetch: number;
  /**
   * Problems the consumer cannot hand to a delivery: a malformed message (an error naming the queue,
   * with the ProtocolError as `cause`; the message is moved aside, not lost), connection failures
   * (naming the safe URL), a handler that threw. Default: the broker's `onError`, else `console.error`.
   */
  onError?: (error: Error) => void;
}

export interface Consumer {
  /** Change the prefetch limit (the worker raises it for each held ETA task). */
  setPrefetch(n: number): void;
  /** Stop taking new messages; resolves when no fetch is in flight. Held deliveries stay unacked. */
  cancel(): Promise<void>;
}

/** One binding as `celery list bindings` prints it (kombu `Management.get_bindings`: destination, source, routing_key). */
export interface BindingRow {
  /** The queue (kombu's `destination`). */
  queue: string;
  /** The exchange (kombu's `source`; `''` is the default exchange). */
  exchange: string;
  routingKey: string;
}

export interface Broker {
  /** Redacted URL for logs and errors (never contains a password). */
  readonly safeUrl: string;
  connect(): Promise<void>;
  declareQueue(queue: QueueDeclaration): Promise<void>;
  publish(raw: RawMessage, target: PublishTarget): Promise<void>;
  consume(queues: string[], onMessage: (delivery: Delivery) => void, options: ConsumeOptions): Consumer;
  /**
   * Consume `queue`, bound to a fanout exchange, the way kombu does (remote control's
   * `<host>.celery.pidbox`): Redis subscribes to the exchange's pub/sub channel, AMQP declares the queue
   * with its arguments and consumes it without acks. Optional: transports without it cannot be remote-controlled.
   */
  consumeFanout?(queue: QueueDeclaration, onMessage: (raw: RawMessage) => void, options?: { onError?: (error: Error) => void }): Promise<Consumer>;
  /**
   * kombu `Exchange.declare` (events declare `celeryev` before publishing to it). Optional: Redis keeps
   * no exchanges, so it needs none.
   */
  declareExchange?(exchange: ExchangeDeclaration): Promise<void>;
  /** Number of messages waiting in a queue (all priority levels). */
  queueLength(queue: string): Promise<number>;
  purge(queue: string): Promise<number>;
  /**
   * kombu's `queue_delete` as `Channel.after_reply_message_received` calls it for a reply queue on
   * virtual transports: the queue's binding and its messages go. Optional: AMQP reply queues are
   * auto-deleted by the server once their consumer leaves.
   */
  deleteQueue?(queue: QueueDeclaration): Promise<void>;
  /**
   * The bindings of these exchanges, or without `exchanges` every binding the broker can list
   * (`celery list bindings`): Redis reads kombu's `_kombu.binding.<exchange>` sets, AMQP asks RabbitMQ's
   * management API. Optional: a transport without it cannot list bindings.
   */
  listBindings?(exchanges?: readonly string[]): Promise<BindingRow[]>;
  /** `celeriac quarantine`: the quarantine of each queue (src/quarantine/). Optional. */
  quarantineStore?(): QuarantineStore;
  /** Gives back every unacked delivery this broker holds (front of the queue), then disconnects. */
  close(): Promise<void>;
}
