/**
 * Canvas wire forms (`celery/canvas.py`) as plain data. Nothing here sends anything: these build
 * and read the signature dicts Celery puts in `embed`, `options.link`, `celery.chain`/`group`/
 * `chord` kwargs, and compute the per-message forms (chain → first step + reversed `embed.chain`,
 * group/chord → members with `group_id`/`group_index`/`chord`).
 *
 * Key order of every dict follows Python's `dict(sig)`: task, args, kwargs, options,
 * subtask_type, immutable.
 */
import { randomUUID } from 'node:crypto';
import { ProtocolError } from './errors.ts';
import type { SignatureDict } from './types.ts';
import { isPlainObject, type PyDict, type PyValue } from './values.ts';

/** `Signature._IMMUTABLE_OPTIONS`: never overridden by merge (plus the signature's stamped headers). */
export const IMMUTABLE_OPTIONS: ReadonlySet<string> = new Set(['group_id', 'stamped_headers']);

/** `signature(task, args, kwargs, options)` / `task.s(...)`. */
export function signature(
  task: string,
  args: readonly PyValue[] = [],
  kwargs: PyDict = {},
  options: PyDict = {},
): SignatureDict {
  return { task, args: [...args], kwargs: { ...kwargs }, options: { ...options }, subtask_type: null, immutable: false };
}

/** `task.si(...)`: parent results are not prepended. */
export function immutableSignature(
  task: string,
  args: readonly PyValue[] = [],
  kwargs: PyDict = {},
  options: PyDict = {},
): SignatureDict {
  return { ...signature(task, args, kwargs, options), immutable: true };
}

function fail(message: string, path: string): never {
  throw new ProtocolError('signature', message, { path });
}

function isSigLike(value: unknown): value is PyDict {
  return isPlainObject(value) && typeof value['task'] === 'string';
}

/**
 * Validate a signature dict (`Signature.from_dict`). Missing `args`/`kwargs`/`options`/
 * `subtask_type`/`immutable` get their defaults; extra keys (e.g. `chord_size`) are kept. Members
 * of chain/group/chord, `options.link`/`link_error`/`chord` are validated recursively.
 */
export function signatureFromDict(value: PyValue | undefined, path = 'signature'): SignatureDict {
  if (!isPlainObject(value)) fail('a signature must be a dict', path);
  const v = value as PyDict;
  const task = v['task'];
  if (typeof task !== 'string' || task === '') fail('task must be a non-empty string', `${path}.task`);
  const args = v['args'] ?? [];
  if (!Array.isArray(args)) fail('args must be a list', `${path}.args`);
  const kwargs = v['kwargs'] ?? {};
  if (!isPlainObject(kwargs)) fail('kwargs must be a dict', `${path}.kwargs`);
  const options = v['options'] ?? {};
  if (!isPlainObject(options)) fail('options must be a dict', `${path}.options`);
  const subtaskType = v['subtask_type'] ?? null;
  if (subtaskType !== null && typeof subtaskType !== 'string') fail('subtask_type must be a string or null', `${path}.subtask_type`);
  const immutable = v['immutable'] ?? false;
  if (typeof immutable !== 'boolean') fail('immutable must be a boolean', `${path}.immutable`);
  const chordSize = v['chord_size'];
  if (chordSize !== undefined && chordSize !== null && typeof chordSize !== 'number') {
    fail('chord_size must be an integer or null', `${path}.chord_size`);
  }
  const kw = kwargs as PyDict;
  const opts = options as PyDict;
  if (subtaskType === 'chain' || subtaskType === 'group') {
    const tasks = kw['tasks'];
    if (!Array.isArray(tasks)) fail(`${subtaskType} needs kwargs.tasks as a list`, `${path}.kwargs.tasks`);
    tasks.forEach((t, i) => signatureFromDict(t, `${path}.kwargs.tasks[${i}]`));
  } else if (subtaskType === 'chord') {
    const header = kw['header'];
    if (Array.isArray(header)) header.forEach((t, i) => signatureFromDict(t, `${path}.kwargs.header[${i}]`));
    else signatureFromDict(header, `${path}.kwargs.header`);
    if (kw['body'] !== null && kw['body'] !== undefined) signatureFromDict(kw['body'], `${path}.kwargs.body`);
  }
  for (const key of ['link', 'link_error']) {
    const l = opts[key];
    if (l === undefined || l === null) continue;
    if (Array.isArray(l)) l.forEach((t, i) => signatureFromDict(t, `${path}.options.${key}[${i}]`));
    else signatureFromDict(l, `${path}.options.${key}`);
  }
  if (opts['chord'] !== undefined && opts['chord'] !== null) signatureFromDict(opts['chord'], `${path}.options.chord`);
  const out: SignatureDict = {
    ...(v as Record<string, PyValue>),
    task,
    args: args as PyValue[],
    kwargs: kw,
    options: opts,
    subtask_type: subtaskType as string | null,
    immutable,
  };
  // Re-establish Celery's key order, extras last.
  const { task: _t, args: _a, kwargs: _k, options: _o, subtask_type: _s, immutable: _i, ...extra } = out;
  return { task, args: args as PyValue[], kwargs: kw, options: opts, subtask_type: subtaskType as string | null, immutable, ...extra };
}

