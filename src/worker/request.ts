/**
 * What a running task knows about its call: Celery's `Context` (`self.request`), built the way the
 * worker builds it (`celery/worker/request.py:Request.__init__` + `trace_task_ret`), and the worker's
 * per-message {@link Request} (parsed eta/expires, ack/reject exactly once).
 */
import { InvalidTaskError } from '../../protocol/exceptions.ts';
import type { ResultRequest, ResultTuple } from '../../protocol/result.ts';
import type { DeliveryInfo, SignatureDict, TaskMessage } from '../../protocol/types.ts';
import { PyDateTime, setOwn, type PyDict, type PyValue } from '../../protocol/values.ts';
import type { Delivery } from '../broker.ts';

/** `celery.app.task.Context.__dict__` keys (Celery 5.6.3) plus the ones `_get_custom_headers` drops. */
const CELERY_KEYS = new Set([
  '__dict__', '__doc__', '__init__', '__module__', '__repr__', '__weakref__', '_children', '_filter_x_death_headers',
  '_get_custom_headers', '_protected', 'args', 'as_execution_options', 'callbacks', 'called_directly', 'chain', 'children',
  'chord', 'clear', 'correlation_id', 'delivery_info', 'errbacks', 'eta', 'expires', 'get', 'group', 'group_index', 'headers',
  'hostname', 'id', 'ignore_result', 'is_eager', 'kwargs', 'logfile', 'loglevel', 'origin', 'parent_id', 'properties',
  'replaced_task_nesting', 'reply_to', 'retries', 'root_id', 'shadow', 'stamped_headers', 'stamps', 'taskset', 'timelimit',
  'update', 'utc',
  'lang', 'task', 'argsrepr', 'kwargsrepr', 'compression',
]);

/**
 * `Context._get_custom_headers`: the message headers that are not Celery's own (what the sender put
 * in `apply_async(headers=...)`, plus anything a transport added), or null when there are none.
 */
export function customHeaders(headers: PyDict): PyDict | null {
  let out: PyDict | null = null;
  for (const k of Object.keys(headers)) {
    const v = headers[k];
    if (CELERY_KEYS.has(k) || v === undefined) continue;
    out ??= {};
    setOwn(out, k, v);
  }
  return out;
}

/** `request.delivery_info` as the worker builds it. */
export interface RequestDeliveryInfo {
  exchange: string | null;
  routing_key: string | null;
  priority: number | null;
  redelivered: boolean;
}

/**
 * The task request (Celery's `self.request`): field names are Celery's, so code ported from Python
 * reads the same (`request.root_id`, `request.delivery_info.routing_key`, `request.headers`).
 */
export class Context {
  id: string;
  /** The task name (`headers.task`). */
  task: string;
  shadow: string | null;
  args: PyValue[];
  kwargs: PyDict;
  retries: number;
  /** ISO text as sent (null when none). */
  eta: string | null;
  expires: string | null;
  root_id: string | null;
  parent_id: string | null;
  group: string | null;
  group_index: number | null;
  delivery_info: RequestDeliveryInfo;
  /** The worker's node name, e.g. `celery@host`. */
  hostname: string;
  /** Custom headers only (`Context._get_custom_headers`), null when there are none. */
  headers: PyDict | null;
  /** `[hard, soft]` seconds. */
  timelimit: [number | null, number | null];
  reply_to: string | null;
  correlation_id: string | null;
  origin: string | null;
  ignore_result: boolean;
  stamps: PyDict;
  stamped_headers: string[] | null;
  replaced_task_nesting: number;
  callbacks: SignatureDict[] | null;
  errbacks: SignatureDict[] | null;
  /** Remaining chain steps, reversed (the next is the last element). */
  chain: SignatureDict[] | null;
  chord: SignatureDict | null;
  properties: PyDict;
  argsrepr: string | null;
  kwargsrepr: string | null;
  is_eager = false;
  called_directly = false;
  /** Celery's trail (`add_trail`): results of canvases the task applied while running, stored first in its `children`. */
  children: ResultTuple[] = [];
  /** Every message header, Celery's and custom ones (Celery also exposes custom headers as attributes). */
  readonly allHeaders: PyDict;

