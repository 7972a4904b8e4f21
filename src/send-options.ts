/**
 * `apply_async` / `send_task` options: their types, and {@link normalizeSendOptions}, which validates
 * them once (snake_case or camelCase, one spelling each) with errors naming the option.
 */
import type { SignatureDict } from '../protocol/types.ts';
import { isPlainObject, type PyDict } from '../protocol/values.ts';
import type { ExchangeType } from './broker.ts';
import {
  checkCompression, checkDeliveryMode, checkExchangeType, checkPriority, checkSerializer, nearMatches, resolveRetryPolicy,
  toCamelCase, toSnakeCase, type RetryPolicyInput,
} from './config.ts';
import { ConfigurationError } from './errors.ts';
import type { TaskContext } from './producer.ts';
import type { ExchangeSpec, QueueSpec } from './routing.ts';

/** `apply_async` / `send_task` options. Every option also has its Celery snake_case spelling. */
export interface SendTaskOptions {
  /** Task id; a fresh uuid4 by default (`task_id`). */
  taskId?: string;
  task_id?: string;
  /** Seconds from now before the task may run (sets `eta`). */
  countdown?: number;
  /** Earliest run time: a Date, or an ISO 8601 string sent as is. */
  eta?: Date | string;
  /** Seconds from now, a Date, or an ISO string; the worker revokes the task after it (REVOKED). */
  expires?: number | Date | string;
  /** 0-9 on Redis (lower runs first), up to `x-max-priority` on RabbitMQ. */
  priority?: number;
  /** A queue name (in `task_queues`, or auto-created) or a queue spec. */
  queue?: string | QueueSpec;
  exchange?: string | ExchangeSpec;
  exchangeType?: ExchangeType;
  exchange_type?: ExchangeType;
  routingKey?: string;
  routing_key?: string;
  /** Custom headers, merged flat into the message headers (they arrive as `request.<name>`). */
  headers?: PyDict;
  /** Another name for logs and monitoring (`Request.name`). */
  shadow?: string;
  /** Hard time limit in seconds (`timelimit[0]`). */
  timeLimit?: number;
  time_limit?: number;
  /** Soft time limit in seconds (`timelimit[1]`). */
  softTimeLimit?: number;
  soft_time_limit?: number;
  /** Ask the worker not to store the result. @default task_ignore_result */
  ignoreResult?: boolean;
  ignore_result?: boolean;
  /** `json`, `msgpack` or `yaml`. @default task_serializer */
  serializer?: string;
  /** `zlib`, `bzip2`, `lzma`, `brotli`, `zstd`, ... (`null` = the default, as in Celery). @default task_compression */
  compression?: string | null;
  /** Signature(s) applied with the result when the task succeeds. */
  link?: SignatureDict | SignatureDict[];
  /** Signature(s) applied when it fails. */
  linkError?: SignatureDict | SignatureDict[];
  link_error?: SignatureDict | SignatureDict[];
  /** Retry publishing on connection errors. @default task_publish_retry */
  retry?: boolean;
  /** Merged onto `task_publish_retry_policy`. */
  retryPolicy?: RetryPolicyInput;
  retry_policy?: RetryPolicyInput;
  /** `reply_to` property. @default the app's oid */
  replyTo?: string;
  reply_to?: string;
  /** Explicit parent / root ids (else taken from {@link SendTaskOptions.parent} or the running task). */
  parentId?: string;
  parent_id?: string;
  rootId?: string;
  root_id?: string;
  /** The task this one is sent from; `null`: none. @default the task running in this async context */
  parent?: TaskContext | null;
  /**
   * Record the result in the sending task's `children` (Celery's `add_to_parent`, `add_trail`): stored
   * with its result, read by `AsyncResult.children`. Only when sent while a task runs. @default true
   */
  addToParent?: boolean;
  add_to_parent?: boolean;
  /** 2 persistent, 1 transient. @default the queue exchange's, then task_default_delivery_mode */
  deliveryMode?: number | 'persistent' | 'transient';
  delivery_mode?: number | 'persistent' | 'transient';
  /** Group membership (canvas). */
  groupId?: string;
  group_id?: string;
  groupIndex?: number;
  group_index?: number;
  retries?: number;
  /** Remaining chain steps, reversed (canvas). */
  chain?: SignatureDict[];
  chord?: SignatureDict;
  /** Stamps `{name: value}` (Celery's stamping API); names go to `stamped_headers`. */
  stamps?: PyDict;
  stampedHeaders?: string[];
  stamped_headers?: string[];
  argsrepr?: string;
  kwargsrepr?: string;
  replacedTaskNesting?: number;
  replaced_task_nesting?: number;
}