/** Deep copy of plain dicts/lists; class instances (dates, bytes...) are shared. */
function deepCopy<T>(value: T): T {
  if (Array.isArray(value)) return value.map(deepCopy) as T;
  if (isPlainObject(value)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = deepCopy(v);
    return out as T;
  }
  return value;
}

/**
 * `Signature._merge(args, kwargs, options)`: partial args are PREPENDED, kwargs merged over the
 * signature's, options merged except `group_id`/`stamped_headers`/stamped keys already set;
 * an immutable signature keeps its args/kwargs unless `force`.
 */
export function mergeSignature(
  sig: SignatureDict,
  args?: readonly PyValue[] | null,
  kwargs?: PyDict | null,
  options?: PyDict | null,
  force = false,
): { args: PyValue[]; kwargs: PyDict; options: PyDict } {
  let newOptions = sig.options;
  if (options) {
    const immutable = new Set(IMMUTABLE_OPTIONS);
    const stamped = sig.options['stamped_headers'];
    if ('stamped_headers' in sig.options && Array.isArray(stamped)) {
      for (const s of stamped) if (typeof s === 'string') immutable.add(s);
    }
    newOptions = { ...sig.options };
    for (const [k, v] of Object.entries(options)) {
      if (!immutable.has(k) || !(k in sig.options)) newOptions[k] = v;
    }
  }
  if (sig.immutable && !force) return { args: sig.args, kwargs: sig.kwargs, options: newOptions };
  return {
    args: args && args.length ? [...args, ...sig.args] : sig.args,
    kwargs: kwargs && Object.keys(kwargs).length ? { ...sig.kwargs, ...kwargs } : sig.kwargs,
    options: newOptions,
  };
}

/** `sig.clone(args, kwargs, **options)`: a deep copy with {@link mergeSignature} applied. */
export function cloneSignature(
  sig: SignatureDict,
  args?: readonly PyValue[] | null,
  kwargs?: PyDict | null,
  options?: PyDict | null,
): SignatureDict {
  const m =
    (args && args.length) || (kwargs && Object.keys(kwargs).length) || (options && Object.keys(options).length)
      ? mergeSignature(sig, args, kwargs, options)
      : { args: sig.args, kwargs: sig.kwargs, options: sig.options };
  const { task: _t, args: _a, kwargs: _k, options: _o, subtask_type: _s, immutable: _i, ...extra } = sig;
  return deepCopy({
    task: sig.task,
    args: [...m.args],
    kwargs: m.kwargs,
    options: m.options,
    subtask_type: sig.subtask_type,
    immutable: sig.immutable,
    ...extra,
  }) as SignatureDict;
}

export interface FreezeOptions {
  /** Used when the signature has no `options.task_id` yet; default a new uuid4. */
  taskId?: string;
  /** Used when `options.reply_to` is missing (Python: `app.thread_oid`). */
  replyTo?: string | null;
  /** Set only when the signature has no `group_id` yet. */
  groupId?: string | null;
  groupIndex?: number | null;
  rootId?: string | null;
  parentId?: string | null;
  /** Chord body (header members get it as `options.chord`). */
  chord?: SignatureDict | null;
}

