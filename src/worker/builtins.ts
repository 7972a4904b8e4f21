/**
 * Celery's built-in tasks (`celery/app/builtins.py`), registered on every app so a TypeScript worker
 * can run whichever of them a mixed-fleet queue delivers to it:
 *
 * `celery.chord_unlock` (chords on backends without native chord support), `celery.group`,
 * `celery.chain` (not a real task: raises, as in Celery), `celery.chord`, `celery.map`,
 * `celery.starmap`, `celery.chunks`, `celery.accumulate` (used by `replace` with a group) and
 * `celery.backend_cleanup` (nothing to clean on Redis, as in Celery).
 *
 * Each declares Celery's signature (`params`), so a call binds and fails as Python's would; the
 * functions read the arguments from the request (`self.request.args` / `kwargs`) by their Python
 * names, so positional and keyword calls both work. `celery.map` / `celery.starmap` call the task's function
 * inline, as Python does: the task must be implemented in this app (a bound task gets the
 * built-in's `self`).
 */
import { ChordError, NotRegistered } from '../../protocol/exceptions.ts';
import { fromTuple as resultRefOf, refToTuple } from '../../protocol/result.ts';
import { PROPAGATE_STATES } from '../../protocol/states.ts';
import type { SignatureDict } from '../../protocol/types.ts';
import type { PyDict, PyValue } from '../../protocol/values.ts';
import type { Celery } from '../app.ts';
import { applyAsync, chunksGroup } from '../canvas/apply.ts';
import { chordErrorFromStack } from '../canvas/chord.ts';
import { chordSig, groupSig, maybeSignature, tasksOf } from '../canvas/freeze.ts';
import { AsyncResult, GroupResult, resultFromTuple } from '../result.ts';
import { excRepr } from './retry.ts';
import { bindArguments, funcNameOf, paramsOf } from '../bind-args.ts';
import type { BoundTask } from './task.ts';
import type { TaskParams } from '../task-params.ts';

/** The built-in task names. */
export const BUILTIN_TASKS = [
  'celery.backend_cleanup', 'celery.accumulate', 'celery.chord_unlock', 'celery.map', 'celery.starmap',
  'celery.chunks', 'celery.group', 'celery.chain', 'celery.chord',
] as const;

/** Argument `index` (positional) or `name` (keyword) of the request, else `fallback`. */
function param<T = PyValue>(self: BoundTask, index: number, name: string, fallback: T | null = null): T {
  const { args, kwargs } = self.request;
  if (args.length > index) return args[index] as T;
  return (name in kwargs ? kwargs[name] : fallback) as T;
}

/** `signature(task).type`: the registered implementation (NotRegistered when this app has none). */
function localTask(app: Celery, sig: PyValue, self: BoundTask): (...a: unknown[]) => Promise<unknown> {
  const name = maybeSignature(sig).task;
  const registered = app.tasks.get(name);
  if (!registered?.fn) throw new NotRegistered([name]);
  const fn = registered.fn as (...a: unknown[]) => unknown;
  const bind = registered.workerOptions['bind'] === true;
  const params = paramsOf(registered);
  const funcName = funcNameOf(name);
  // `task(item)` in Python: the item binds to the task's parameters as any call does
  return async (...a) => {
    const bound = bindArguments(params, funcName, a, {}, { bound: bind });
    return bind ? fn(self, ...bound) : fn(...bound);
  };
}

/** `GroupResult._failed_join_report`: the first member (depth first) in a propagating state. */
async function failedJoinReport(g: GroupResult): Promise<string | null> {
  for (const r of g.results) {
    if (r instanceof GroupResult) {
      const inner = await failedJoinReport(r);
      if (inner) return inner;
    } else if (PROPAGATE_STATES.has(await (r as AsyncResult).state())) return r.id;
  }
  return null;
}