/** The validated options, one spelling each. */
export interface NormalizedSendOptions {
  taskId?: string;
  countdown?: number;
  eta?: Date | string;
  expires?: number | Date | string;
  priority?: number;
  queue?: string | QueueSpec;
  exchange?: string | ExchangeSpec;
  exchangeType?: ExchangeType;
  routingKey?: string;
  headers?: PyDict;
  shadow?: string;
  timeLimit?: number;
  softTimeLimit?: number;
  ignoreResult?: boolean;
  serializer?: string;
  compression?: string | null;
  link?: SignatureDict[];
  linkError?: SignatureDict[];
  retry?: boolean;
  retryPolicy?: RetryPolicyInput;
  replyTo?: string;
  parentId?: string;
  rootId?: string;
  parent?: TaskContext | null;
  addToParent?: boolean;
  deliveryMode?: number;
  groupId?: string;
  groupIndex?: number;
  retries?: number;
  chain?: SignatureDict[];
  chord?: SignatureDict;
  stamps?: PyDict;
  stampedHeaders?: string[];
  argsrepr?: string;
  kwargsrepr?: string;
  replacedTaskNesting?: number;
}

type Check = (name: string, v: unknown) => unknown;

function fail(name: string, expected: string, v: unknown): never {
  let shown: string;
  try {
    shown = typeof v === 'function' ? 'a function' : (JSON.stringify(v) ?? String(v));
  } catch {
    shown = String(v);
  }
  throw new ConfigurationError(`option ${name} must be ${expected}, got ${shown}`);
}
const str: Check = (n, v) => (typeof v === 'string' && v !== '' ? v : fail(n, 'a non-empty string', v));
const seconds: Check = (n, v) => (typeof v === 'number' && Number.isFinite(v) ? v : fail(n, 'a finite number of seconds', v));
const posSeconds: Check = (n, v) => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : fail(n, 'a number of seconds >= 0', v));
const bool: Check = (n, v) => (typeof v === 'boolean' ? v : fail(n, 'true or false', v));
const intGe0: Check = (n, v) => (typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : fail(n, 'an integer >= 0', v));
const dict: Check = (n, v) => (isPlainObject(v) ? v : fail(n, 'an object', v));
const date: Check = (n, v) => {
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? fail(n, 'a valid Date', v) : v;
  if (typeof v === 'string' && !Number.isNaN(Date.parse(v))) return v;
  return fail(n, 'a Date or an ISO 8601 string', v);
};
const signatures: Check = (n, v) => {
  const list = Array.isArray(v) ? v : [v];
  for (const s of list) if (!isPlainObject(s) || typeof (s as PyDict).task !== 'string') fail(n, 'a signature (signature(...) / task.s(...)) or a list of them', s);
  return list;
};
const strList: Check = (n, v) => (Array.isArray(v) && v.every((x) => typeof x === 'string') ? v : fail(n, 'a list of strings', v));
const nameOrSpec: Check = (n, v) => (typeof v === 'string' || (isPlainObject(v) && typeof (v as PyDict).name === 'string') ? v : fail(n, 'a name or {name, ...}', v));

