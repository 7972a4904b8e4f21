/**
 * Freezing canvas signatures (`celery/canvas.py`): `Signature.freeze`, `_chain.freeze` +
 * `prepare_steps`, `group._freeze_group_tasks` / `_freeze_unroll`, `_chord.freeze`, `_chord._descend`.
 *
 * Works on {@link SignatureDict}s the way Python works on its `Signature` objects: IN PLACE. Callers
 * clone first (as Celery's `apply_async` paths do); objects put in `options.chord` are shared by
 * reference like Python's, so a chord body frozen after its header is seen with its task id by every
 * header member. Results are {@link ResultRef}s whose `parent` links are set as Python sets
 * `AsyncResult.parent`.
 */
import { randomUUID } from 'node:crypto';
import { cloneSignature, signatureFromDict } from '../../protocol/canvas.ts';
import type { ResultRef } from '../../protocol/result.ts';
import type { SignatureDict } from '../../protocol/types.ts';
import { isPlainObject, type PyDict, type PyValue } from '../../protocol/values.ts';

/**
 * What freezing needs from the app: `app.thread_oid` (the default `reply_to`); with an app also its
 * settings (`task_allow_error_cb_on_chord_header`) and result backend (`ensure_chords_allowed`).
 */
export interface FreezeHost {
  readonly oid: string;
  readonly conf?: { readonly taskAllowErrorCbOnChordHeader?: boolean };
  readonly backend?: object;
}

/** `app.backend.ensure_chords_allowed()`: throws on backends without chords (rpc://, disabled). */
export function ensureChordsAllowed(host: FreezeHost): void {
  const backend = host.backend as { ensureChordsAllowed?: () => void } | undefined;
  backend?.ensureChordsAllowed?.();
}

/**
 * `sig.link_error(errback)` as each signature class does it: a task or chain appends to its own
 * `link_error`; a group links `errback.clone(immutable=True)` to each member; a chord links the body
 * (and, with `task_allow_error_cb_on_chord_header`, such a clone to each header task; a chord in the
 * header always links itself).
 */
export function linkError(host: FreezeHost, sig: SignatureDict, errback: SignatureDict): void {
  // `errback.clone(immutable=True)`: Celery's clone puts `immutable` in the OPTIONS (the flag itself is unchanged)
  const immutable = (): SignatureDict => cloneSignature(errback, null, null, { immutable: true });
  switch (kindOf(sig)) {
    case 'group':
      for (const t of tasksOf(sig)) linkError(host, t, immutable());
      return;
    case 'chord': {
      // `maybe_list(self.tasks)`: the header as written (a list, or one group/signature)
      const h = sig.kwargs['header'];
      const members = (Array.isArray(h) ? h : h ? [h] : []).map((t) => maybeSignature(t));
      if (h) sig.kwargs['header'] = (Array.isArray(h) ? members : members[0]!) as unknown as PyValue;
      const body = sig.kwargs['body'] ? maybeSignature(sig.kwargs['body']) : null;
      if (body) sig.kwargs['body'] = body as unknown as PyValue;
      if (host.conf?.taskAllowErrorCbOnChordHeader) for (const t of members) linkError(host, t, immutable());
      for (const t of members) if (kindOf(t) === 'chord') linkError(host, t, errback);
      if (body) linkError(host, body, errback);
      return;
    }
    default:
      appendOption(sig, 'link_error', errback);
  }
}

export type Kind = 'task' | 'chain' | 'group' | 'chord';

/** The class `Signature.from_dict` picks: by `subtask_type` (map/starmap/chunks dicts are plain tasks). */
export function kindOf(sig: SignatureDict): Kind {
  const t = sig.subtask_type;
  return t === 'chain' || t === 'group' || t === 'chord' ? t : 'task';
}

/** `maybe_signature(d)`: validated dict (shares nested objects with `d`). */
export function maybeSignature(d: PyValue | SignatureDict): SignatureDict {
  return signatureFromDict(d as PyValue);
}

export interface FreezeArgs {
  id?: string | null;
  groupId?: string | null;
  chord?: SignatureDict | null;
  rootId?: string | null;
  parentId?: string | null;
  groupIndex?: number | null;
}

/** `chain.tasks` / `group.tasks` as signature dicts, converted in place (Python's `from_dict` does the same). */
export function tasksOf(sig: SignatureDict): SignatureDict[] {
  const raw = sig.kwargs['tasks'];
  const list = Array.isArray(raw) ? raw : [];
  const tasks = list.map((t) => maybeSignature(t));
  sig.kwargs['tasks'] = tasks as unknown as PyValue[];
  return tasks;
}

