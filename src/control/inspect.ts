/**
 * Celery's `app.control.inspect()` (`celery/app/control.py:Inspect`): each method broadcasts one
 * inspect command with `reply=True` and resolves to the replies merged by node name,
 * `{'celery@host': reply, ...}` (`flatten_reply`), or `null` when no node replied within the timeout
 * (Celery's `None`).
 *
 *   const i = app.control.inspect({ timeout: 2 });
 *   await i.ping();        // { 'celery@a': { ok: 'pong' }, 'ts@b': { ok: 'pong' } }
 *   await i.registered('rate_limit');
 */
import type { PyDict, PyValue } from '../../protocol/values.ts';
import type { FloatValue } from './float.ts';
import type { BroadcastOptions } from './mailbox.ts';
import { matchNode } from './matcher.ts';

/** `{hostname: reply}`. */
export type NodeReplies<T = PyValue> = Record<string, T>;

/** `app.control.inspect(...)`'s options (Celery's keyword arguments). */
export interface InspectOptions {
  /** Node names to ask; every node when omitted. */
  destination?: string[] | null;
  /** Seconds to wait for a reply (for each next one). @default 1 */
  timeout?: number;
  /** Called with each reply (`{hostname: reply}`) as it arrives. */
  callback?: ((reply: PyDict) => void) | null;
  /** Stop after this many replies. */
  limit?: number | null;
  /** Only nodes whose name matches (sent to the workers with `matcher`; replies filtered either way). */
  pattern?: string | null;
  /** `glob` (default) or `pcre`. */
  matcher?: string | null;
}

/** What an Inspect sends its requests through (`Control.broadcast`). */
export type Broadcaster = (command: string, args: FloatValue, options: BroadcastOptions & { reply: true }) => Promise<PyDict[]>;

/**
 * `flatten_reply`: `[{a: r1}, {b: r2}]` → `{a: r1, b: r2}`; a node that replied twice (two workers
 * with one name) is warned about, as Celery's `DuplicateNodenameWarning`.
 */
export function flattenReply(replies: readonly PyDict[]): NodeReplies {
  const nodes: NodeReplies = {};
  const dupes = new Set<string>();
  for (const item of replies) {
    for (const name of Object.keys(item)) if (Object.hasOwn(nodes, name)) dupes.add(name);
    Object.assign(nodes, item);
  }
  if (dupes.size) {
    const names = [...dupes].sort();
    process.emitWarning(
      `Received multiple replies from node ${names.length === 1 ? 'name' : 'names'}: ${names.join(', ')}.\n` +
        'Please make sure you give each node a unique nodename using\nthe celery worker `-n` option.',
      'DuplicateNodenameWarning',
    );
  }
  return nodes;
}

/** Shapes of the common replies (what Celery's workers answer; a TypeScript worker answers the same). */
export interface TaskInfo {
  id: string;
  name: string;
  args: PyValue;
  kwargs: PyValue;
  type: string;
  hostname: string;
  time_start: number | null;
  acknowledged: boolean;
  delivery_info: PyDict;
  worker_pid: number | null;
  [key: string]: PyValue;
}

export class Inspect {
  readonly destination: string[] | null;
  readonly timeout: number;
  readonly callback: ((reply: PyDict) => void) | null;
  readonly limit: number | null;
  readonly pattern: string | null;
  readonly matcher: string | null;

  constructor(
    private readonly send: Broadcaster,
    options: InspectOptions = {},
  ) {
    this.destination = options.destination ?? null;
    this.timeout = options.timeout ?? 1;
    this.callback = options.callback ?? null;
    this.limit = options.limit ?? null;
    this.pattern = options.pattern ?? null;
    this.matcher = options.matcher ?? null;
  }

  /** `Inspect._prepare`: merged by node, only the nodes matching `pattern`; null when nobody replied. */
  prepare(replies: readonly PyDict[]): NodeReplies | null {
    if (!replies.length) return null;
    const byNode = flattenReply(replies);
    if (!this.pattern) return byNode;
    const out: NodeReplies = {};
    for (const [node, reply] of Object.entries(byNode)) if (matchNode(node, this.pattern, this.matcher)) out[node] = reply;
    return out;
  }

