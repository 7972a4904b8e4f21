/**
 * Result backend records (`celery/backends/base.py`, `redis.py`, `rpc.py`, `celery/result.py`).
 *
 * A stored result ("meta") is a dict, keys in Celery's order (`Backend._get_result_meta` then
 * `task_id` appended by `BaseKeyValueStoreBackend._store_result`):
 *
 *     {"status": "SUCCESS", "result": 5, "traceback": null, "children": [],
 *      "date_done": "2026-11-21T11:41:07.106196+00:00", "task_id": "s1"}
 *
 * These helpers work on PyValue dicts; serializing them (kombu JSON, msgpack...) is the
 * serialization module's job.
 */
import { ProtocolError } from './errors.ts';
import {
  exceptionFromInfo,
  exceptionToInfo,
  parseExceptionInfo,
  PythonError,
  TaskRevokedError,
  type ExceptionInfo,
} from './exceptions.ts';
import { EXCEPTION_STATES, READY_STATES, REVOKED, STARTED } from './states.ts';
import { isoformatUTC, isPlainObject, type PyDict, type PyValue } from './values.ts';

/** A stored task result (`celery-task-meta-<id>` value once decoded). */
export interface ResultMeta {
  status: string;
  result: PyValue;
  traceback: string | null;
  children: PyValue[] | null;
  date_done: string | null;
  task_id: string;
  group_id?: string;
  parent_id?: string;
  /** `result_extended` fields. */
  name?: string | null;
  args?: PyValue;
  kwargs?: PyValue;
  worker?: string | null;
  retries?: number | null;
  queue?: string | null;
  stamped_headers?: PyValue;
  [extra: string]: PyValue | undefined;
}

/** What the backend reads from the task request (`celery.worker.request.Context`-like). */
export interface ResultRequest {
  group?: string | null;
  parent_id?: string | null;
  task?: string | null;
  args?: PyValue;
  kwargs?: PyValue;
  hostname?: string | null;
  retries?: number | null;
  delivery_info?: { routing_key?: PyValue; [k: string]: PyValue | undefined } | null;
  stamped_headers?: string[] | null;
  stamps?: PyDict | null;
  /** Result tuples of tasks sent while executing (`request.children` → `as_tuple()`). */
  children?: ResultTuple[] | null;
}

export interface BuildResultMetaOptions {
  taskId: string;
  state: string;
  /**
   * The task's return value. For RETRY/FAILURE/REVOKED an `Error` (or an {@link ExceptionInfo})
   * is encoded with {@link exceptionToInfo}; for REVOKED a string (or nothing) is the reason
   * (`TaskRevokedError(["revoked"|"expired"|"terminated"])`).
   */
  result?: unknown;
  traceback?: string | null;
  /** Overrides `request.children`. Default: `request.children ?? []` with a request, else null. */
  children?: PyValue[] | null;
  request?: ResultRequest | null;
  /** `result_extended=True`. */
  extended?: boolean;
  /** Time of `date_done` (READY states only); default now. */
  now?: Date;
}

/** The value `encode_result` stores for `state` (exceptions → exception dict). */
export function encodeResult(result: unknown, state: string): PyValue {
  if (state === REVOKED && (result === undefined || result === null || typeof result === 'string')) {
    return new TaskRevokedError([result ?? 'revoked']).toInfo() as unknown as PyValue;
  }
  if (EXCEPTION_STATES.has(state) && (result instanceof Error || isInfoLike(result))) {
    return exceptionToInfo(result) as unknown as PyValue;
  }
  if (result instanceof Error) return exceptionToInfo(result) as unknown as PyValue;
  return (result === undefined ? null : result) as PyValue;
}

function isInfoLike(value: unknown): boolean {
  return isPlainObject(value) && typeof value['exc_type'] === 'string';
}

/** STARTED's result as the worker stores it (`{pid, hostname}`). */
export function startedResult(pid: number, hostname: string): PyDict {
  return { pid, hostname };
}