/** `chord.tasks` (the header) and `chord.body`. */
export function chordParts(sig: SignatureDict): { header: SignatureDict; body: SignatureDict | null } {
  const h = sig.kwargs['header'];
  let header: SignatureDict;
  if (isPlainObject(h) && (h as PyDict)['subtask_type'] === 'group') header = maybeSignature(h as PyValue);
  else {
    const list = Array.isArray(h) ? h : h ? [h] : [];
    header = groupSig(list.map((t) => maybeSignature(t)));
  }
  sig.kwargs['header'] = header as unknown as PyValue;
  const b = sig.kwargs['body'];
  const body = b ? maybeSignature(b) : null;
  sig.kwargs['body'] = body as unknown as PyValue;
  return { header, body };
}

/** `group(tasks, **options)` (dict form). */
export function groupSig(tasks: SignatureDict[], options: PyDict = {}): SignatureDict {
  return { task: 'celery.group', args: [], kwargs: { tasks: tasks as unknown as PyValue[] }, options, subtask_type: 'group', immutable: false };
}

/** `chord(header, body, **options)` (dict form). */
export function chordSig(header: SignatureDict, body: SignatureDict, options: PyDict = {}): SignatureDict {
  return {
    task: 'celery.chord', args: [], kwargs: { kwargs: {}, header: header as unknown as PyValue, body: body as unknown as PyValue },
    options, subtask_type: 'chord', immutable: false,
  };
}

/** `Signature.freeze` of a task signature (mutates `sig.options`). */
export function freezeTask(host: FreezeHost, sig: SignatureDict, f: FreezeArgs = {}): ResultRef {
  const o = sig.options;
  let tid = o['task_id'];
  if (typeof tid !== 'string') tid = o['task_id'] = f.id || randomUUID();
  if (f.rootId) o['root_id'] = f.rootId;
  if (f.parentId) o['parent_id'] = f.parentId;
  if (!('reply_to' in o)) o['reply_to'] = host.oid;
  if (f.groupId && !('group_id' in o)) o['group_id'] = f.groupId;
  if (f.chord) o['chord'] = f.chord as unknown as PyValue;
  if (f.groupIndex !== null && f.groupIndex !== undefined) o['group_index'] = f.groupIndex;
  return { kind: 'task', id: tid as string, parent: null };
}

/** `sig.freeze(...)` for any kind. */
export function freeze(host: FreezeHost, sig: SignatureDict, f: FreezeArgs = {}): ResultRef {
  switch (kindOf(sig)) {
    case 'chain': {
      const { results } = prepareSteps(host, sig.args, sig.kwargs, tasksOf(sig), {
        rootId: f.rootId, parentId: f.parentId, lastTaskId: f.id, groupId: f.groupId, chordBody: f.chord,
        clone: false, groupIndex: f.groupIndex,
      });
      return results[0]!;
    }
    case 'group': {
      const [gid, results] = freezeGroupTasks(host, sig, f);
      return { kind: 'group', id: gid, parent: null, results };
    }
    case 'chord':
      return freezeChord(host, sig, f);
    default:
      return freezeTask(host, sig, f);
  }
}

/** `group._freeze_group_tasks`: returns `[gid, member results]`; members are flattened clones. */
export function freezeGroupTasks(host: FreezeHost, g: SignatureDict, f: FreezeArgs = {}): [string, ResultRef[]] {
  const opts = g.options;
  let gid = opts['task_id'];
  if (typeof gid !== 'string') gid = opts['task_id'] = f.groupId || randomUUID();
  if (f.groupId) opts['group_id'] = f.groupId;
  if (f.chord) opts['chord'] = f.chord as unknown as PyValue;
  if (f.groupIndex !== null && f.groupIndex !== undefined) opts['group_index'] = f.groupIndex;
  if (!('root_id' in opts)) opts['root_id'] = f.rootId ?? null;
  if (!('parent_id' in opts)) opts['parent_id'] = f.parentId ?? null;
  const rootId = opts['root_id'] as string | null;
  const parentId = opts['parent_id'] as string | null;
  // _freeze_unroll
  const stack = [...tasksOf(g)];
  const newTasks: SignatureDict[] = [];
  const results: ResultRef[] = [];
  let index = 0;
  while (stack.length) {
    const task = cloneSignature(maybeSignature(stack.shift()!));
    if (kindOf(task) === 'group') {
      stack.unshift(...[...tasksOf(task)].reverse()); // deque.extendleft: reversed, as Python
      continue;
    }
    newTasks.push(task);
    results.push(freeze(host, task, { groupId: f.groupId, chord: f.chord, rootId, parentId, groupIndex: index }));
    index++;
  }
  g.kwargs['tasks'] = newTasks as unknown as PyValue[];
  return [gid as string, results];
}