/**
 * `Signature.freeze(_id, group_id, chord, root_id, parent_id, group_index)` for a plain task
 * signature: returns a copy whose options carry `task_id` (kept if present), `root_id`/`parent_id`
 * (when given), `reply_to` (when missing and `replyTo` is given), `group_id` (unless already set),
 * `chord`, `group_index` — in that order, like Python.
 */
export function freezeSignature(sig: SignatureDict, f: FreezeOptions = {}): SignatureDict {
  const out = cloneSignature(sig);
  const o = out.options;
  if (typeof o['task_id'] !== 'string') o['task_id'] = f.taskId ?? randomUUID();
  if (f.rootId) o['root_id'] = f.rootId;
  if (f.parentId) o['parent_id'] = f.parentId;
  if (!('reply_to' in o) && f.replyTo) o['reply_to'] = f.replyTo;
  if (f.groupId && !('group_id' in o)) o['group_id'] = f.groupId;
  if (f.chord) o['chord'] = f.chord as unknown as PyValue;
  if (f.groupIndex !== null && f.groupIndex !== undefined) o['group_index'] = f.groupIndex;
  return out;
}

/** The task id of a frozen signature. */
export function signatureId(sig: SignatureDict): string | null {
  const id = sig.options['task_id'];
  return typeof id === 'string' ? id : null;
}

function composite(task: string, kwargs: PyDict, options: PyDict, subtaskType: string | null, immutable = false): SignatureDict {
  return { task, args: [], kwargs, options: { ...options }, subtask_type: subtaskType, immutable };
}

/** `chain(*tasks, **options)` dict form. */
export function chain(tasks: readonly SignatureDict[], options: PyDict = {}): SignatureDict {
  return composite('celery.chain', { tasks: [...tasks] as unknown as PyValue[] }, options, 'chain');
}

/** `group(*tasks, **options)` dict form. */
export function group(tasks: readonly SignatureDict[], options: PyDict = {}): SignatureDict {
  return composite('celery.group', { tasks: [...tasks] as unknown as PyValue[] }, options, 'group');
}

/** `chord(header, body, **options)` dict form: kwargs `{kwargs: {}, header: [...], body}`. */
export function chord(
  header: readonly SignatureDict[] | SignatureDict,
  body: SignatureDict | null,
  options: PyDict = {},
  kwargs: PyDict = {},
): SignatureDict {
  const h = (Array.isArray(header) ? [...header] : header) as unknown as PyValue;
  return composite('celery.chord', { kwargs, header: h, body: body as unknown as PyValue }, options, 'chord');
}

/** `task.map(it)` → `xmap` dict form (`celery.map`, immutable, subtask_type null in Celery 5.6). */
export function xmap(task: SignatureDict, it: readonly PyValue[], options: PyDict = {}): SignatureDict {
  return composite('celery.map', { task: task as unknown as PyValue, it: [...it] }, options, null, true);
}

/** `task.starmap(it)` → `xstarmap` dict form (`celery.starmap`). */
export function xstarmap(task: SignatureDict, it: readonly PyValue[][], options: PyDict = {}): SignatureDict {
  return composite('celery.starmap', { task: task as unknown as PyValue, it: it.map((x) => [...x]) }, options, null, true);
}

/** `task.chunks(it, n)` → `chunks` dict form (`celery.chunks`, kwargs `{task, it, n}`). */
export function chunks(task: SignatureDict, it: readonly PyValue[][], n: number, options: PyDict = {}): SignatureDict {
  return composite('celery.chunks', { task: task as unknown as PyValue, it: it.map((x) => [...x]), n }, options, null, true);
}

/** `chunks.group()`: a group of `celery.starmap` signatures, one per `n`-sized slice. */
export function chunksToGroup(task: SignatureDict, it: readonly PyValue[][], n: number): SignatureDict {
  if (!Number.isInteger(n) || n < 1) throw new ProtocolError('signature', `chunk size must be a positive integer, got ${n}`);
  const parts: SignatureDict[] = [];
  for (let i = 0; i < it.length; i += n) parts.push(xstarmap(task, it.slice(i, i + n)));
  return group(parts);
}

