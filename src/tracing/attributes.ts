/**
 * The span names and attributes of opentelemetry-instrumentation-celery (opentelemetry-python-contrib,
 * `instrumentation/opentelemetry-instrumentation-celery`: `__init__.py` and `utils.py`), computed
 * without OpenTelemetry:
 *
 * - the producer span `apply_async/<task name>`: `celery.action`, `messaging.message.id`,
 *   `celery.task_name`, then what `before_task_publish` passes (exchange, routing key, the queues
 *   declared) through `set_attributes_from_context`;
 * - the worker span `run/<task name>`: `celery.action`, the `state` of `task_postrun`, then the task
 *   request (`Context`) through `set_attributes_from_context`, then `celery.task_name`.
 *
 * `set_attributes_from_context` reads these keys, in this order: an empty or missing value is left out,
 * `timelimit` only when one limit is set (a missing one becomes `""`), `retries` only when not 0; `id`,
 * `correlation_id` and `routing_key` take messaging names; `origin` is written as `celery.hostname`
 * (after `hostname`, so the sender's node name wins); `delivery_info` also gives the routing key as
 * `messaging.destination` and is written as Python's `str()` of the dict; `declare` becomes
 * `messaging.destination_kind` (`queue` for a direct exchange, `topic` for a topic one).
 */
import { pyRepr, type ReprValue } from '../../protocol/repr.ts';
import type { AttributeValue, Attributes } from './api.ts';
import type { TracedPublish, TracedRequest } from './hooks.ts';

export const TASK_APPLY_ASYNC = 'apply_async';
export const TASK_RUN = 'run';
/** The instrumentation's tracer schema (`get_tracer(..., schema_url=...)`). */
export const SCHEMA_URL = 'https://opentelemetry.io/schemas/1.11.0';

export const ACTION = 'celery.action';
export const TASK_NAME = 'celery.task_name';
export const RETRY_REASON = 'celery.retry.reason';
export const MESSAGE_ID = 'messaging.message.id';
export const CONVERSATION_ID = 'messaging.conversation_id';
export const DESTINATION = 'messaging.destination';
export const DESTINATION_KIND = 'messaging.destination_kind';

/** `CELERY_CONTEXT_ATTRIBUTES` of utils.py, in its order. */
export const CELERY_CONTEXT_ATTRIBUTES = [
  'compression', 'correlation_id', 'countdown', 'delivery_info', 'declare', 'eta', 'exchange', 'expires', 'hostname', 'id',
  'priority', 'queue', 'reply_to', 'retries', 'routing_key', 'serializer', 'timelimit', 'origin', 'state',
] as const;

/** A value OpenTelemetry JS keeps as an attribute (primitives and arrays of one primitive type), else undefined. */
function attributeValue(value: unknown): AttributeValue | undefined {
  const t = typeof value;
  if (t === 'string' || t === 'boolean' || (t === 'number' && Number.isFinite(value))) return value as AttributeValue;
  if (Array.isArray(value) && value.length > 0) {
    const first = typeof value[0];
    if ((first === 'string' || first === 'number' || first === 'boolean') && value.every((v) => typeof v === first)) return value as AttributeValue;
  }
  return undefined;
}

/** `set_attributes_from_context(span, context)`: adds to `out` what `get(key)` gives for each key. */
export function setAttributesFromContext(out: Attributes, get: (key: string) => unknown): void {
  for (const key of CELERY_CONTEXT_ATTRIBUTES) {
    let value = get(key);
    if (value === null || value === undefined || value === '') continue;
    if (key === 'timelimit') {
      if (!Array.isArray(value)) continue;
      if (value.every((v) => v === null || v === undefined)) continue;
      if (value.some((v) => v === null || v === undefined)) value = value.map((v) => (v === null || v === undefined ? '' : String(v)));
    }
    if (key === 'retries' && value === 0) continue;
    let name = `celery.${key}`;
    if (key === 'origin') name = 'celery.hostname';
    else if (key === 'delivery_info') {
      const routingKey = (value as { routing_key?: unknown }).routing_key;
      if (typeof routingKey === 'string') out[DESTINATION] = routingKey;
      value = pyRepr(value as ReprValue);
    } else if (key === 'id') name = MESSAGE_ID;
    else if (key === 'correlation_id') name = CONVERSATION_ID;
    else if (key === 'routing_key') name = DESTINATION;
    else if (key === 'declare') {
      name = DESTINATION_KIND;
      if (!Array.isArray(value)) continue;
      let kind: string | undefined;
      for (const queue of value) {
        const type = (queue as { exchange?: { type?: unknown } } | null)?.exchange?.type;
        if (type === 'direct') kind = 'queue';
        else if (type === 'topic') kind = 'topic';
        if (kind) break;
      }
      // Python sets the list of Queue objects itself when none is direct or topic: no attribute here
      if (!kind) continue;
      value = kind;
    }
    const v = attributeValue(value);
    if (v !== undefined) out[name] = v;
  }
}

/** The producer span's name. */
export function publishSpanName(task: TracedPublish): string {
  return `${TASK_APPLY_ASYNC}/${task.message.headers.task}`;
}

/** The producer span's attributes (`_trace_before_publish`). */
export function publishAttributes(task: TracedPublish): Attributes {
  const out: Attributes = { [ACTION]: TASK_APPLY_ASYNC, [MESSAGE_ID]: task.id, [TASK_NAME]: task.message.headers.task };
  const { target } = task;
  // the keyword arguments of before_task_publish that set_attributes_from_context knows
  setAttributesFromContext(out, (key) => {
    if (key === 'exchange') return target.exchange;
    if (key === 'routing_key') return target.routingKey;
    if (key === 'declare') return target.declare;
    return undefined;
  });
  return out;
}

/** The worker span's name. */
export function runSpanName(request: TracedRequest): string {
  return `${TASK_RUN}/${request.task}`;
}

/** The worker span's attributes at its end (`_trace_postrun`), `state` being the run's outcome. */
export function runAttributes(request: TracedRequest, state: string): Attributes {
  const out: Attributes = { [ACTION]: TASK_RUN };
  setAttributesFromContext(out, (key) => (key === 'state' ? state : undefined));
  setAttributesFromContext(out, (key) => request.get(key));
  out[TASK_NAME] = request.task;
  return out;
}
