/**
 * Remote control, the client side (Celery's `app.control`, `celery/app/control.py:Control`): every
 * control command Celery 5.6 has, with Celery's argument names and defaults on the wire, sent through
 * the `<control_exchange>.pidbox` fanout exchange to Python and TypeScript workers alike. Without
 * `reply: true` a command is only sent (resolves to undefined); with it, the replies of all workers
 * are collected (`[{hostname: reply}, ...]`) for `timeout` seconds. `inspect()` asks questions.
 *
 *   await app.control.rateLimit('proj.tasks.add', '10/m');
 *   const replies = await app.control.poolGrow(2, { reply: true, timeout: 2 });
 *   const pongs = await app.control.ping();                // [{ 'celery@a': { ok: 'pong' } }, ...]
 *   const active = await app.control.inspect().active();   // { 'celery@a': [...] } or null
 */
import type { PyDict, PyValue } from '../../protocol/values.ts';
import type { Broker } from '../broker.ts';
import type { FloatValue } from './float.ts';
import { Inspect, type InspectOptions } from './inspect.ts';
import { Mailbox, type BroadcastOptions, type Clock, type ControlSettings, type MailboxCodec } from './mailbox.ts';

export type { BroadcastOptions, ControlSettings, Clock } from './mailbox.ts';

/** What a command resolves to: the replies with `reply: true`, else undefined. */
export type Replies<O> = O extends { reply: true } ? PyDict[] : O extends { reply?: false | undefined } ? undefined : PyDict[] | undefined;

/** Options of `revoke` / `terminate` / `revokeByStampedHeaders`. */
export interface RevokeOptions extends BroadcastOptions {
  /** Also terminate the process running the task. @default false */
  terminate?: boolean;
  /** Signal for `terminate`. @default 'SIGTERM' */
  signal?: string;
}

/** Options of `addConsumer`. */
export interface AddConsumerOptions extends BroadcastOptions {
  /** @default the queue's name */
  exchange?: string | null;
  /** @default 'direct' */
  exchangeType?: string;
  /** @default the queue's name */
  routingKey?: string | null;
  /** More `kombu.Queue.from_dict` options, sent as arguments (`queue_arguments`, `durable`, ...). */
  options?: PyDict | null;
}

/** Options of `timeLimit`: the new limits in seconds (null clears one). */
export interface TimeLimitOptions extends BroadcastOptions {
  soft?: number | null;
  hard?: number | null;
}

/** Options of `poolRestart`. */
export interface PoolRestartOptions extends BroadcastOptions {
  modules?: string[] | null;
  reload?: boolean;
  reloader?: string | null;
}

/** `app.control.ping()`'s options: the reply is always collected. */
export type PingOptions = Omit<BroadcastOptions, 'reply'>;

const TERM_SIGNAME = 'SIGTERM';

/** The broadcast options out of a command's options (the rest are its own arguments). */
function broadcastPart(o: BroadcastOptions): BroadcastOptions {
  const { destination, reply, timeout, limit, callback, pattern, matcher } = o;
  return { destination, reply, timeout, limit, callback, pattern, matcher };
}

export class Control {
  private readonly mailbox: Mailbox;
  private readonly parts: { broker: () => Promise<Broker>; conf: () => ControlSettings; clock: Clock };
  /** The `withCodec` copies, closed with this one. */
  private readonly derived: Control[] = [];

  /**
   * @param broker the broker to send through (connected on first use)
   * @param settings the control settings (or a function giving the current ones), or just the
   *   `control_exchange` name
   * @param clock the app's Lamport clock (Celery's `app.clock`)
   */
  constructor(
    broker: () => Promise<Broker>,
    settings: ControlSettings | (() => ControlSettings) | string = 'celery',
    clock: Clock = counter(),
    codec?: MailboxCodec,
  ) {
    const conf: () => ControlSettings =
      typeof settings === 'function' ? settings : typeof settings === 'string' ? () => ({ controlExchange: settings }) : () => settings;
    this.mailbox = new Mailbox(broker, conf, clock, codec);
    this.parts = { broker, conf, clock };
  }