/** `Backend._get_result_meta(...)` + `task_id`, in Celery's key order. */
export function buildResultMeta(opts: BuildResultMetaOptions): ResultMeta {
  const { state, request } = opts;
  const children =
    opts.children !== undefined ? opts.children : request ? ((request.children ?? []) as PyValue[]) : null;
  const meta: ResultMeta = {
    status: state,
    result: encodeResult(opts.result, state),
    traceback: opts.traceback ?? null,
    children,
    date_done: READY_STATES.has(state) ? isoformatUTC(opts.now ?? new Date()) : null,
  } as ResultMeta;
  if (request?.group) meta.group_id = request.group;
  if (request?.parent_id) meta.parent_id = request.parent_id;
  if (opts.extended && request) {
    meta.name = request.task ?? null;
    meta.args = request.args ?? null;
    meta.kwargs = request.kwargs ?? null;
    meta.worker = request.hostname ?? null;
    meta.retries = request.retries ?? null;
    const rk = request.delivery_info ? request.delivery_info.routing_key : null;
    meta.queue = (rk ?? null) as string | null;
    if (request.stamps && Object.keys(request.stamps).length > 0) {
      meta.stamped_headers = request.stamped_headers ?? null;
      for (const [k, v] of Object.entries(request.stamps)) meta[k] = v;
    }
  }
  meta.task_id = opts.taskId;
  return meta;
}

function fail(message: string, path?: string): never {
  throw new ProtocolError('result', message, path === undefined ? {} : { path });
}

function optString(value: PyValue | undefined, path: string): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string') fail(`expected a string or null, got ${typeof value}`, path);
  return value;
}

/**
 * Validate a decoded meta dict. `taskId` fills `task_id` when the record lacks it. For exception
 * states a non-null `result` must be a valid exception dict.
 */
export function parseResultMeta(value: PyValue, taskId?: string): ResultMeta {
  if (!isPlainObject(value)) fail('a result meta must be a dict');
  const v = value as PyDict;
  const status = v['status'];
  if (typeof status !== 'string' || status === '') fail('status must be a non-empty string', 'status');
  const traceback = optString(v['traceback'], 'traceback');
  const children = v['children'];
  if (children !== undefined && children !== null && !Array.isArray(children)) {
    fail('children must be a list or null', 'children');
  }
  let dateDone: string | null;
  const dd = v['date_done'];
  if (dd instanceof Date) dateDone = 'isoformat' in dd ? String((dd as { isoformat: unknown }).isoformat) : isoformatUTC(dd);
  else dateDone = optString(dd, 'date_done');
  const tid = v['task_id'] ?? taskId;
  if (typeof tid !== 'string') fail('task_id must be a string', 'task_id');
  const result = v['result'] === undefined ? null : (v['result'] as PyValue);
  if (EXCEPTION_STATES.has(status) && result !== null) {
    try {
      parseExceptionInfo(result, 'result');
    } catch (err) {
      fail(`state ${status} needs an exception dict in result: ${(err as Error).message}`, 'result');
    }
  }
  for (const key of ['group_id', 'parent_id'] as const) {
    const x = v[key];
    if (x !== undefined && x !== null && typeof x !== 'string') fail(`${key} must be a string`, key);
  }
  const meta: ResultMeta = { ...(v as Record<string, PyValue>) } as ResultMeta;
  meta.status = status;
  meta.result = result;
  meta.traceback = traceback;
  meta.children = (children ?? null) as PyValue[] | null;
  meta.date_done = dateDone;
  meta.task_id = tid;
  return meta;
}

/**
 * The task's value: the result for non-exception states, the typed error (not thrown) for
 * RETRY/FAILURE/REVOKED (`Backend.meta_from_decoded` → `exception_to_python`).
 */
export function resultValue(meta: ResultMeta): PyValue | PythonError {
  if (EXCEPTION_STATES.has(meta.status)) {
    if (meta.result === null || meta.result === undefined) return null;
    return exceptionFromInfo(meta.result, meta.traceback, meta.status);
  }
  return meta.result;
}

/** The exception dict of an exception-state meta, or null. */
export function resultException(meta: ResultMeta): ExceptionInfo | null {
  if (!EXCEPTION_STATES.has(meta.status) || meta.result === null) return null;
  return parseExceptionInfo(meta.result);
}

// ---------------------------------------------------------------------------------------------
// Keys

export const TASK_KEYPREFIX = 'celery-task-meta-';
export const GROUP_KEYPREFIX = 'celery-taskset-meta-';
export const CHORD_KEYPREFIX = 'chord-unlock-';

