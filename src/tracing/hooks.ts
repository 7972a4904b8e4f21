/**
 * The seam between celeriac's producer / worker and tracing: two wrappers, null until tracing is
 * enabled (src/tracing/instrumentation.ts), so an untraced send or task costs one null check. The
 * producer calls {@link TracingHooks.publish} around each task publish (src/producer.ts), the worker
 * {@link TracingHooks.run} around each task run (src/worker/trace.ts). Nothing here loads OpenTelemetry.
 *
 * Process-wide, as Celery's signals (which opentelemetry-instrumentation-celery connects to) and
 * OpenTelemetry's global providers are.
 */
import type { PyDict } from '../../protocol/values.ts';
import type { PublishTarget } from '../broker.ts';

/** A task message about to be published (a `PreparedTask` of src/producer.ts is one). */
export interface TracedPublish {
  /** The task id. */
  readonly id: string;
  readonly message: { readonly headers: { readonly task: string } };
  /** The message as it will be published: the hook adds `traceparent` / `tracestate` to its headers. */
  readonly raw: { readonly headers: PyDict };
  /** Exchange, routing key and the queues declared for it. */
  readonly target: PublishTarget;
}

/** A task request about to run (the worker's `Context`, src/worker/request.ts, is one). */
export interface TracedRequest {
  /** The task name (`headers.task`). */
  readonly task: string;
  /** Every message header. */
  readonly allHeaders: PyDict;
  /** Celery's `Context.get`: a request field, else a message header. */
  get(key: string): unknown;
}

/** How a task run ended (the worker's `TraceResult`). */
export interface TracedOutcome {
  /** SUCCESS, FAILURE, RETRY, REJECTED, IGNORED. */
  state: string;
  /** The return value, or the error. */
  retval: unknown;
}

export interface TracingHooks {
  /** Wraps one publish of `task`: `publish()` sends it. */
  publish<T>(task: TracedPublish, publish: () => Promise<T>): Promise<T>;
  /** Wraps one run of `request`: `run()` runs it (and never rejects). */
  run<R extends TracedOutcome>(request: TracedRequest, run: () => Promise<R>): Promise<R>;
}

let current: TracingHooks | null = null;

/** The hooks in force, or null (tracing off). */
export function tracingHooks(): TracingHooks | null {
  return current;
}

/** Installs (or, with null, removes) the hooks. */
export function setTracingHooks(hooks: TracingHooks | null): void {
  current = hooks;
}