const CHECKS: { [K in keyof NormalizedSendOptions]-?: Check } = {
  taskId: str,
  countdown: seconds,
  eta: date,
  expires: (n, v) => (typeof v === 'number' ? seconds(n, v) : date(n, v)),
  priority: checkPriority,
  queue: nameOrSpec,
  exchange: (n, v) => (v === '' ? v : nameOrSpec(n, v)),
  exchangeType: checkExchangeType,
  routingKey: (n, v) => (typeof v === 'string' ? v : fail(n, 'a string', v)),
  headers: dict,
  shadow: str,
  timeLimit: posSeconds,
  softTimeLimit: posSeconds,
  ignoreResult: bool,
  serializer: checkSerializer,
  compression: checkCompression,
  link: signatures,
  linkError: signatures,
  retry: bool,
  retryPolicy: (n, v) => (resolveRetryPolicy(n, v), v),
  replyTo: (n, v) => (typeof v === 'string' ? v : fail(n, 'a string', v)),
  parentId: str,
  rootId: str,
  parent: (n, v) => (isPlainObject(v) && typeof (v as PyDict).id === 'string' ? v : fail(n, 'a task context {id, root_id}', v)),
  addToParent: bool,
  deliveryMode: checkDeliveryMode,
  groupId: str,
  groupIndex: intGe0,
  retries: intGe0,
  chain: (n, v) => (Array.isArray(v) ? signatures(n, v) : fail(n, 'a list of signatures', v)),
  chord: (n, v) => (signatures(n, v) as SignatureDict[])[0],
  stamps: dict,
  stampedHeaders: strList,
  argsrepr: (n, v) => (typeof v === 'string' ? v : fail(n, 'a string', v)),
  kwargsrepr: (n, v) => (typeof v === 'string' ? v : fail(n, 'a string', v)),
  replacedTaskNesting: intGe0,
};
const OPTION_NAMES = Object.keys(CHECKS);
const SNAKE_OPTION_NAMES = OPTION_NAMES.map(toSnakeCase);

/** Every accepted spelling (camelCase and snake_case) -> [camelCase, snake_case, check]. */
const SPELLINGS = new Map<string, readonly [string, string, Check]>();
for (const camel of OPTION_NAMES) {
  const entry = [camel, toSnakeCase(camel), (CHECKS as Record<string, Check>)[camel]!] as const;
  SPELLINGS.set(camel, entry);
  SPELLINGS.set(entry[1], entry);
}

/**
 * Validate `apply_async` options once: each option in snake_case or camelCase (not both), `undefined`
 * and `null` mean "not given", unknown names fail naming the nearest known ones.
 * `where` prefixes error messages (e.g. "route for tasks.add").
 */
export function normalizeSendOptions(input: SendTaskOptions | Record<string, unknown> = {}, where = 'send option'): NormalizedSendOptions {
  if (!isPlainObject(input)) throw new ConfigurationError(`${where}s must be an object`);
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(input)) {
    const value = (input as Record<string, unknown>)[key];
    const spelling = SPELLINGS.get(key);
    if (spelling !== undefined) {
      // the common case: a known option, in one of its two spellings
      const camel = spelling[0];
      if (value === undefined || (value === null && camel !== 'parent')) continue;
      // set already: by the other spelling (an object has each key once)
      if (camel in out) throw new ConfigurationError(`${where} ${spelling[1]} is given twice (as ${key === camel ? spelling[1] : camel} and ${key})`);
      out[camel] = value === null ? null : spelling[2](spelling[1], value);
      continue;
    }
    const camel = toCamelCase(key);
    const check = (CHECKS as Record<string, Check | undefined>)[camel];
    if (!check || (key !== camel && key !== toSnakeCase(camel))) {
      const near = nearMatches(key, SNAKE_OPTION_NAMES);
      throw new ConfigurationError(
        `unknown ${where} ${JSON.stringify(key)}${near.length ? `; did you mean ${near.map((n) => JSON.stringify(n)).join(' or ')}?` : ''}`,
      );
    }
    if (value === undefined || (value === null && camel !== 'parent')) continue;
    if (camel in out) throw new ConfigurationError(`${where} ${toSnakeCase(camel)} is given twice (as ${key === camel ? toSnakeCase(camel) : camel} and ${key})`);
    out[camel] = value === null ? null : check(toSnakeCase(camel), value);
  }
  return out as NormalizedSendOptions;
}
