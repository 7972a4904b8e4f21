/**
 * The canvas apply engine: a port of `celery/canvas.py`'s `apply_async` paths on the dict form —
 * `Signature.apply_async`, `_chain.apply_async`/`run` (+ `prepare_steps`, `_prepare_chain_from_options`),
 * `group.apply_async` (+ `_freeze_gid`, `_prepared`, `_apply_tasks`), `_chord.apply_async`/`run`
 * (+ `backend.apply_chord` / `fallback_chord_unlock`), and `chunks.apply_async`.
 *
 * Used by the app (`app.applyAsync(sig)`) and by the worker (link callbacks, errbacks and
 * `embed.chain` steps that are chains, groups or chords). Every call clones what it changes, so the
 * signature passed in is never modified.
 */
import { checkTaskCall } from '../bind-args.ts';
import { randomUUID } from 'node:crypto';
import { cloneSignature, IMMUTABLE_OPTIONS, mergeSignature, xstarmap } from '../../protocol/canvas.ts';
import { groupAsTuple, refToTuple, type ResultRef } from '../../protocol/result.ts';
import type { SignatureDict } from '../../protocol/types.ts';
import { isPlainObject, type PyDict, type PyValue } from '../../protocol/values.ts';
import type { Celery } from '../app.ts';
import { currentTaskContext, normalizeSendOptions, type SendTaskOptions } from '../producer.ts';
import {
  appendOption, chordParts, descend, ensureChordsAllowed, freeze, freezeGroupTasks, groupSig, kindOf, maybeSignature, prepareSteps, tasksOf,
} from './freeze.ts';
import { nativeChords } from './chord.ts';

/**
 * Options `Task.apply_async` takes that are not message options (dropped, as Python consumes them).
 * `add_to_parent` is kept: the app reads it (the sending task's trail) and keeps it off the message.
 */
const NON_MESSAGE = new Set(['producer', 'connection', 'router', 'result_cls', 'publisher', 'route_name', 'interval', 'countdown_unlock', 'eager']);

/** Signature options (snake_case) → send options; unknown or invalid ones are dropped. */
export function toSendOptions(options: PyDict): SendTaskOptions {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(options)) {
    if (v === null || v === undefined || NON_MESSAGE.has(k)) continue;
    try {
      Object.assign(out, normalizeSendOptions({ [k]: v }));
    } catch {
      // an option the producer does not know (Celery would pass it on to kombu, which ignores it)
    }
  }
  return out as SendTaskOptions;
}

function dropNone(o: PyDict | undefined | null): PyDict {
  const out: PyDict = {};
  if (o) for (const [k, v] of Object.entries(o)) if (v !== null && v !== undefined) out[k] = v;
  return out;
}

function asList(v: PyValue | undefined): SignatureDict[] {
  if (v === undefined || v === null) return [];
  return (Array.isArray(v) ? v : [v]).map((x) => maybeSignature(x));
}

/**
 * Send a task signature's message (`Task.apply_async`): a registered task's defaults apply, and its
 * `typing` check (a wrong call throws Python's TypeError, unsent).
 */
async function sendTask(app: Celery, name: string, args: PyValue[], kwargs: PyDict, options: PyDict): Promise<ResultRef> {
  const send = toSendOptions(options);
  const registered = app.tasks.get(name);
  if (registered) checkTaskCall(registered, args, kwargs);
  const merged = registered ? ({ ...registered.sendDefaults, ...send } as SendTaskOptions) : send;
  const r = await app.sendTask(name, args, kwargs, merged);
  return { kind: 'task', id: r.id, parent: null };
}

/**
 * `_basemap.apply_async(route_name=task_name_from(kwargs.task))`: a `celery.map`/`celery.starmap`
 * message is routed as its inner task would be (unless a queue is given) — but ONLY when the `xmap`/
 * `xstarmap` object itself is applied (the caller's `task.starmap(it)` applied directly). Everywhere
 * else Celery holds a plain `Signature` (the dict's `subtask_type` is None: `clone()` in groups, chains
 * and chunks, `signature(dict)` for links, chain steps and chord bodies in a worker), and the router
 * sees `celery.map`/`celery.starmap`.
 */
function withRouteName(app: Celery, s: SignatureDict, options: PyDict): PyDict {
  if ((s.task !== 'celery.map' && s.task !== 'celery.starmap') || options['queue'] !== undefined) return options;
  const inner = s.kwargs['task'];
  const name = isPlainObject(inner) ? (inner as PyDict)['task'] : inner;
  if (typeof name !== 'string') return options;
  const queue = app.router.route(name, {}).queue?.name;
  return queue ? { ...options, queue } : options;
}

/**
 * `sig.apply_async(args, kwargs, **options)` for any kind of signature. `args` are prepended
 * (unless immutable), `kwargs` merged, options merged (Celery's `_merge`). Resolves with the
 * result reference Python would return (a chain's last result with `parent` links, a group's
 * `GroupResult`, a chord's body result whose parent is the header group).
 */