/**
 * `result_backend_transport_options['global_keyprefix']` as `BaseKeyValueStoreBackend` applies it:
 * `_` is appended unless the prefix already ends in one of `:_-.`; empty/undefined → ''.
 */
export function normalizeGlobalKeyprefix(prefix?: string | null): string {
  if (!prefix) return '';
  return ':_-.'.includes(prefix[prefix.length - 1] ?? '') ? prefix : `${prefix}_`;
}

/** `celery-task-meta-<id>` (also the Redis pub/sub channel). */
export function taskKey(taskId: string, globalKeyprefix?: string | null): string {
  return `${normalizeGlobalKeyprefix(globalKeyprefix)}${TASK_KEYPREFIX}${taskId}`;
}
/** `celery-taskset-meta-<gid>` (+ `suffix`, e.g. `.j`). */
export function groupKey(groupId: string, globalKeyprefix?: string | null, suffix = ''): string {
  return `${normalizeGlobalKeyprefix(globalKeyprefix)}${GROUP_KEYPREFIX}${groupId}${suffix}`;
}
/** Redis chord header results (ZSET, or LIST when `result_chord_ordered=False`). */
export function chordJoinKey(groupId: string, globalKeyprefix?: string | null): string {
  return groupKey(groupId, globalKeyprefix, '.j');
}
/** Redis chord size, written by the producer. */
export function chordSizeKey(groupId: string, globalKeyprefix?: string | null): string {
  return groupKey(groupId, globalKeyprefix, '.s');
}
/** Redis chord extra-member counter (`Task.add_to_chord`). */
export function chordTotalKey(groupId: string, globalKeyprefix?: string | null): string {
  return groupKey(groupId, globalKeyprefix, '.t');
}
/** `chord-unlock-<gid>` counter of incr-capable KV backends (not Redis). */
export function chordUnlockKey(groupId: string, globalKeyprefix?: string | null): string {
  return `${normalizeGlobalKeyprefix(globalKeyprefix)}${CHORD_KEYPREFIX}${groupId}`;
}

// ---------------------------------------------------------------------------------------------
// Result tuples (`AsyncResult.as_tuple`, `GroupResult.as_tuple`, `result_from_tuple`)

/** `[[id, parentTuple|null], null]` for a task, `[[gid, parentTuple|null], [memberTuples]]` for a group. */
export type ResultTuple = [[string, ResultTuple | null], ResultTuple[] | null];

/** A decoded result reference. */
export type ResultRef =
  | { kind: 'task'; id: string; parent: ResultRef | null }
  | { kind: 'group'; id: string; parent: ResultRef | null; results: ResultRef[] };

/** `AsyncResult(id, parent=parent).as_tuple()`. */
export function asTuple(id: string, parent?: ResultRef | ResultTuple | null): ResultTuple {
  return [[id, toTuple(parent)], null];
}

/** `GroupResult(gid, results, parent=parent).as_tuple()`; members are ids, refs or tuples. */
export function groupAsTuple(
  groupId: string,
  results: readonly (string | ResultRef | ResultTuple)[],
  parent?: ResultRef | ResultTuple | null,
): ResultTuple {
  return [[groupId, toTuple(parent)], results.map((r) => (typeof r === 'string' ? asTuple(r) : toTuple(r) as ResultTuple))];
}

function toTuple(ref: ResultRef | ResultTuple | null | undefined): ResultTuple | null {
  if (!ref) return null;
  if (Array.isArray(ref)) return ref;
  if (ref.kind === 'task') return asTuple(ref.id, ref.parent);
  return groupAsTuple(ref.id, ref.results, ref.parent);
}

/** The tuple form of a {@link ResultRef}. */
export function refToTuple(ref: ResultRef): ResultTuple {
  return toTuple(ref) as ResultTuple;
}

/**
 * `result_from_tuple`: `res, nodes = r`; `res` is `[id, parent]` or a bare id; `nodes` not null
 * means a GroupResult.
 */