/** The task message a map/starmap signature becomes: name, `args=[]`, `kwargs={task, it}`. */
export function mapMessage(sig: SignatureDict): { task: string; args: PyValue[]; kwargs: PyDict } {
  const task = sig.kwargs['task'];
  const it = sig.kwargs['it'];
  if (!isSigLike(task)) fail('map/starmap needs kwargs.task', 'signature.kwargs.task');
  if (!Array.isArray(it)) fail('map/starmap needs kwargs.it as a list', 'signature.kwargs.it');
  return { task: sig.task, args: [], kwargs: { task, it } };
}

function asList(v: PyValue | undefined): PyValue[] {
  if (v === undefined || v === null) return [];
  return Array.isArray(v) ? v : [v];
}

/** `sig.link(callback)`: appends to `options.link` (a list; not added twice). */
export function link(sig: SignatureDict, callback: SignatureDict): SignatureDict {
  return appendOption(sig, 'link', callback);
}

/** `sig.link_error(errback)`: appends to `options.link_error`. */
export function linkError(sig: SignatureDict, errback: SignatureDict): SignatureDict {
  return appendOption(sig, 'link_error', errback);
}

function appendOption(sig: SignatureDict, key: string, value: SignatureDict): SignatureDict {
  const out = cloneSignature(sig);
  const items = asList(out.options[key]);
  const json = JSON.stringify(value);
  if (!items.some((x) => JSON.stringify(x) === json)) items.push(deepCopy(value) as unknown as PyValue);
  out.options[key] = items;
  return out;
}

/** `embed.callbacks` / `embed.errbacks` for a signature's `link`/`link_error` options (null when none). */
export function embedCallbacks(sig: SignatureDict): { callbacks: SignatureDict[] | null; errbacks: SignatureDict[] | null } {
  const cb = asList(sig.options['link']).map((s, i) => signatureFromDict(s, `options.link[${i}]`));
  const eb = asList(sig.options['link_error']).map((s, i) => signatureFromDict(s, `options.link_error[${i}]`));
  return { callbacks: cb.length ? cb : null, errbacks: eb.length ? eb : null };
}

export interface ChainMessage {
  /** The first step, frozen, with the chain's partial args merged: publish this one. */
  first: SignatureDict;
  /** `embed.chain` of the first message: remaining steps frozen, in REVERSE order (next = last). */
  chain: SignatureDict[];
  /** Task ids of every step in execution order. */
  taskIds: string[];
}

export interface ChainMessageOptions {
  args?: PyValue[];
  kwargs?: PyDict;
  rootId?: string | null;
  parentId?: string | null;
  replyTo?: string | null;
  /** Applied to the LAST step (a chain in a group/chord synchronizes on its last task). */
  lastTaskId?: string;
  groupId?: string | null;
  groupIndex?: number | null;
  chordBody?: SignatureDict | null;
  taskIdFactory?: () => string;
}

/**
 * `_chain.prepare_steps` + `run` for protocol 2: nested chains are spliced, every step is frozen
 * (task_id, reply_to), the first step gets the partial args, the last step gets the group/chord
 * options. Groups inside a chain are kept as composite steps (Celery upgrades `group | sig` to a
 * chord; that upgrade is not done here).
 */
export function chainToMessage(steps: readonly SignatureDict[] | SignatureDict, o: ChainMessageOptions = {}): ChainMessage {
  const list = Array.isArray(steps) ? [...steps] : chainTasks(steps as SignatureDict);
  const flat: SignatureDict[] = [];
  const splice = (xs: readonly SignatureDict[]) => {
    for (const x of xs) {
      if (x.subtask_type === 'chain') splice(chainTasks(x));
      else flat.push(x);
    }
  };
  splice(list);
  if (flat.length === 0) throw new ProtocolError('signature', 'a chain needs at least one task');
  const newId = o.taskIdFactory ?? randomUUID;
  const frozen = flat.map((step, i) => {
    const isFirst = i === 0;
    const isLast = i === flat.length - 1;
    const s = isFirst ? cloneSignature(step, o.args, o.kwargs) : cloneSignature(step);
    if (isLast) {
      return freezeSignature(s, {
        taskId: o.lastTaskId ?? newId(),
        rootId: o.rootId ?? null,
        replyTo: o.replyTo ?? null,
        groupId: o.groupId ?? null,
        chord: o.chordBody ?? null,
        groupIndex: o.groupIndex ?? null,
      });
    }
    return freezeSignature(s, { taskId: newId(), rootId: o.rootId ?? null, replyTo: o.replyTo ?? null });
  });
  const [first, ...rest] = frozen as [SignatureDict, ...SignatureDict[]];
  if (o.parentId) first.options['parent_id'] = o.parentId;
  return { first, chain: rest.reverse(), taskIds: frozen.map((s) => signatureId(s) as string) };
}

