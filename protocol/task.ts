/**
 * Building protocol v2 task messages the way Celery does: `celery/app/amqp.py:AMQP.as_task_v2` plus the
 * parts of `celery/app/base.py:Celery.send_task` and `kombu/messaging.py:Producer.publish` that shape the
 * message (expiration property, delivery mode, priority).
 *
 * The result is a logical {@link TaskMessage}; `encodeTaskMessage` (message.ts) serializes it.
 */
import { v4 as uuid4 } from 'uuid';
import { ProtocolError } from './errors.ts';
import { argsrepr as makeArgsrepr, kwargsrepr as makeKwargsrepr } from './repr.ts';
import type { DeliveryInfo, SignatureDict, TaskHeaders, TaskMessage, TaskProperties } from './types.ts';
import { PyDateTime, isPlainObject, setOwn, isoformatUTC, type PyDict, type PyValue } from './values.ts';

const INT_MIN = -2147483648;

export interface CreateTaskOptions {
  /** Task name (`headers.task`). */
  task: string;
  /** Task id; a fresh uuid4 when omitted. */
  id?: string;
  args?: PyValue[];
  kwargs?: PyDict;
  /** Seconds from `now`; when non-zero it replaces `eta` (as in `as_task_v2`). */
  countdown?: number;
  /** A Date (PyDateTime keeps its exact isoformat, naive or not) or an ISO string passed through as is. */
  eta?: Date | string | null;
  /** Seconds from `now`, a Date, or an ISO string passed through. Also sets the `expiration` property. */
  expires?: number | Date | string | null;
  group?: string | null;
  groupIndex?: number | null;
  retries?: number;
  /** Hard time limit in seconds (`timelimit[0]`). */
  timeLimit?: number | null;
  /** Soft time limit in seconds (`timelimit[1]`). */
  softTimeLimit?: number | null;
  /** Defaults to the task id (Celery: `if not root_id: root_id = task_id`). */
  rootId?: string | null;
  parentId?: string | null;
  shadow?: string | null;
  /**
   * The sender's node name. Celery always sends `gen<pid>@<hostname>`; this pure layer does no I/O, so
   * pass it in (it is `null` when omitted).
   */
  origin?: string | null;
  ignoreResult?: boolean;
  replacedTaskNesting?: number;
  /** Names of the stamps; defaults to the keys of `stamps` when only `stamps` is given. */
  stampedHeaders?: string[] | null;
  /** Stamp values by name. */
  stamps?: PyDict;
  /** Custom headers, merged flat into the headers (`headers2.update(headers)`), overriding same names. */
  headers?: PyDict;
  /** `link`: a signature or a list of them (Celery `maybe_list(link)`). */
  callbacks?: SignatureDict | SignatureDict[] | null;
  /** `link_error`. */
  errbacks?: SignatureDict | SignatureDict[] | null;
  /** Remaining chain steps, already reversed (next step last). */
  chain?: SignatureDict[] | null;
  chord?: SignatureDict | null;
  /** `reply_to` property. Celery's `send_task` uses the app's `thread_oid`; `as_task_v2` alone uses `''`. */
  replyTo?: string | null;
  /** `correlation_id` property; defaults to the task id. */
  correlationId?: string;
  /** 2 = persistent (default), 1 = transient. */
  deliveryMode?: number;
  /** 0 by default. */
  priority?: number;
  /** Override the computed `argsrepr` / `kwargsrepr` (as `apply_async(argsrepr=...)` does). */
  argsrepr?: string;
  kwargsrepr?: string;
  /** Show args as a tuple in `argsrepr` (true, like `task.delay(2, 3)`) or as a list (like `send_task(args=[2, 3])`). */
  argsAsTuple?: boolean;
  /** Where the message is addressed, copied to `TaskMessage.deliveryInfo`. */
  deliveryInfo?: DeliveryInfo;
  /** The clock used for countdown / expires; `new Date()` by default. A PyDateTime keeps microseconds. */
  now?: Date;
}

function checkSeconds(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new ProtocolError('headers', `${what} must be a finite number of seconds, got ${String(value)}`, { path: what });
  }
  if (value < INT_MIN) throw new ProtocolError('headers', `${what} is out of range: ${value}`, { path: what });
  return value;
}

/** Microseconds since the epoch of a Date (a PyDateTime contributes its exact microseconds). */
function epochMicros(d: Date): number {
  const ms = d.getTime();
  if (Number.isNaN(ms)) throw new ProtocolError('headers', 'invalid Date');
  const micro = d instanceof PyDateTime ? d.microsecond % 1000 : 0;
  return ms * 1000 + micro;
}

/** `now + timedelta(seconds=s)` in UTC, formatted with `datetime.isoformat()`. */
function addSecondsIso(now: Date, seconds: number): string {
  const total = epochMicros(now) + Math.round(seconds * 1e6);
  const ms = Math.floor(total / 1000);
  const micro = total - Math.floor(total / 1_000_000) * 1_000_000;
  return isoformatUTC(new Date(ms), micro);
}

function dateIso(d: Date, what: string): string {
  if (Number.isNaN(d.getTime())) throw new ProtocolError('headers', `${what} is an invalid Date`, { path: what });
  return d instanceof PyDateTime ? d.isoformat : isoformatUTC(d);
}

/** Whether `o` has an own enumerable key (saferepr of one without is `{}`). */
function hasOwnKeys(o: object): boolean {
  for (const k in o) if (Object.hasOwn(o, k)) return true;
  return false;
}

function maybeList(v: SignatureDict | SignatureDict[] | null | undefined): SignatureDict[] | null {
  if (v === undefined || v === null) return null;
  return Array.isArray(v) ? v : [v];
}

