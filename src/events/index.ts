/**
 * `app.events` (Celery's `app.events`): `Dispatcher` to send events, `receiver` / `Receiver` to capture
 * them, and the producer's `task-sent` (`task_send_sent_event`).
 */
import type { PreparedTask } from '../producer.ts';
import type { Celery } from '../app.ts';
import { EventDispatcher, type EventDispatcherOptions, type EventFields } from './dispatcher.ts';
import { EventReceiver, type EventReceiverOptions } from './receiver.ts';
import { transportOf } from './transport.ts';

export { EventDispatcher, type EventDispatcherOptions, type EventFields } from './dispatcher.ts';
export { EventReceiver, type EventReceiverOptions, type EventHandler } from './receiver.ts';
export { WorkerEventer, type WorkerEventsOptions } from './worker.ts';

export class AppEvents {
  private sentDispatcher: EventDispatcher | null = null;
  /** Called with the fields of each `task-sent` this app publishes (a worker's `/metrics`: src/metrics/worker.ts). */
  readonly onTaskSent = new Set<(fields: EventFields) => void>();

  constructor(private readonly app: Celery) {}

  /** `app.events.Dispatcher(...)`: hostname defaults to the app's `gen<pid>@<host>`. */
  Dispatcher(options: Partial<EventDispatcherOptions> = {}): EventDispatcher {
    const app = this.app;
    return new EventDispatcher(async () => app.broker, {
      hostname: app.origin, clock: app.clock, exchange: app.conf.eventExchange, serializer: app.conf.eventSerializer,
      transport: transportOf(app.conf.brokerUrl), ...options,
    });
  }

  /** `app.events.Receiver(connection, handlers=...)`; call `start()` (or iterate / `capture()`). */
  receiver(options: EventReceiverOptions = {}): EventReceiver {
    return new EventReceiver(this.app, options);
  }

  Receiver(options: EventReceiverOptions = {}): EventReceiver {
    return this.receiver(options);
  }

  /**
   * `send_task_message`'s `task-sent` (`task_send_sent_event`): uuid, root_id, parent_id, name, args,
   * kwargs, retries, eta, expires, queue, exchange, routing_key; published right after the task.
   */
  taskSent(p: PreparedTask): Promise<void> {
    this.sentDispatcher ??= this.Dispatcher({ enabled: false });
    const h = p.message.headers;
    const fields: EventFields = {
      uuid: h.id, root_id: h.root_id, parent_id: h.parent_id, name: h.task, args: h.argsrepr, kwargs: h.kwargsrepr,
      retries: h.retries, eta: h.eta, expires: h.expires,
      queue: p.route.queue?.name ?? null, exchange: p.target.exchange, routing_key: p.target.routingKey,
    };
    for (const cb of this.onTaskSent) cb(fields);
    return this.sentDispatcher.publish('task-sent', fields);
  }
}
