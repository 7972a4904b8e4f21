/**
 * The spans: {@link TracingHooks} built on `@opentelemetry/api`, doing what opentelemetry-instrumentation-
 * celery does in Celery's signals.
 *
 * Publish (`before_task_publish` / `after_task_publish`): a PRODUCER span `apply_async/<task>`, child of
 * the active context, current while the message is published; the W3C context of that span
 * (`traceparent`, `tracestate`, and whatever else the global propagator writes) goes into the message
 * headers, where Celery's `Context` and celeriac's request read it back.
 *
 * Run (`task_prerun` ... `task_postrun`): the context is extracted from the message headers and a
 * CONSUMER span `run/<task>` starts as its child (or, with `useSpanLinks`, as a root linked to it); the
 * task runs with the span current, so what it sends is a child of it; a FAILURE records the error and
 * sets the status to ERROR (`task_failure`), a RETRY sets `celery.retry.reason` (`task_retry`); the
 * attributes are set and the span ends when the run is over (`task_postrun`), and the run's seconds go
 * to the histogram `flower.task.runtime.seconds` (attributes `task`, `worker`).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { performance } from 'node:perf_hooks';
import type { PyDict } from '../../protocol/values.ts';
import type { OtelApi, OtelContext, OtelHistogram, OtelSpan, OtelSpanOptions, OtelTracer, TextMapGetter, TextMapSetter } from './api.ts';
import { RETRY_REASON, publishAttributes, publishSpanName, runAttributes, runSpanName } from './attributes.ts';
import type { TracedOutcome, TracedPublish, TracedRequest, TracingHooks } from './hooks.ts';

export interface SpanHooksOptions {
  /** The run span is linked to the sender's span instead of being its child (Python's `use_span_links`). */
  useSpanLinks?: boolean;
  /** `flower.task.runtime.seconds`: each run's seconds, with the task name and the worker's node name. */
  runtime?: OtelHistogram;
}

/** The instrumentation's one metric (`create_celery_metrics`). */
export const RUNTIME_METRIC = { name: 'flower.task.runtime.seconds', unit: 'seconds', description: 'The time it took to run the task.' } as const;

/**
 * Message headers as a carrier, read as Celery's `CeleryGetter` reads the request: a string as it is,
 * a list as strings, anything else through `String()`.
 */
export const headersGetter: TextMapGetter<PyDict> = {
  keys: (carrier) => Object.keys(carrier),
  get(carrier, key) {
    const value = Object.hasOwn(carrier, key) ? carrier[key] : undefined;
    if (value === undefined || value === null) return undefined;
    if (typeof value === 'string') return value;
    if (Array.isArray(value)) return value.map((v) => (typeof v === 'string' ? v : String(v)));
    return String(value);
  },
};

export const headersSetter: TextMapSetter<PyDict> = {
  set(carrier, key, value) {
    carrier[key] = value;
  },
};

/** Python's `str(exception)`: the message of an Error, else the value as text. */
function exceptionText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export class SpanHooks implements TracingHooks {
  /**
   * The context of the task running here: the parent of what it sends even when no context manager is
   * registered with the API (without one `context.active()` is always the root context).
   */
  private readonly running = new AsyncLocalStorage<OtelContext>();

  constructor(
    private readonly api: OtelApi,
    private readonly tracer: OtelTracer,
    private readonly options: SpanHooksOptions = {},
  ) {}

  /** The parent of a new producer span: the active context, or else the running task's. */
  private parentContext(): OtelContext {
    const active = this.api.context.active();
    if (this.api.trace.getSpan(active)) return active;
    return this.running.getStore() ?? active;
  }

  publish<T>(task: TracedPublish, publish: () => Promise<T>): Promise<T> {
    const { api } = this;
    const parent = this.parentContext();
    const span = this.tracer.startSpan(publishSpanName(task), { kind: api.SpanKind.PRODUCER, attributes: publishAttributes(task) }, parent);
    const ctx = api.trace.setSpan(parent, span);
    let sent: Promise<T>;
    try {
      api.propagation.inject(ctx, task.raw.headers, headersSetter);
      sent = api.context.with(ctx, publish);
    } catch (err) {
      sent = Promise.reject(err);
    }
    return sent.then(
      (value) => {
        span.end();
        return value;
      },
      (err: unknown) => {
        // Celery's after_task_publish never comes then, and the instrumentation leaves the span open
        span.recordException(err instanceof Error ? err : String(err));
        span.setStatus({ code: api.SpanStatusCode.ERROR, message: exceptionText(err) });
        span.end();
        throw err;
      },
    );
  }

  async run<R extends TracedOutcome>(request: TracedRequest, run: () => Promise<R>): Promise<R> {
    const { api } = this;
    const active = api.context.active();
    // `extract(request) or None`: what the message carries, else the active context
    const carried = api.propagation.extract(api.ROOT_CONTEXT, request.allHeaders, headersGetter);
    const options: OtelSpanOptions = { kind: api.SpanKind.CONSUMER };
    let parent = carried === api.ROOT_CONTEXT ? active : carried;
    if (this.options.useSpanLinks && carried !== api.ROOT_CONTEXT) {
      const remote = api.trace.getSpanContext(carried);
      if (remote && api.trace.isSpanContextValid(remote)) options.links = [{ context: remote }];
      parent = active;
    }
    const span = this.tracer.startSpan(runSpanName(request), options, parent);
    const ctx = api.trace.setSpan(parent, span);
    const t0 = performance.now();
    let outcome: R;
    try {
      outcome = await this.running.run(ctx, () => api.context.with(ctx, run));
    } catch (err) {
      // the worker's run never rejects; should it, the span still ends
      span.end();
      throw err;
    }
    finishRun(api, span, request, outcome);
    span.end();
    const hostname = request.get('hostname');
    this.options.runtime?.record((performance.now() - t0) / 1000, { task: request.task, worker: typeof hostname === 'string' ? hostname : '' });
    return outcome;
  }
}

/** What `task_failure`, `task_retry` and `task_postrun` add to the run span. */
function finishRun(api: OtelApi, span: OtelSpan, request: TracedRequest, outcome: TracedOutcome): void {
  if (!span.isRecording()) return;
  const { state, retval } = outcome;
  if (state === 'FAILURE') {
    if (retval !== null && retval !== undefined) span.recordException(retval instanceof Error ? retval : String(retval));
    span.setStatus({ code: api.SpanStatusCode.ERROR, message: retval === null || retval === undefined ? undefined : exceptionText(retval) });
  } else if (state === 'RETRY' && retval !== null && retval !== undefined) {
    span.setAttribute(RETRY_REASON, exceptionText(retval));
  }
  const attributes = runAttributes(request, state);
  for (const key of Object.keys(attributes)) span.setAttribute(key, attributes[key]!);
}