export async function applyAsync(
  app: Celery,
  sig: SignatureDict,
  args: readonly PyValue[] = [],
  kwargs: PyDict = {},
  options: PyDict = {},
  /** The caller's own `task.map()`/`task.starmap()` object applied (Python's `_basemap.apply_async`): route by the inner task. */
  asCalled = false,
): Promise<ResultRef> {
  const s = maybeSignature(sig);
  const opts = dropNone(options);
  switch (kindOf(s)) {
    case 'chain':
      return runChain(app, s, args, kwargs, { ...s.options, ...opts });
    case 'group':
      return applyGroup(app, s, args, kwargs, opts);
    case 'chord':
      return applyChord(app, s, args, kwargs, opts);
    default: {
      const m = args.length || Object.keys(kwargs).length || Object.keys(opts).length
        ? mergeSignature(s, args, kwargs, opts)
        : { args: s.args, kwargs: s.kwargs, options: s.options };
      return sendTask(app, s.task, m.args, m.kwargs, asCalled ? withRouteName(app, s, m.options) : m.options);
    }
  }
}

/** `chunks(task, it, n).group()`: a group of `celery.starmap` signatures of `n` items each. */
export function chunksGroup(sig: SignatureDict): SignatureDict {
  const task = maybeSignature(sig.kwargs['task'] ?? null);
  const it = (sig.kwargs['it'] ?? []) as PyValue[][];
  const n = Number(sig.kwargs['n']);
  if (!Number.isInteger(n) || n < 1) throw new TypeError(`chunk size must be a positive integer, got ${String(sig.kwargs['n'])}`);
  const parts: SignatureDict[] = [];
  for (let i = 0; i < it.length; i += n) parts.push(xstarmap(task, it.slice(i, i + n)));
  return groupSig(parts);
}

/** `_chain.run` (protocol 2): prepare the steps, send the first with the rest as `chain`. */
async function runChain(app: Celery, c: SignatureDict, args: readonly PyValue[], kwargs: PyDict, options: PyDict): Promise<ResultRef> {
  const {
    group_id: groupId, chord, task_id: taskId, link, link_error: linkError, publisher: _p, producer: _pr,
    root_id: rootId, parent_id: parentId, group_index: groupIndex, ...rest
  } = options;
  const a = args.length && !c.immutable ? [...args, ...c.args] : c.args;
  const { tasks, results } = prepareSteps(app, a, kwargs, tasksOf(c), {
    rootId: rootId as string | null, parentId: parentId as string | null, linkError: asList(linkError),
    lastTaskId: taskId as string | null, groupId: groupId as string | null,
    chordBody: chord ? maybeSignature(chord) : null, groupIndex: groupIndex as number | null,
  });
  if (!results.length) throw new Error('cannot apply an empty chain');
  for (const l of asList(link)) appendOption(tasks[0]!, 'link', l);
  const first = tasks.pop()!;
  const prior = rest['chain'];
  const chain = Array.isArray(prior) ? [...prior, ...tasks] : tasks;
  const res = await applyAsync(app, first, [], {}, { ...rest, chain: chain as unknown as PyValue });
  return tasks.length ? results[0]! : res;
}

/** `group._prepared`: cloned members (nested groups unrolled, each with its own indexes), frozen. */
function prepared(app: Celery, tasks: SignatureDict[], groupId: string, rootId: string | null): [SignatureDict, ResultRef][] {
  const out: [SignatureDict, ResultRef][] = [];
  tasks.forEach((t, index) => {
    const task = cloneSignature(maybeSignature(t));
    if (kindOf(task) === 'group') out.push(...prepared(app, tasksOf(task), groupId, rootId));
    else out.push([task, freeze(app, task, { groupId, rootId, groupIndex: index })]);
  });
  return out;
}

/**
 * `group.apply_async`: members share the group id, get their index; the last one sets the chord size.
 * Members are sent with `add_to_parent=False`; the group's own result joins the running task's trail
 * (its `children`) unless the call says `add_to_parent=False` (a named parameter in Celery, so the
 * group's own options do not set it).
 */
async function applyGroup(app: Celery, g: SignatureDict, args: readonly PyValue[], kwargs: PyDict, options: PyDict): Promise<ResultRef> {
  const addToParent = options['add_to_parent'] !== false;
  if (options['link'] !== undefined) throw new TypeError('Cannot add link to group: use a chord');
  if (options['link_error'] !== undefined) throw new TypeError('Cannot add link to group: do that on individual tasks');
  const tasks = tasksOf(g);
  if (!tasks.length) return freeze(app, g);
  // _freeze_gid
  const opts: PyDict = { ...g.options };
  for (const [k, v] of Object.entries(options)) if (!IMMUTABLE_OPTIONS.has(k) || !(k in g.options)) opts[k] = v;
  const groupId = typeof opts['task_id'] === 'string' ? (opts['task_id'] as string) : randomUUID();
  delete opts['task_id'];
  opts['group_id'] = groupId;
  const rootId = (opts['root_id'] as string | null | undefined) ?? null;
  const members = prepared(app, tasks, groupId, rootId);
  // _apply_tasks
  const { chord, group_index: _gi, add_to_parent: _ap, ...rest } = opts;
  let chordSize = 0;
  const results: ResultRef[] = [];
  for (let i = 0; i < members.length; i++) {
    const [sig, res] = members[i]!;
    const chordObj = chord ?? sig.options['chord'] ?? null;
    chordSize += descend(sig);
    if (chordObj && i === members.length - 1) await nativeChords(app)?.setChordSize(groupId, chordSize);
    await applyAsync(app, sig, args, kwargs, { ...rest, chord: chordObj, add_to_parent: false });
    results.push(res);
  }
  // group(A.s() | group(B.s(), C.s())): the inner GroupResult stands for the group
  const result: ResultRef = results.length === 1 && results[0]!.kind === 'group' ? results[0]! : { kind: 'group', id: groupId, parent: null, results };
  if (addToParent) currentTaskContext()?.children?.push(refToTuple(result));
  return result;
}