  constructor(msg: TaskMessage, hostname: string, deliveryInfo?: DeliveryInfo) {
    const h = msg.headers;
    const p = msg.properties;
    const di = deliveryInfo ?? msg.deliveryInfo;
    this.id = h.id;
    this.task = h.task;
    this.shadow = h.shadow ?? null;
    this.args = msg.body.args;
    this.kwargs = msg.body.kwargs;
    this.retries = typeof h.retries === 'number' ? h.retries : 0;
    this.eta = h.eta ?? null;
    this.expires = h.expires ?? null;
    this.root_id = h.root_id ?? null;
    this.parent_id = h.parent_id ?? null;
    this.group = h.group ?? null;
    this.group_index = h.group_index ?? null;
    this.delivery_info = {
      exchange: typeof di?.exchange === 'string' ? di.exchange : null,
      routing_key: typeof di?.routing_key === 'string' ? di.routing_key : null,
      priority: typeof p.priority === 'number' ? p.priority : null,
      redelivered: di?.redelivered === true,
    };
    this.hostname = hostname;
    this.headers = customHeaders(h as PyDict);
    this.timelimit = h.timelimit ?? [null, null];
    this.reply_to = typeof p.reply_to === 'string' ? p.reply_to : null;
    this.correlation_id = typeof p.correlation_id === 'string' ? p.correlation_id : null;
    this.origin = h.origin ?? null;
    this.ignore_result = h.ignore_result === true;
    this.stamps = h.stamps ?? {};
    this.stamped_headers = h.stamped_headers ?? null;
    this.replaced_task_nesting = h.replaced_task_nesting ?? 0;
    this.callbacks = msg.body.embed.callbacks ?? null;
    this.errbacks = msg.body.embed.errbacks ?? null;
    this.chain = msg.body.embed.chain ?? null;
    this.chord = msg.body.embed.chord ?? null;
    this.properties = p as PyDict;
    this.argsrepr = h.argsrepr ?? null;
    this.kwargsrepr = h.kwargsrepr ?? null;
    this.allHeaders = h as PyDict;
  }

  /** `Context.get(key)`: a field, else a message header (custom headers are attributes in Celery). */
  get(key: string, fallback: unknown = null): unknown {
    if (key in this && key !== 'allHeaders') return (this as unknown as Record<string, unknown>)[key];
    const v = this.allHeaders[key];
    return v === undefined ? fallback : v;
  }

  /** The name logs show (`shadow` or the task name). */
  get name(): string {
    return this.shadow || this.task;
  }
}

/** Parse an `eta`/`expires` header like `maybe_iso8601` (naive = UTC); InvalidTaskError when bad. */
export function parseWhen(value: string | null, field: 'eta' | 'expires'): Date | null {
  if (value === null || value === undefined) return null;
  try {
    return new PyDateTime(value);
  } catch (err) {
    throw new InvalidTaskError([`invalid ${field} value ${JSON.stringify(value)}: ${(err as Error).message}`]);
  }
}

/**
 * One task message in the worker (Celery's `celery.worker.request.Request`): the context, the
 * parsed eta/expires, and the delivery, settled at most once (`acknowledge` / `reject`).
 */
export class Request {
  readonly context: Context;
  readonly eta: Date | null;
  readonly expires: Date | null;
  /** True once acked or rejected (Celery's `acknowledged`). */
  acknowledged = false;
  /** When execution started (ms since epoch), null before. */
  timeStart: number | null = null;

  constructor(
    readonly message: TaskMessage,
    readonly delivery: Delivery,
    hostname: string,
    private readonly onSettleError: (err: unknown, what: string) => void,
  ) {
    this.context = new Context(message, hostname, delivery.raw.deliveryInfo);
    this.eta = parseWhen(this.context.eta, 'eta');
    this.expires = parseWhen(this.context.expires, 'expires');
  }

  get id(): string {
    return this.context.id;
  }
  get name(): string {
    return this.context.name;
  }
  get taskName(): string {
    return this.context.task;
  }

  /** True when `expires` has passed (`Request.maybe_expire`). */
  isExpired(now = Date.now()): boolean {
    return this.expires !== null && now > this.expires.getTime();
  }

  /** Acks the delivery once; never rejects (a failure goes to `onSettleError`). */
  acknowledge(): Promise<void> {
    if (this.acknowledged) return DONE;
    this.acknowledged = true;
    return this.settle(() => this.delivery.ack(), 'ack');
  }

  /** Rejects the delivery once; never rejects (a failure goes to `onSettleError`). */
  reject(requeue: boolean): Promise<void> {
    if (this.acknowledged) return DONE;
    this.acknowledged = true;
    return this.settle(() => this.delivery.reject(requeue), 'reject');
  }

  /** Not an async function: one promise per ack, on the path every message takes. */
  private settle(op: () => Promise<void>, what: string): Promise<void> {
    try {
      return op().then(undefined, (err: unknown) => this.settleFailed(err, what));
    } catch (err) {
      this.settleFailed(err, what);
      return DONE;
    }
  }

  private settleFailed(err: unknown, what: string): void {
    this.onSettleError(err, `${what} of ${this.name}[${this.id}]`);
  }
}

const DONE: Promise<void> = Promise.resolve();

/** What the result backend reads from a request (`result_extended` fields, group, parent). */
export function toResultRequest(ctx: Context, children: ResultTuple[] | null = null): ResultRequest {
  return {
    group: ctx.group,
    parent_id: ctx.parent_id,
    task: ctx.task,
    args: ctx.args,
    kwargs: ctx.kwargs,
    hostname: ctx.hostname,
    retries: ctx.retries,
    delivery_info: { ...ctx.delivery_info } as ResultRequest['delivery_info'],
    stamped_headers: ctx.stamped_headers,
    stamps: ctx.stamps,
    children,
  };
}
