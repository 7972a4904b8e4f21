/**
 * Sending events (`celery/events/dispatcher.py:EventDispatcher`): each event is published to the
 * `event_exchange` (`celeryev`: topic on AMQP, declared durable as kombu does; kombu's fanout over
 * PUBLISH on Redis, channel `/<db>.celeryev/<routing key>`) with routing key = type with `-` → `.`,
 * header `hostname`, `delivery_mode` 1, `event_serializer`.
 *
 * - `groups`: when set, only events of those groups are sent (a worker without `-E` sends `worker`).
 * - `bufferGroups`: events of those groups are collected and sent as one `<group>.multi` message (a
 *   JSON list) when `bufferLimit` (24) is reached or at the end of the tick — what a Python worker does
 *   with its event loop (`buffer_group=['task']`, flushed by `on_send_event_buffered`).
 * - Nothing bound to the exchange: the event is dropped (kombu publishes without `mandatory`); a
 *   broker error is reported (`onError`), never thrown at the task that caused the event.
 */
import {
  buildEvent, eventExchangeType, eventMessage, eventRoutingKey, groupFrom, type CeleryEvent, type LamportClock,
} from '../../protocol/events.ts';
import type { PyValue } from '../../protocol/values.ts';
import type { Broker, ExchangeDeclaration } from '../broker.ts';
import { UnroutableError } from '../brokers/errors.ts';

export interface EventDispatcherOptions {
  /** Node name sent in every event. @default `gen<pid>@<host>` (the app's origin) */
  hostname: string;
  /** The app's Lamport clock (shared with remote control, as Celery's `app.clock`). */
  clock: LamportClock;
  /** @default true */
  enabled?: boolean;
  /** Send only events of these groups; null/empty = all. */
  groups?: readonly string[] | null;
  /** Groups sent in batches as `<group>.multi`. @default [] */
  bufferGroups?: readonly string[];
  /** @default 24 */
  bufferLimit?: number;
  /** `event_exchange`. @default 'celeryev' */
  exchange?: string;
  /** `event_serializer`. @default 'json' */
  serializer?: string;
  /** Transport name of the broker URL (`redis`, `amqp`, ...): fanout on Redis, topic elsewhere. */
  transport: string;
  /** Where publish failures go. @default console.error */
  onError?: (err: Error) => void;
}

export type EventFields = Record<string, PyValue | undefined>;

export class EventDispatcher {
  readonly hostname: string;
  readonly pid = process.pid;
  readonly exchange: ExchangeDeclaration;
  readonly clock: LamportClock;
  enabled: boolean;
  groups: Set<string>;
  /** Called by enable() / disable() (the heartbeat starts and stops with them). */
  readonly onEnabled = new Set<() => void>();
  readonly onDisabled = new Set<() => void>();
  private readonly bufferGroups: Set<string>;
  private readonly bufferLimit: number;
  private readonly serializer: string;
  private readonly buffers = new Map<string, CeleryEvent[]>();
  private flushScheduled = false;
  private declared: Promise<void> | null = null;
  private readonly inflight = new Set<Promise<void>>();

  constructor(private readonly broker: () => Promise<Broker>, o: EventDispatcherOptions) {
    this.hostname = o.hostname;
    this.clock = o.clock;
    this.enabled = o.enabled ?? true;
    this.groups = new Set(o.groups ?? []);
    this.bufferGroups = new Set(o.bufferGroups ?? []);
    this.bufferLimit = o.bufferLimit ?? 24;
    this.serializer = o.serializer ?? 'json';
    this.exchange = { name: o.exchange ?? 'celeryev', type: eventExchangeType(o.transport), durable: true, autoDelete: false };
    this.onError = o.onError ?? ((err) => console.error(`[celeriac] events: ${err.message}`));
  }

  private readonly onError: (err: Error) => void;

  enable(): void {
    this.enabled = true;
    for (const cb of this.onEnabled) cb();
  }

  disable(): void {
    if (!this.enabled) return;
    for (const cb of this.onDisabled) cb(); // worker-offline goes out before the dispatcher stops
    this.enabled = false;
  }

  /** The event this dispatcher would send now (clock forwarded unless `blind`). */
  event(type: string, fields: EventFields, blind = false): CeleryEvent {
    return buildEvent(type, { hostname: this.hostname, pid: this.pid, clock: blind ? null : this.clock.forward() }, clean(fields));
  }

  /**
   * `EventDispatcher.send`: nothing when disabled or the group is filtered out; buffered for a buffer
   * group; else published. Resolves once published (never rejects: failures go to `onError`).
   */
  send(type: string, fields: EventFields = {}, options: { blind?: boolean } = {}): Promise<void> {
    if (!this.enabled) return Promise.resolve();
    const group = groupFrom(type);
    if (this.groups.size && !this.groups.has(group)) return Promise.resolve();
    if (this.bufferGroups.has(group)) {
      const buf = this.buffers.get(group) ?? [];
      this.buffers.set(group, buf);
      buf.push(this.event(type, fields));
      if (buf.length >= this.bufferLimit) return this.flush();
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => void this.flush());
      }
      return Promise.resolve();
    }
    return this.publish(type, fields, options);
  }

  /** `EventDispatcher.publish`: one event, now, whatever the groups (the producer's `task-sent`). */
  publish(type: string, fields: EventFields, options: { blind?: boolean } = {}): Promise<void> {
    return this.track(this.sendRaw(this.event(type, fields, options.blind), eventRoutingKey(type)));
  }

  /** Sends the buffered batches (`<group>.multi`). */
  flush(): Promise<void> {
    this.flushScheduled = false;
    const out: Promise<void>[] = [];
    for (const [group, events] of this.buffers) {
      if (!events.length) continue;
      this.buffers.set(group, []);
      out.push(this.track(this.sendRaw(events, `${group}.multi`)));
    }
    return Promise.all(out).then(() => undefined);
  }

  /** Flushes and waits for every publish in flight. */
  async close(): Promise<void> {
    await this.flush();
    await Promise.allSettled([...this.inflight]);
  }

  private track(p: Promise<void>): Promise<void> {
    this.inflight.add(p);
    void p.finally(() => this.inflight.delete(p));
    return p;
  }

  private async sendRaw(body: CeleryEvent | CeleryEvent[], routingKey: string): Promise<void> {
    try {
      const broker = await this.broker();
      if (broker.declareExchange) {
        this.declared ??= broker.declareExchange(this.exchange).catch((err: unknown) => {
          this.declared = null;
          throw err;
        });
        await this.declared;
      }
      const raw = eventMessage(body, { hostname: this.hostname, exchange: this.exchange.name, routingKey, serializer: this.serializer });
      await broker.publish(raw, { exchange: this.exchange.name, routingKey, exchangeType: this.exchange.type });
    } catch (err) {
      if (err instanceof UnroutableError) return; // nobody is listening: kombu drops it silently too
      this.onError(new Error(`sending event ${routingKey} failed: ${(err as Error)?.message ?? String(err)}`, { cause: err }));
    }
  }
}

function clean(fields: EventFields): Record<string, PyValue> {
  const out: Record<string, PyValue> = {};
  for (const [k, v] of Object.entries(fields)) if (v !== undefined) out[k] = v;
  return out;
}