  /**
   * This control with another way to write requests and read replies, on the same broker, settings
   * and clock (the CLI reads replies keeping Python's floats: `withCodec(floatCodec)`).
   */
  withCodec(codec: MailboxCodec): Control {
    const derived = new Control(this.parts.broker, this.parts.conf, this.parts.clock, codec);
    this.derived.push(derived);
    return derived;
  }

  /** `app.control.inspect(destination, timeout, callback, limit, pattern, matcher)`. */
  inspect(options: InspectOptions = {}): Inspect {
    return new Inspect((command, args, o) => this.mailbox.broadcast(command, args, o) as Promise<PyDict[]>, options);
  }

  /**
   * `app.control.broadcast(command, arguments, ...)`: any command by name. With `reply: true`, the
   * replies `[{hostname: reply}, ...]`.
   */
  broadcast<O extends BroadcastOptions = {}>(command: string, args: PyDict | FloatValue = {}, options?: O): Promise<Replies<O>> {
    return this.mailbox.broadcast(command, args as FloatValue, options ?? {}) as Promise<Replies<O>>;
  }

  /** `[{node: {ok: 'pong'}}, ...]` from every (or each named) worker. */
  async ping(options: PingOptions = {}): Promise<PyDict[]> {
    return (await this.mailbox.broadcast('ping', {}, { ...options, reply: true }))!;
  }

  /**
   * Every worker marks the ids revoked (a Python worker also stores REVOKED) and skips them when
   * they arrive; `terminate` also stops a running one with `signal`.
   */
  revoke<O extends RevokeOptions = {}>(taskIds: string | string[], options?: O): Promise<Replies<O>> {
    const o: RevokeOptions = options ?? {};
    return this.broadcast('revoke', { task_id: taskIds, terminate: o.terminate ?? false, signal: o.signal ?? TERM_SIGNAME }, broadcastPart(o)) as Promise<Replies<O>>;
  }

  /** Revokes the tasks whose stamped headers match (`{header: value or [values]}`). */
  revokeByStampedHeaders<O extends RevokeOptions = {}>(headers: PyDict, options?: O): Promise<Replies<O>> {
    const o: RevokeOptions = options ?? {};
    return this.broadcast('revoke_by_stamped_headers', { headers, terminate: o.terminate ?? false, signal: o.signal ?? TERM_SIGNAME }, broadcastPart(o)) as Promise<Replies<O>>;
  }

  /** `revoke` with `terminate: true`. */
  terminate<O extends Omit<RevokeOptions, 'terminate'> = {}>(taskIds: string | string[], options?: O): Promise<Replies<O>> {
    return this.revoke(taskIds, { ...(options ?? {}), terminate: true }) as Promise<Replies<O>>;
  }

  /** A new rate limit for a task by name (`'100/m'`, `'5/s'`, a number per second; `0`/null: none). */
  rateLimit<O extends BroadcastOptions = {}>(taskName: string, rateLimit: string | number | null, options?: O): Promise<Replies<O>> {
    return this.broadcast('rate_limit', { task_name: taskName, rate_limit: rateLimit }, broadcastPart(options ?? {})) as Promise<Replies<O>>;
  }

  /** New soft/hard time limits (seconds) for a task by name. */
  timeLimit<O extends TimeLimitOptions = {}>(taskName: string, options?: O): Promise<Replies<O>> {
    const o: TimeLimitOptions = options ?? {};
    return this.broadcast('time_limit', { task_name: taskName, hard: o.hard ?? null, soft: o.soft ?? null }, broadcastPart(o)) as Promise<Replies<O>>;
  }