function chainTasks(sig: SignatureDict): SignatureDict[] {
  const tasks = sig.kwargs['tasks'];
  if (!Array.isArray(tasks)) fail('chain needs kwargs.tasks', 'signature.kwargs.tasks');
  return tasks.map((t, i) => signatureFromDict(t, `signature.kwargs.tasks[${i}]`));
}

export interface GroupMessages {
  groupId: string;
  /** Frozen members in `group_index` order; publish each (headers `group`, `group_index`). */
  members: SignatureDict[];
}

export interface GroupMessageOptions {
  groupId?: string;
  replyTo?: string | null;
  rootId?: string | null;
  parentId?: string | null;
  chord?: SignatureDict | null;
  taskIdFactory?: () => string;
}

/**
 * `group.apply_async` member forms: nested groups flattened, each member frozen with `group_id`,
 * `group_index` (0..n-1) and, for chord headers, `chord` = body.
 */
export function groupToMessages(
  tasks: readonly SignatureDict[] | SignatureDict,
  o: GroupMessageOptions = {},
): GroupMessages {
  let list: SignatureDict[];
  let gid = o.groupId;
  if (Array.isArray(tasks)) list = [...tasks];
  else {
    const g = tasks as SignatureDict;
    const t = g.kwargs['tasks'];
    if (!Array.isArray(t)) fail('group needs kwargs.tasks', 'signature.kwargs.tasks');
    list = t.map((x, i) => signatureFromDict(x, `signature.kwargs.tasks[${i}]`));
    const own = g.options['task_id'];
    if (gid === undefined && typeof own === 'string') gid = own;
  }
  const flat: SignatureDict[] = [];
  const unroll = (xs: readonly SignatureDict[]) => {
    for (const x of xs) {
      if (x.subtask_type === 'group') {
        const t = x.kwargs['tasks'];
        unroll(Array.isArray(t) ? t.map((y) => signatureFromDict(y)) : []);
      } else flat.push(x);
    }
  };
  unroll(list);
  const groupId = gid ?? (o.taskIdFactory ?? randomUUID)();
  const newId = o.taskIdFactory ?? randomUUID;
  const members = flat.map((m, i) =>
    freezeSignature(m, {
      taskId: newId(),
      groupId,
      groupIndex: i,
      chord: o.chord ?? null,
      rootId: o.rootId ?? null,
      parentId: o.parentId ?? null,
      replyTo: o.replyTo ?? null,
    }),
  );
  return { groupId, members };
}

export interface ChordMessages extends GroupMessages {
  /** The frozen body (task_id, reply_to, group_id = header group id): every member's `embed.chord`. */
  body: SignatureDict;
  /** Number of header tasks (the Redis `.s` value). */
  chordSize: number;
}

/** `_chord.run` forms: body frozen with the header group id, members carry `chord` = body. */
export function chordToMessages(
  header: readonly SignatureDict[] | SignatureDict,
  body: SignatureDict,
  o: Omit<GroupMessageOptions, 'chord'> & { bodyTaskId?: string } = {},
): ChordMessages {
  const newId = o.taskIdFactory ?? randomUUID;
  const groupId = o.groupId ?? newId();
  const frozenBody = freezeSignature(body, { taskId: o.bodyTaskId ?? newId(), replyTo: o.replyTo ?? null, groupId });
  const g = groupToMessages(header, { ...o, groupId, chord: frozenBody });
  return { ...g, body: frozenBody, chordSize: g.members.length };
}