/** `_chord.apply_async`: the body gets the call options; the header becomes a group with the chord's task id. */
async function applyChord(app: Celery, c: SignatureDict, args: readonly PyValue[], kwargs: PyDict, options: PyDict): Promise<ResultRef> {
  const headerWasGroup = isPlainObject(c.kwargs['header']) && (c.kwargs['header'] as PyDict)['subtask_type'] === 'group';
  const { header, body } = chordParts(cloneSignature(c));
  if (!body) throw new TypeError('a chord needs a body');
  const { task_id: taskIdArg, ...opts } = options;
  const a = args.length && !c.immutable ? [...args, ...c.args] : c.args;
  const kw = { ...((c.kwargs['kwargs'] ?? {}) as PyDict), ...kwargs };
  const b = cloneSignature(body, null, null, opts);
  const h = headerWasGroup ? header : groupSig(tasksOf(header), { task_id: (c.options['task_id'] as string | undefined) ?? randomUUID() });
  const merged: PyDict = Object.keys(opts).length ? { ...c.options, ...opts } : { ...c.options };
  const optionTaskId = merged['task_id'];
  delete merged['task_id'];
  const taskId = (taskIdArg ?? optionTaskId ?? null) as string | null;
  return runChord(app, h, b, a, kw, taskId, merged);
}

/** `_chord.run`: freeze the body (group id = header id), freeze the header with `chord=body`, send. */
async function runChord(
  app: Celery, header: SignatureDict, body: SignatureDict, partialArgs: readonly PyValue[], kwargs: PyDict,
  taskId: string | null, options: PyDict,
): Promise<ResultRef> {
  const { interval, countdown, max_retries: maxRetries, eager: _e, ...opts } = options;
  const groupId = (header.options['task_id'] as string | undefined) || randomUUID();
  const rootId = (body.options['root_id'] as string | undefined) ?? null;
  delete opts['task_id'];
  Object.assign(body.options, opts);
  const bodyres = freeze(app, body, { id: taskId || randomUUID(), groupId, rootId });
  delete opts['chain'];
  delete opts['chord'];
  const [gid, members] = freezeGroupTasks(app, header, { groupId, chord: body, rootId });
  let headerResult: ResultRef;
  if (tasksOf(header).length) {
    await applyChordBackend(app, gid, members, body, {
      interval: (interval ?? null) as PyValue, countdown: (countdown ?? 1) as number, max_retries: (maxRetries ?? null) as PyValue,
    });
    headerResult = await applyGroup(app, header, partialArgs, kwargs, { ...opts, task_id: groupId });
  } else {
    await applyAsync(app, body, [[]]);
    headerResult = { kind: 'group', id: gid, parent: null, results: members };
  }
  bodyres.parent = headerResult;
  return bodyres;
}

/**
 * `backend.apply_chord`: Redis (native chords) saves the header `GroupResult` only when a member is a
 * group (so `on_chord_part_return` can restore its shape); other backends get Celery's
 * `fallback_chord_unlock`: a `celery.chord_unlock` task polling the header.
 */
async function applyChordBackend(
  app: Celery, groupId: string, members: ResultRef[], body: SignatureDict,
  o: { interval: PyValue; countdown: number; max_retries: PyValue },
): Promise<void> {
  const backend = app.backend;
  ensureChordsAllowed(app);
  if (nativeChords(app)) {
    if (members.some((m) => m.kind === 'group')) {
      await backend.saveGroup(groupId, groupAsTuple(groupId, members) as unknown as PyValue);
    }
    return;
  }
  const registered = app.tasks.get(body.task);
  let queue = body.options['queue'] ?? (registered?.sendDefaults.queue as PyValue | undefined) ?? null;
  if (queue === null) {
    const routed = app.router.route(body.task, {});
    queue = routed.queue ? routed.queue.name : null;
  }
  const priority = body.options['priority'] ?? registered?.sendDefaults.priority ?? 0;
  const kwargs: PyDict = { interval: o.interval, max_retries: o.max_retries, result: members.map((m) => refToTuple(m)) as unknown as PyValue };
  const send: PyDict = { countdown: o.countdown, priority: priority as PyValue };
  if (queue !== null) send['queue'] = queue as PyValue;
  await sendTask(app, 'celery.chord_unlock', [groupId, body as unknown as PyValue], kwargs, send);
}
