/**
 * Chord completion and errbacks, the backend-side parts of Celery's canvas
 * (`celery/backends/base.py`): `on_chord_part_return` (through the backend's native `chords` where
 * it has them, as Redis does; other backends rely on `celery.chord_unlock`), `chord_error_from_stack`,
 * and `_call_task_errbacks` with both of Celery's calling conventions:
 *
 * - "new style": an errback task registered in THIS worker whose function takes more than one
 *   argument (not counting `self` of a bound task) is called inline with `(request, exc, traceback)`;
 * - "old style": every other errback is sent, all of them as one group, with `args = (task_id,)`,
 *   `parent_id` = the failed task, `root_id` = its root.
 */
import { bindArguments, funcNameOf, paramsOf } from '../bind-args.ts';
import type { TaskParams } from '../task-params.ts';
import { buildResultMeta } from '../../protocol/result.ts';
import { FAILURE } from '../../protocol/states.ts';
import type { SignatureDict } from '../../protocol/types.ts';
import type { PyDict, PyValue } from '../../protocol/values.ts';
import type { Celery } from '../app.ts';
import type { ChordHost, ChordPartRequest, NativeChords } from '../backend.ts';
import { GroupResult } from '../result.ts';
import { applyAsync } from './apply.ts';
import { groupSig, maybeSignature } from './freeze.ts';
import { formatTraceback } from '../worker/traceback.ts';

/** The backend's native chord support (Redis), or null (chords then use `celery.chord_unlock`). */
export function nativeChords(app: Celery): NativeChords | null {
  return app.backend.chords ?? null;
}

/** A request-like object: what errbacks and chord completion read. */
export interface ErrbackRequest {
  id: string;
  root_id?: string | null;
  errbacks?: SignatureDict[] | PyValue[] | null;
  [key: string]: unknown;
}

/** Celery's `arity_greater(errback.type.__header__, 1)`: a `*args` or more than one positional parameter. */
function takesRequestExcTraceback(params: TaskParams): boolean {
  return params.varargs !== null || params.positional.length > 1;
}

/**
 * `_call_task_errbacks(request, exc, traceback)`: an errback this app implements, unbound and taking
 * more than one positional argument, is called inline; the others are sent with the failed task's id.
 */
export async function callTaskErrbacks(app: Celery, request: ErrbackRequest, exc: unknown, traceback: string | null): Promise<void> {
  const old: SignatureDict[] = [];
  for (const e of request.errbacks ?? []) {
    const errback = maybeSignature(e as PyValue);
    const registered = app.tasks.get(errback.task);
    // a bound task's `__header__` is a partial, which Celery sends the old way ("workaround to support
    // tasks with bind=True executed as link errors")
    const bound = registered?.workerOptions['bind'] === true;
    const params = registered?.fn && !bound ? paramsOf(registered) : null;
    if (registered?.fn && params && takesRequestExcTraceback(params)) {
      // `errback(request, exc, traceback)`: Signature.__call__ puts the signature's own arguments after
      // those three and adds its keywords (an immutable one: only its own), bound as Python binds them
      const given = errback.immutable ? errback.args : [request as unknown as PyValue, exc as PyValue, traceback, ...errback.args];
      const args = bindArguments(params, funcNameOf(registered.name), given, errback.kwargs ?? {});
      await (registered.fn as (...a: unknown[]) => unknown)(...args);
    } else old.push(errback);
  }
  if (old.length) {
    const taskId = request.id;
    const rootId = request.root_id || taskId;
    await applyAsync(app, groupSig(old), [taskId], {}, { parent_id: taskId, root_id: rootId });
  }
}

/** `chord_error_from_stack(callback, exc)`: the body's errbacks, then the body stored as FAILURE with `exc`. */
export async function chordErrorFromStack(app: Celery, callbackValue: SignatureDict | PyValue, exc: Error): Promise<void> {
  const callback = maybeSignature(callbackValue as PyValue);
  const id = callback.options['task_id'] as string;
  const linkError = callback.options['link_error'];
  const fake: ErrbackRequest = {
    id, errbacks: (Array.isArray(linkError) ? linkError : linkError ? [linkError] : []) as PyValue[],
    delivery_info: {}, task: callback.task, args: callback.args, kwargs: callback.kwargs, options: callback.options,
  };
  let stored: unknown = exc;
  try {
    await callTaskErrbacks(app, fake, exc, null);
  } catch (ebExc) {
    stored = ebExc;
  }
  if (!id) return;
  // fail_from_current_stack: the error's traceback; the record's children are the running task's (none)
  await app.backend.storeResult(buildResultMeta({ taskId: id, state: FAILURE, result: stored, traceback: formatTraceback(stored), children: [] }));
}

/** The {@link ChordHost} of an app. */
export function chordHost(app: Celery): ChordHost {
  return {
    delay: async (callback, args) => {
      await applyAsync(app, maybeSignature(callback as PyValue), args);
    },
    chordErrorFromStack: (callback, exc) => chordErrorFromStack(app, callback, exc),
    joinSavedGroup: async (groupId) => {
      const g = await GroupResult.restore(groupId, app.backend);
      if (!g) return null;
      return (await g.get({ disableSyncSubtasks: false, timeout: app.conf.resultChordJoinTimeout })) as PyValue[];
    },
  };
}

/**
 * `backend.on_chord_part_return(request, state, result)`, called after a task that is part of a chord
 * (`request.chord` set) stored its result — on success (`mark_as_done`), failure and revocation.
 */
export async function onChordPartReturn(app: Celery, request: ChordPartRequest, state: string, result: unknown): Promise<void> {
  if (!request.chord) return;
  const native = nativeChords(app);
  if (native) await native.onChordPartReturn(request, state, result, chordHost(app));
}

/** The chord part request of a remaining chain step (`mark_as_failure` rebuilds one from its options). */
export function chainElemRequest(step: SignatureDict): ChordPartRequest | null {
  const o: PyDict = step.options;
  if (!('chord' in o)) return null;
  return {
    id: o['task_id'] as string, group: (o['group_id'] ?? null) as string | null,
    group_index: (o['group_index'] ?? null) as number | null, chord: (o['chord'] ?? null) as PyValue,
  };
}