export function fromTuple(value: PyValue, path = 'result'): ResultRef {
  if (!Array.isArray(value) || value.length !== 2) fail('a result tuple must be a 2-element list', path);
  const [res, nodes] = value as [PyValue, PyValue];
  let id: PyValue;
  let parentValue: PyValue = null;
  if (Array.isArray(res)) {
    if (res.length !== 2) fail('expected [id, parent]', `${path}[0]`);
    id = res[0] as PyValue;
    parentValue = res[1] as PyValue;
  } else {
    id = res;
  }
  if (typeof id !== 'string') fail('result id must be a string', `${path}[0][0]`);
  const parent = parentValue ? fromTuple(parentValue, `${path}[0][1]`) : null;
  if (nodes !== null && nodes !== undefined) {
    if (!Array.isArray(nodes)) fail('group members must be a list', `${path}[1]`);
    return { kind: 'group', id, parent, results: nodes.map((n, i) => fromTuple(n, `${path}[1][${i}]`)) };
  }
  return { kind: 'task', id, parent };
}

/** The value `_save_group` stores at `celery-taskset-meta-<gid>`: `{"result": <GroupResult tuple>}`. */
export function groupMeta(groupId: string, results: readonly (string | ResultRef | ResultTuple)[]): PyDict {
  return { result: groupAsTuple(groupId, results) as unknown as PyValue };
}

/** Parse a saved group (`restore_group`); the stored tuple must be a group. */
export function parseGroupMeta(value: PyValue): Extract<ResultRef, { kind: 'group' }> {
  if (!isPlainObject(value)) fail('group meta must be a dict');
  const ref = fromTuple((value as PyDict)['result'] ?? null, 'result');
  if (ref.kind !== 'group') fail('group meta result is not a GroupResult tuple', 'result');
  return ref;
}

// ---------------------------------------------------------------------------------------------
// Redis chord join member (`RedisBackend.on_chord_part_return`)

/**
 * The ZSET/LIST member for `celery-taskset-meta-<gid>.j`: `[1, task_id, state, encode_result(result)]`
 * (the raw encoded result, not the meta dict), JSON-encoded by the result serializer. Score =
 * `group_index`, or `'+inf'` when the request had none.
 */
export function chordJoinMember(taskId: string, state: string, result: unknown): PyValue[] {
  return [1, taskId, state, encodeResult(result, state)];
}

/** ZADD score of a chord part. */
export function chordJoinScore(groupIndex: number | null | undefined): number | '+inf' {
  return groupIndex === null || groupIndex === undefined ? '+inf' : groupIndex;
}

export interface ChordJoinPart {
  taskId: string;
  state: string;
  /** The value, or the typed error for exception states. */
  result: PyValue | PythonError;
}

/** Decode a `.j` member (`RedisBackend._unpack_chord_result`, without raising). */
export function parseChordJoinMember(value: PyValue): ChordJoinPart {
  if (!Array.isArray(value) || value.length !== 4) fail('a chord join member must be [1, task_id, state, result]');
  const [, tid, state, result] = value as [PyValue, PyValue, PyValue, PyValue];
  if (typeof tid !== 'string') fail('task id must be a string', '[1]');
  if (typeof state !== 'string') fail('state must be a string', '[2]');
  if (EXCEPTION_STATES.has(state) && result !== null) {
    return { taskId: tid, state, result: exceptionFromInfo(result, null, state) };
  }
  return { taskId: tid, state, result };
}

// ---------------------------------------------------------------------------------------------
// RPC backend reply (`RPCBackend._to_result`)

export interface RpcReply {
  task_id: string;
  status: string;
  result: PyValue;
  traceback: string | null;
  children: PyValue[] | null;
}

/** The body the RPC backend publishes to `reply_to` for every state (no `date_done`). */
export function buildRpcReply(opts: Omit<BuildResultMetaOptions, 'extended' | 'now'>): RpcReply {
  const children =
    opts.children !== undefined ? opts.children : opts.request ? ((opts.request.children ?? []) as PyValue[]) : null;
  return {
    task_id: opts.taskId,
    status: opts.state,
    result: encodeResult(opts.result, opts.state),
    traceback: opts.traceback ?? null,
    children,
  };
}

/** Validate an RPC reply body. */
export function parseRpcReply(value: PyValue): RpcReply {
  const meta = parseResultMeta(value);
  return {
    task_id: meta.task_id,
    status: meta.status,
    result: meta.result,
    traceback: meta.traceback,
    children: meta.children,
  };
}

/** `started` meta helper: STARTED with `{pid, hostname}` (`mark_as_started` has no request → children null). */
export function startedMeta(taskId: string, pid: number, hostname: string): ResultMeta {
  return buildResultMeta({ taskId, state: STARTED, result: startedResult(pid, hostname) });
}