/** `_chord.freeze`: header frozen with `chord=body`, then the body; the body's first result gets the header as parent. */
export function freezeChord(host: FreezeHost, c: SignatureDict, f: FreezeArgs = {}): ResultRef {
  const { header, body } = chordParts(c);
  const [gid, members] = freezeGroupTasks(host, header, { parentId: f.parentId, rootId: f.rootId, chord: body });
  const headerResult: ResultRef = { kind: 'group', id: gid, parent: null, results: members };
  c.options['task_id'] = gid;
  if (!body) return headerResult;
  const bodyResult = freeze(host, body, { id: f.id, rootId: f.rootId, chord: f.chord, groupId: f.groupId, groupIndex: f.groupIndex });
  let node: ResultRef | null = bodyResult;
  const seen = new Set<string>();
  while (node) {
    if (seen.has(node.id)) throw new Error('Recursive result parents');
    seen.add(node.id);
    if (node.parent === null) {
      node.parent = headerResult;
      break;
    }
    node = node.parent;
  }
  return bodyResult;
}

/** `maybe_unroll_group`: a group of one task is that task. */
function maybeUnrollGroup(g: SignatureDict): SignatureDict {
  const tasks = tasksOf(g);
  if (tasks.length !== 1) return g;
  return tasks[0]!;
}

export interface PrepareOptions {
  rootId?: string | null;
  parentId?: string | null;
  linkError?: SignatureDict[] | null;
  lastTaskId?: string | null;
  groupId?: string | null;
  chordBody?: SignatureDict | null;
  clone?: boolean;
  groupIndex?: number | null;
}

function rootOf(ref: ResultRef): ResultRef {
  let node = ref;
  while (node.parent) node = node.parent;
  return node;
}

/**
 * `_chain.prepare_steps`: walks the steps from the LAST one, splices nested chains, upgrades
 * `group | sig` to a chord, freezes every step (the last with the group/chord options), links
 * result parents. Returns `tasks` and `results` in REVERSE order (tasks[0] is the last step; the
 * first step is `tasks[tasks.length - 1]`), as Python does.
 */
export function prepareSteps(
  host: FreezeHost,
  args: readonly PyValue[],
  kwargs: PyDict,
  steps: SignatureDict[],
  o: PrepareOptions = {},
): { tasks: SignatureDict[]; results: ResultRef[] } {
  const clone = o.clone ?? true;
  const queue = [...steps];
  const tasks: SignatureDict[] = [];
  const results: ResultRef[] = [];
  let prevTask: SignatureDict | null = null;
  let prevRes: ResultRef | null = null;
  let i = 0;
  while (queue.length) {
    let task = maybeSignature(queue.pop()!);
    const isFirst = queue.length === 0;
    const isLast = i === 0;
    if (kindOf(task) === 'group') task = maybeUnrollGroup(task);
    if (clone) {
      task = isFirst ? cloneSignature(task, args, kwargs) : cloneSignature(task);
    } else if (isFirst) {
      task.args = [...args, ...task.args];
    }
    if (kindOf(task) === 'chain') {
      queue.push(...tasksOf(task));
      continue;
    }
    if (kindOf(task) === 'group' && prevTask) {
      tasks.pop();
      results.pop();
      const opts: PyDict = {};
      if (prevRes) opts['task_id'] = prevRes.id;
      if (o.rootId) opts['root_id'] = o.rootId;
      task = chordSig(task, prevTask, opts);
      prevTask = tasks.length ? tasks[tasks.length - 1]! : null;
      prevRes = results.length ? results[results.length - 1]! : null;
    }
    const res = isLast
      ? freeze(host, task, { id: o.lastTaskId, rootId: o.rootId, groupId: o.groupId, chord: o.chordBody, groupIndex: o.groupIndex })
      : freeze(host, task, { rootId: o.rootId });
    i++;
    if (prevTask && prevRes && !prevRes.parent) prevRes.parent = res;
    for (const eb of o.linkError ?? []) linkError(host, task, eb);
    tasks.push(task);
    results.push(res);
    prevTask = task;
    prevRes = res;
    if (kindOf(task) === 'chord') {
      ensureChordsAllowed(host);
      prevRes = rootOf(res);
    }
  }
  return { tasks, results };
}

/** `Signature.append_to_list_option` (mutating; not added twice). */
export function appendOption(sig: SignatureDict, key: 'link' | 'link_error', value: SignatureDict): void {
  const cur = sig.options[key];
  const items: PyValue[] = cur === undefined || cur === null ? [] : Array.isArray(cur) ? cur : [cur];
  const json = JSON.stringify(value);
  if (!items.some((x) => JSON.stringify(x) === json)) items.push(value as unknown as PyValue);
  sig.options[key] = items;
}

/** `_chord._descend`: how many tasks will report to a chord from this header member. */
export function descend(sig: SignatureDict): number {
  switch (kindOf(sig)) {
    case 'group':
      return tasksOf(sig).reduce((n, t) => n + descend(t), 0);
    case 'chain': {
      const tasks = tasksOf(sig);
      for (let i = tasks.length - 1; i >= 0; i--) {
        const n = descend(tasks[i]!);
        if (n > 0) return n;
      }
      return 0;
    }
    case 'chord': {
      const body = sig.kwargs['body'];
      return body ? descend(maybeSignature(body)) : 0;
    }
    default:
      return 1;
  }
}