  /** `Inspect._request`: any inspect command by name, with its keyword arguments. */
  async request<T = PyValue>(command: string, args: FloatValue = {}, destination: string[] | null = this.destination): Promise<NodeReplies<T> | null> {
    const replies = await this.send(command, args, {
      destination, callback: this.callback, limit: this.limit, timeout: this.timeout, reply: true, pattern: this.pattern, matcher: this.matcher,
    });
    return this.prepare(replies) as NodeReplies<T> | null;
  }

  /** Human-readable report of each worker's installation: `{node: {ok: text}}`. */
  report(): Promise<NodeReplies<{ ok: string }> | null> {
    return this.request('report');
  }

  /** Each worker's logical clock: `{node: {clock: n}}`. */
  clock(): Promise<NodeReplies<{ clock: number }> | null> {
    return this.request('clock');
  }

  /** Tasks being executed. `safe`: do not deserialize their arguments. */
  active(safe: boolean | null = null): Promise<NodeReplies<TaskInfo[]> | null> {
    return this.request('active', { safe });
  }

  /** ETA/countdown tasks waiting for their time: `{eta, priority, request}` each. */
  scheduled(_safe: boolean | null = null): Promise<NodeReplies<{ eta: string; priority: number; request: TaskInfo }[]> | null> {
    return this.request('scheduled'); // Celery sends no argument either
  }

  /** Tasks received and waiting, not counting scheduled or active ones. */
  reserved(_safe: boolean | null = null): Promise<NodeReplies<TaskInfo[]> | null> {
    return this.request('reserved');
  }

  /** Worker statistics (broker, clock, pid, pool, prefetch_count, rusage, total, uptime). */
  stats(): Promise<NodeReplies<PyDict> | null> {
    return this.request('stats');
  }

  /** Revoked task ids. */
  revoked(): Promise<NodeReplies<string[]> | null> {
    return this.request('revoked');
  }

  /** Registered task names, with the given attributes (`'rate_limit'`, `'time_limit'`...) as `name [attr=value ...]`. */
  registered(...taskinfoitems: string[]): Promise<NodeReplies<string[]> | null> {
    return this.request('registered', { taskinfoitems });
  }

  /** Alias of {@link registered} (Celery's `registered_tasks`). */
  registeredTasks(...taskinfoitems: string[]): Promise<NodeReplies<string[]> | null> {
    return this.registered(...taskinfoitems);
  }

  /** `{node: {ok: 'pong'}}`; `destination` replaces this Inspect's destination (as Celery's does). */
  ping(destination: string[] | null = null): Promise<NodeReplies<{ ok: string }> | null> {
    return this.request('ping', {}, destination && destination.length ? destination : this.destination);
  }

  /** The queues each worker consumes (`name`, `exchange`, `routing_key`, `durable`, ...). */
  activeQueues(): Promise<NodeReplies<PyDict[]> | null> {
    return this.request('active_queues');
  }

  /** `{node: {task_id: [state, task_info]}}` for the given ids (one array of ids works too). */
  queryTask(...ids: (string | string[])[]): Promise<NodeReplies<Record<string, [string, TaskInfo]>> | null> {
    const list = ids.length === 1 && Array.isArray(ids[0]) ? ids[0] : (ids as string[]);
    return this.request('query_task', { ids: list });
  }

  /** Each worker's configuration (only the settings changed from the defaults unless `withDefaults`). */
  conf(withDefaults = false): Promise<NodeReplies<PyDict> | null> {
    return this.request('conf', { with_defaults: withDefaults });
  }

  /** Mingle's request: each worker's clock and revoked ids (`from_node` is the asking node's name). */
  hello(fromNode: string, revoked: PyValue = null): Promise<NodeReplies<PyDict> | null> {
    return this.request('hello', { from_node: fromNode, revoked });
  }

  /** A sample of each worker's RSS (needs psutil on Python workers). */
  memsample(): Promise<NodeReplies | null> {
    return this.request('memsample');
  }

  /** Statistics of the previous memsample requests. */
  memdump(samples = 10): Promise<NodeReplies | null> {
    return this.request('memdump', { samples });
  }

  /** A graph of uncollected objects (needs objgraph on Python workers). */
  objgraph(type = 'Request', n = 200, maxDepth = 10): Promise<NodeReplies | null> {
    return this.request('objgraph', { num: n, max_depth: maxDepth, type });
  }
}
