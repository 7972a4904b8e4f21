/**
 * Moving queued task messages from one broker to another, as Celery's `celery.contrib.migrate`
 * (`migrate_tasks` / `republish`) does: each message is consumed from the source and published to the
 * destination with the same body, headers and properties (priority, correlation id, reply_to, delivery
 * mode, ...), to the same exchange and routing key, or to renamed ones (`-Q src:dest`).
 *
 * No message is lost: a message is acked on the source only after the destination accepted it (Redis
 * wrote it; RabbitMQ confirmed it), and only with `ackMessages` (Celery's `--ack-messages`). Without it
 * the messages are copied: they stay unacked on the source and the caller's `close()` of the source
 * gives them back (Celery leaves them to RabbitMQ's requeue or Redis's visibility timeout). A publish
 * that fails stops the migration; that message and every one not yet migrated stay on the source.
 *
 * Differences from Celery, each on the side of not losing or doubling messages:
 * - with `limit`, the last message is migrated, acked and reported like the others (Celery publishes it
 *   and stops before acking it, so with `-a` it ends up on both brokers);
 * - `tasks` filters on the task name of protocol 2 messages too (Celery reads `body['task']`, which
 *   only a protocol 1 body has); messages of other tasks stay on the source, untouched;
 * - `timeout` null waits as long as messages come (Celery's command without `-t` waits forever; that
 *   is `forever`).
 */
import { decodeBody, decodeTaskHeaders } from '../../protocol/message.ts';
import type { RawMessage } from '../../protocol/types.ts';
import { isPlainObject, type PyValue } from '../../protocol/values.ts';
import type { Broker, Consumer, Delivery, QueueDeclaration } from '../broker.ts';

/** Celery's `migrate.State`: messages migrated and the approximate total at the start. */
export class MigrationState {
  count = 0;
  /** Messages waiting in the source queues when the migration started (Celery's `total_apx`). */
  totalApx = 0;
  /** `'?'` when the total is not known (Celery's `strtotal`). */
  get strtotal(): string {
    return this.totalApx ? String(this.totalApx) : '?';
  }
}

/**
 * Celery's `prepare_queues`: `"a,b:c"` -> `{a: a, b: c}` (consume `a` and `b`; messages of `b` go to `c`
 * on the destination, its exchange and routing key renamed where they were `b`).
 */
export function prepareQueues(spec: string | readonly string[] | null | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (spec === null || spec === undefined) return out;
  const items = typeof spec === 'string' ? spec.split(',') : spec;
  for (const item of items) {
    if (item === '') continue;
    const [from, to] = item.split(':');
    out.set(from!, to === undefined || to === '' ? from! : to);
  }
  return out;
}

/** Celery's `on_declare_queue`: the queue as declared on the destination, renamed per the map. */
export function renamedQueue(queue: QueueDeclaration, renames: ReadonlyMap<string, string>): QueueDeclaration {
  const to = renames.get(queue.name) ?? queue.name;
  if (to === queue.name) return queue;
  return {
    ...queue,
    name: to,
    routingKey: queue.routingKey === queue.name ? to : queue.routingKey,
    exchange: queue.exchange.name === queue.name ? { ...queue.exchange, name: to } : queue.exchange,
  };
}

/** The task name of a message: the `task` header (protocol 2) or the body's `task` (protocol 1). */
export function taskNameOf(raw: RawMessage, body: PyValue | undefined): string | null {
  try {
    const info = decodeTaskHeaders(raw);
    if (info.task !== null) return info.task;
  } catch {
    // not a task message we can read: fall back to the body
  }
  if (isPlainObject(body) && typeof (body as Record<string, unknown>).task === 'string') return (body as Record<string, string>).task ?? null;
  return null;
}

/** The decoded body, or undefined when it cannot be decoded here (pickle, a broken message). */
export function tryDecodeBody(raw: RawMessage): PyValue | undefined {
  try {
    return decodeBody(raw, { accept: ['json', 'msgpack', 'yaml'] });
  } catch {
    return undefined;
  }
}

export interface MigrateOptions {
  source: Broker;
  dest: Broker;
  /** The source queues to consume (declared on the source first, as Celery's consumer does). */
  queues: readonly QueueDeclaration[];
  /** `-Q` renames (see {@link prepareQueues}); queues not in it keep their names. */
  renames?: ReadonlyMap<string, string>;
  /** Stop after this many messages were migrated. */
  limit?: number | null;
  /** Stop when no message came for this many seconds (Celery: 1.0); null: never. */
  timeout?: number | null;
  /** Ack each message on the source once the destination has it (a move; else a copy). */
  ackMessages?: boolean;
  /** Migrate only messages of these task names. */
  tasks?: ReadonlySet<string> | null;
  /** Keep going after `timeout` (Celery's `--forever`): stops only on `limit`, an error or {@link Migration.stop}. */
  forever?: boolean;
  /** After each migrated message (Celery's callback: the command prints `Migrating task N/M: body`). */
  onMigrated?: (state: MigrationState, body: PyValue | undefined, raw: RawMessage) => void;
  /** Problems the source consumer reports (a malformed message set aside, a reconnect). */
  onError?: (error: Error) => void;
}