  /** Start consuming from a queue (exchange and routing key default to its name on the worker). */
  addConsumer<O extends AddConsumerOptions = {}>(queue: string, options?: O): Promise<Replies<O>> {
    const o: AddConsumerOptions = options ?? {};
    const args: PyDict = { queue, exchange: o.exchange ?? null, exchange_type: o.exchangeType ?? 'direct', routing_key: o.routingKey ?? null, ...(o.options ?? {}) };
    return this.broadcast('add_consumer', args, broadcastPart(o)) as Promise<Replies<O>>;
  }

  /** Stop consuming from a queue. */
  cancelConsumer<O extends BroadcastOptions = {}>(queue: string, options?: O): Promise<Replies<O>> {
    return this.broadcast('cancel_consumer', { queue }, broadcastPart(options ?? {})) as Promise<Replies<O>>;
  }

  /** Send task events (`-E`). */
  enableEvents<O extends BroadcastOptions = {}>(options?: O): Promise<Replies<O>> {
    return this.broadcast('enable_events', {}, broadcastPart(options ?? {})) as Promise<Replies<O>>;
  }

  /** Stop sending task events. */
  disableEvents<O extends BroadcastOptions = {}>(options?: O): Promise<Replies<O>> {
    return this.broadcast('disable_events', {}, broadcastPart(options ?? {})) as Promise<Replies<O>>;
  }

  /** Grow the pool by `n` processes/threads. */
  poolGrow<O extends BroadcastOptions = {}>(n = 1, options?: O): Promise<Replies<O>> {
    return this.broadcast('pool_grow', { n }, broadcastPart(options ?? {})) as Promise<Replies<O>>;
  }

  /** Shrink the pool by `n` processes/threads. */
  poolShrink<O extends BroadcastOptions = {}>(n = 1, options?: O): Promise<Replies<O>> {
    return this.broadcast('pool_shrink', { n }, broadcastPart(options ?? {})) as Promise<Replies<O>>;
  }

  /** Restart the pool (`worker_pool_restarts` must be enabled on the worker). */
  poolRestart<O extends PoolRestartOptions = {}>(options?: O): Promise<Replies<O>> {
    const o: PoolRestartOptions = options ?? {};
    return this.broadcast('pool_restart', { modules: o.modules ?? null, reload: o.reload ?? false, reloader: o.reloader ?? null }, broadcastPart(o)) as Promise<Replies<O>>;
  }

  /** New autoscale bounds (workers started with `--autoscale`). */
  autoscale<O extends BroadcastOptions = {}>(max: number, min: number, options?: O): Promise<Replies<O>> {
    return this.broadcast('autoscale', { max, min }, broadcastPart(options ?? {})) as Promise<Replies<O>>;
  }

  /** Warm shutdown of the workers (they do not reply). */
  shutdown<O extends BroadcastOptions = {}>(options?: O): Promise<Replies<O>> {
    return this.broadcast('shutdown', {}, broadcastPart(options ?? {})) as Promise<Replies<O>>;
  }

  /** Each worker sends a `worker-heartbeat` event now. */
  heartbeat<O extends BroadcastOptions = {}>(options?: O): Promise<Replies<O>> {
    return this.broadcast('heartbeat', {}, broadcastPart(options ?? {})) as Promise<Replies<O>>;
  }

  /** Holds an election among the workers (Celery's gossip; sent to every node). */
  async election(id: string, topic: string, action: PyValue = null): Promise<void> {
    await this.broadcast('election', { id, topic, action }, { destination: null });
  }

  /** Stops the reply consumers (this one's and those of its `withCodec` copies) and drops their queues. */
  async close(): Promise<void> {
    await Promise.all([this.mailbox.close(), ...this.derived.map((d) => d.close())]);
  }
}

/** A Lamport clock of its own, for a Control made without the app's. */
function counter(): Clock {
  let value = 0;
  return {
    forward: () => ++value,
    adjust: (other: number) => (value = Math.max(value, other) + 1),
  };
}