/**
 * Build a v2 task message as `app.send_task(...)` would put it on the wire (before serialization).
 *
 * Headers come in Celery's order with every key present; custom `headers` are merged flat after them.
 * Properties: `correlation_id`, `reply_to`, `delivery_mode`, `expiration` (only with `expires`: whole
 * milliseconds as a string, `"0"` when already past), `priority`, and placeholder `content_type` /
 * `content_encoding` for JSON that `encodeTaskMessage` replaces with the serializer's.
 */
export function createTaskMessage(options: CreateTaskOptions): TaskMessage {
  const { task } = options;
  if (typeof task !== 'string' || task === '') {
    throw new ProtocolError('headers', 'task name must be a non-empty string', { path: 'task' });
  }
  const id = options.id ?? uuid4();
  if (typeof id !== 'string' || id === '') throw new ProtocolError('headers', 'task id must be a non-empty string', { path: 'id' });
  const args = options.args ?? [];
  const kwargs = options.kwargs ?? {};
  if (!Array.isArray(args)) throw new ProtocolError('body', 'task args must be a list or tuple', { path: 'args' });
  if (!isPlainObject(kwargs)) throw new ProtocolError('body', 'task keyword arguments must be a mapping', { path: 'kwargs' });

  // the clock is read once, and only when countdown / expires need it
  let now = options.now;
  let eta: string | null = null;
  // Python: `if countdown:` (0 and None skip; NaN is truthy there and then fails)
  if (options.countdown !== undefined && options.countdown !== null && options.countdown !== 0) {
    eta = addSecondsIso((now ??= new Date()), checkSeconds(options.countdown, 'countdown'));
  } else if (options.eta instanceof Date) {
    eta = dateIso(options.eta, 'eta');
  } else if (typeof options.eta === 'string') {
    eta = options.eta;
  } else if (options.eta !== undefined && options.eta !== null) {
    throw new ProtocolError('headers', 'eta must be a Date or an ISO 8601 string', { path: 'eta' });
  }

  let expires: string | null = null;
  /** seconds until expiry, for the `expiration` property (`send_task`). */
  let expiresS: number | null = null;
  const ex = options.expires;
  if (typeof ex === 'number') {
    expiresS = checkSeconds(ex, 'expires');
    expires = addSecondsIso((now ??= new Date()), expiresS);
  } else if (ex instanceof Date) {
    expires = dateIso(ex, 'expires');
    expiresS = (epochMicros(ex) - epochMicros((now ??= new Date()))) / 1e6;
  } else if (typeof ex === 'string') {
    expires = ex;
    let parsed: PyDateTime;
    try {
      parsed = new PyDateTime(ex);
    } catch (cause) {
      throw new ProtocolError('headers', `expires is not an ISO 8601 datetime: ${JSON.stringify(ex)}`, { path: 'expires', cause });
    }
    expiresS = (epochMicros(parsed) - epochMicros((now ??= new Date()))) / 1e6;
  } else if (ex !== undefined && ex !== null) {
    throw new ProtocolError('headers', 'expires must be seconds, a Date or an ISO 8601 string', { path: 'expires' });
  }

  const stampedHeaders = options.stampedHeaders ?? (options.stamps ? Object.keys(options.stamps) : null);
  const stamps: PyDict = {};
  for (const name of stampedHeaders ?? []) {
    const value = options.stamps?.[name];
    if (value === undefined) throw new ProtocolError('headers', `no value for stamped header ${JSON.stringify(name)}`, { path: `stamps.${name}` });
    stamps[name] = value;
  }

  const headers: TaskHeaders = {
    lang: 'py',
    task,
    id,
    shadow: options.shadow ?? null,
    eta,
    expires,
    group: options.group ?? null,
    group_index: options.groupIndex ?? null,
    retries: options.retries ?? 0,
    timelimit: [options.timeLimit ?? null, options.softTimeLimit ?? null],
    root_id: options.rootId || id,
    parent_id: options.parentId ?? null,
    argsrepr: options.argsrepr ?? (args.length === 0 ? (options.argsAsTuple ?? true ? '()' : '[]') : makeArgsrepr(args, 1024, options.argsAsTuple ?? true)),
    kwargsrepr: options.kwargsrepr ?? (hasOwnKeys(kwargs) ? makeKwargsrepr(kwargs, 1024) : '{}'),
    origin: options.origin ?? null,
    ignore_result: options.ignoreResult ?? false,
    replaced_task_nesting: options.replacedTaskNesting ?? 0,
    stamped_headers: stampedHeaders,
    stamps,
  };
  if (options.headers) {
    for (const [k, v] of Object.entries(options.headers)) {
      setOwn(headers, k, v);
    }
  }

  const properties: TaskProperties = {
    correlation_id: options.correlationId ?? id,
    reply_to: options.replyTo ?? '',
    delivery_mode: options.deliveryMode ?? 2,
    priority: options.priority ?? 0,
    content_type: 'application/json',
    content_encoding: 'utf-8',
  };
  if (expiresS !== null) {
    // send_task clamps negative to 0; kombu: str(int(expiration * 1000)) (int() truncates toward 0)
    properties.expiration = String(Math.trunc(Math.max(0, expiresS) * 1000));
  }

  const message: TaskMessage = {
    protocol: 2,
    headers,
    properties,
    body: {
      args,
      kwargs,
      embed: {
        callbacks: maybeList(options.callbacks),
        errbacks: maybeList(options.errbacks),
        chain: options.chain ?? null,
        chord: options.chord ?? null,
      },
    },
  };
  if (options.deliveryInfo) message.deliveryInfo = options.deliveryInfo;
  return message;
}