/** A running migration: `done` resolves with the state (or rejects with the publish error that stopped it). */
export interface Migration {
  readonly state: MigrationState;
  readonly done: Promise<MigrationState>;
  /** Stop taking messages (SIGINT); `done` resolves once the message in hand is settled. */
  stop(): void;
}

/** Deliveries handled at once (the consumer's prefetch beyond the messages deliberately left unacked). */
const WINDOW = 10;

/**
 * Starts migrating (see the module notes). The caller closes both brokers after `done` settles: closing
 * the source gives back every message left unacked.
 */
export async function migrateTasks(o: MigrateOptions): Promise<Migration> {
  const state = new MigrationState();
  const renames = o.renames ?? new Map<string, string>();
  const destQueues = new Map<string, QueueDeclaration>();
  for (const q of o.queues) {
    await o.source.declareQueue(q);
    try {
      state.totalApx += await o.source.queueLength(q.name);
    } catch {
      // Celery ignores a queue it cannot count (channel errors)
    }
    const d = renamedQueue(q, renames);
    await o.dest.declareQueue(d);
    destQueues.set(q.name, d);
  }

  let held = 0;
  let consumer: Consumer | null = null;
  let stopped = false;
  let chain: Promise<void> = Promise.resolve();
  let idle: NodeJS.Timeout | undefined;
  let finish!: (err?: unknown) => void;
  const done = new Promise<MigrationState>((resolve, reject) => {
    finish = (err?: unknown) => {
      if (stopped) return;
      stopped = true;
      if (idle) clearTimeout(idle);
      const c = consumer;
      void (async () => {
        await c?.cancel().catch(() => undefined);
        // the message in hand settles before the caller closes the brokers
        await chain.catch(() => undefined);
        if (err === undefined) resolve(state);
        else reject(err);
      })();
    };
  });

  const armIdle = () => {
    if (idle) clearTimeout(idle);
    idle = undefined;
    if (stopped || o.forever || o.timeout === null || o.timeout === undefined) return;
    idle = setTimeout(() => finish(), o.timeout * 1000);
  };

  const keep = () => {
    // a message left unacked on purpose: widen the prefetch so the consumer goes on
    held++;
    consumer?.setPrefetch(held + WINDOW);
  };

  const handle = async (d: Delivery): Promise<void> => {
    if (stopped) return; // left unacked: the source's close() gives it back
    const raw = d.raw;
    const body = tryDecodeBody(raw);
    if (o.tasks && o.tasks.size) {
      const name = taskNameOf(raw, body);
      if (name === null || !o.tasks.has(name)) return keep();
    }
    const info = raw.deliveryInfo ?? { exchange: '', routing_key: d.queue };
    const exchange = renames.get(info.exchange) ?? info.exchange;
    const routingKey = renames.get(info.routing_key) ?? info.routing_key;
    const destQueue = destQueues.get(d.queue);
    const target = { exchange, routingKey, ...(destQueue && destQueue.exchange.name === exchange && exchange ? { exchangeType: destQueue.exchange.type } : {}) };
    const { deliveryInfo: _di, deliveryTag: _dt, ...message } = raw;
    try {
      await o.dest.publish({ ...message, deliveryInfo: { exchange, routing_key: routingKey } }, target);
    } catch (err) {
      // not acked: it stays on the source
      finish(err);
      return;
    }
    if (o.ackMessages) {
      try {
        await d.ack();
      } catch (err) {
        // the destination has it and the source still does: stop before anything else is doubled
        finish(err);
        return;
      }
    } else keep();
    state.count++;
    o.onMigrated?.(state, body, raw);
    if (o.limit && state.count >= o.limit) finish();
  };

  consumer = o.source.consume(o.queues.map((q) => q.name), (d) => {
    if (stopped) return;
    if (idle) clearTimeout(idle);
    chain = chain.then(() => handle(d)).then(armIdle, (err) => finish(err));
  }, { prefetch: WINDOW, ...(o.onError ? { onError: o.onError } : {}) });
  armIdle();
  return { state, done, stop: () => finish() };
}