/** Registers Celery's built-in tasks on `app` (skips names already registered). */
export function registerBuiltins(app: Celery): void {
  // every implementation is bound (it reads the request); `python` says how Celery's function differs,
  // so a wrong call fails with its text: `xmap() takes 2 positional arguments but 3 were given`
  const add = (name: string, fn: (self: BoundTask) => unknown, options: Record<string, unknown> = {}, python?: TaskParams['python']) => {
    if (app.tasks.has(name)) return;
    app.task(name, fn, { bind: true, ...options });
    if (python) app.tasks.get(name)!.params!.python = python;
  };

  add('celery.backend_cleanup', () => null, { params: [] }, { unbound: true });

  add('celery.accumulate', (self) => {
    const index = self.request.kwargs['index'];
    const args = self.request.args;
    return index !== undefined && index !== null ? args[index as number] ?? null : args;
  }, { params: ['*args', '**kwargs'] });

  add('celery.chord_unlock', async (self) => {
    const groupId = param<string>(self, 0, 'group_id');
    const callback = param(self, 1, 'callback');
    const interval = param<number | null>(self, 2, 'interval') ?? self.defaultRetryDelay;
    const maxRetries = param<number | null>(self, 3, 'max_retries');
    const result = param<PyValue[]>(self, 4, 'result') ?? [];
    const deps = new GroupResult(groupId, result.map((r) => resultFromTuple(r, app.backend)), app.backend);
    let ready: boolean;
    try {
      ready = await deps.ready();
    } catch (exc) {
      return self.retry({ exc, countdown: interval, ...(maxRetries === null ? {} : { maxRetries }) });
    }
    if (!ready) return self.retry({ countdown: interval, ...(maxRetries === null ? {} : { maxRetries }) });
    let ret: unknown[];
    try {
      ret = await deps.get({ propagate: true, disableSyncSubtasks: false, timeout: app.conf.resultChordJoinTimeout });
    } catch (exc) {
      const culprit = await failedJoinReport(deps);
      const reason = culprit ? `Dependency ${culprit} raised ${excRepr(exc)}` : excRepr(exc);
      await chordErrorFromStack(app, callback, new ChordError([reason], { cause: exc }));
      return null;
    }
    try {
      await applyAsync(app, maybeSignature(callback), [ret as PyValue]);
    } catch (exc) {
      await chordErrorFromStack(app, callback, new ChordError([`Callback error: ${excRepr(exc)}`], { cause: exc }));
    }
    return null;
  }, {
    maxRetries: null, ignoreResult: true, defaultRetryDelay: 1,
    params: ['group_id', 'callback', 'interval=', 'max_retries=', 'result=', 'Result=', 'GroupResult=', 'result_from_tuple=', '**kwargs'],
  }, { funcName: 'unlock_chord' });

  add('celery.map', async (self) => {
    const fn = localTask(app, param(self, 0, 'task'), self);
    const out: unknown[] = [];
    for (const item of param<PyValue[]>(self, 1, 'it') ?? []) out.push(await fn(item));
    return out;
  }, { params: ['task', 'it'] }, { funcName: 'xmap', unbound: true });

  add('celery.starmap', async (self) => {
    const fn = localTask(app, param(self, 0, 'task'), self);
    const out: unknown[] = [];
    for (const item of param<PyValue[][]>(self, 1, 'it') ?? []) out.push(await fn(...item));
    return out;
  }, { params: ['task', 'it'] }, { funcName: 'xstarmap', unbound: true });

  add('celery.chunks', async (self) => {
    const sig: SignatureDict = {
      task: 'celery.chunks', args: [], options: {}, subtask_type: null, immutable: true,
      kwargs: { task: param(self, 0, 'task'), it: param(self, 1, 'it'), n: param(self, 2, 'n') },
    };
    // Celery returns (and stores) the GroupResult, which is also the task's child: the group adds
    // itself to the running task's trail (`add_trail`)
    return refToTuple(await applyAsync(app, chunksGroup(sig))) as unknown as PyValue;
  }, { params: ['task', 'it', 'n'] }, { unbound: true });

  add('celery.group', async (self) => {
    const tasks = param<PyValue[]>(self, 0, 'tasks') ?? [];
    const result = param(self, 1, 'result');
    const groupId = param<string>(self, 2, 'group_id');
    const partialArgs = param<PyValue[]>(self, 3, 'partial_args') ?? [];
    for (const t of tasks) await applyAsync(app, maybeSignature(t), partialArgs, {}, { group_id: groupId, add_to_parent: false });
    const addToParent = param<boolean | null>(self, 4, 'add_to_parent');
    if (addToParent !== false && result !== null) self.request.children.push(refToTuple(resultRefOf(result)));
    return result;
  }, { params: ['tasks', 'result', 'group_id', 'partial_args', 'add_to_parent='] });

  add('celery.chain', () => {
    throw new Error('chain is not a real task');
  }, { params: ['*args', '**kwargs'] }, { unbound: true });

  add('celery.chord', async (self) => {
    const headerValue = param(self, 0, 'header');
    const body = maybeSignature(param(self, 1, 'body'));
    const partialArgs = param<PyValue[]>(self, 2, 'partial_args') ?? [];
    const options: PyDict = {};
    for (const [i, k] of ['interval', 'countdown', 'max_retries', 'eager'].entries()) {
      const v = param(self, 3 + i, k);
      if (v !== null) options[k] = v;
    }
    for (const [k, v] of Object.entries(self.request.kwargs)) {
      if (!['header', 'body', 'partial_args', 'interval', 'countdown', 'max_retries', 'eager'].includes(k)) options[k] = v;
    }
    const header = Array.isArray(headerValue)
      ? groupSig(headerValue.map((t) => maybeSignature(t)))
      : maybeSignature(headerValue);
    const g = header.subtask_type === 'group' ? groupSig(tasksOf(header)) : groupSig([header]);
    // Celery returns the body's AsyncResult (stored as its tuple, the header GroupResult as its parent);
    // the header GroupResult, applied while the task runs, adds itself to the task's children
    const bodyRef = await applyAsync(app, chordSig(g, body), partialArgs, {}, options);
    return refToTuple(bodyRef) as unknown as PyValue;
  }, { ignoreResult: false, params: ['header', 'body', 'partial_args=', 'interval=', 'countdown=', 'max_retries=', 'eager=', '**kwargs'] });
}
