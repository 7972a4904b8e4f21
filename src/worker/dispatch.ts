/**
 * What a finished task sends on (`celery/app/trace.py:_dispatch_callbacks_and_chain`,
 * `celery/backends/base.py:_call_task_errbacks`):
 *
 * - success: one link callback → `sig.apply_async((retval,), parent_id=<id>, root_id=<root>)`;
 *   several → each callback that is a group applied on its own, the others as one group (shared
 *   `group_id`, `group_index` 0..n-1), each group a `GroupResult` child; then the next chain step
 *   `chain[-1].apply_async((retval,), chain=chain[:-1], parent_id, root_id)`. Immutable signatures
 *   keep their own args.
 * - failure: errbacks are sent as a group with `args = (failed_task_id,)`, `parent_id` = the failed
 *   task, `root_id` = its root (Celery's "old-style" errbacks).
 *
 * A registered task is checked as `Task.apply_async` does (`typing`) before it is sent. The worker's
 * failure path calls errbacks through src/canvas/chord.ts `callTaskErrbacks` (inline for an errback
 * that takes `(request, exc, traceback)`, as Celery).
 */
import { groupToMessages, mergeSignature } from '../../protocol/canvas.ts';
import { asTuple, refToTuple, type ResultTuple } from '../../protocol/result.ts';
import type { SignatureDict } from '../../protocol/types.ts';
import type { PyDict, PyValue } from '../../protocol/values.ts';
import type { Celery } from '../app.ts';
import { checkTaskCall } from '../bind-args.ts';
import { applyAsync as applyCanvas } from '../canvas/apply.ts';
import { groupSig } from '../canvas/freeze.ts';
import { normalizeSendOptions, type SendTaskOptions } from '../producer.ts';
import type { WorkerLogger } from './log.ts';

export interface DispatchHost {
  readonly app: Celery;
  readonly logger: WorkerLogger;
}

/** Signature options → send options; options the producer does not know are dropped (logged at debug). */
export function signatureSendOptions(options: PyDict, logger?: WorkerLogger, where = 'signature'): SendTaskOptions {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(options)) {
    if (v === null || v === undefined) continue;
    try {
      Object.assign(out, normalizeSendOptions({ [k]: v }));
    } catch (err) {
      logger?.debug(`${where}: option ${k} not applied: ${(err as Error).message}`);
    }
  }
  return out as SendTaskOptions;
}

/** `signature.apply_async(args, **options)` of a plain task signature; resolves with the new task id. */
export async function applySignature(host: DispatchHost, sig: SignatureDict, args: PyValue[], options: PyDict): Promise<string> {
  // chains, groups and chords go through the canvas engine (src/canvas/apply.ts), as Celery's signature classes
  if (sig.subtask_type) return (await applyCanvas(host.app, sig, args, {}, options)).id;
  const m = mergeSignature(sig, args, null, options);
  const send = signatureSendOptions(m.options, host.logger, `signature ${sig.task}`);
  const registered = host.app.tasks.get(sig.task);
  // Task.apply_async's `typing` check, in the sending worker when it has the task (as Celery's does)
  if (registered) checkTaskCall(registered, m.args, m.kwargs);
  const merged = registered ? ({ ...registered.sendDefaults, ...send } as SendTaskOptions) : send;
  const r = await host.app.sendTask(sig.task, m.args, m.kwargs, merged);
  return r.id;
}

/** `group(sigs).apply_async(args, **options)`: members get a shared group id and their index. */
export async function applyGroup(host: DispatchHost, sigs: SignatureDict[], args: PyValue[], options: { parentId: string; rootId: string; priority?: number | null }): Promise<string[]> {
  const g = groupToMessages(sigs, { parentId: options.parentId, rootId: options.rootId });
  const ids: string[] = [];
  for (const member of g.members) {
    // members are not the sending task's children (Celery's group sends them with add_to_parent=False)
    const extra: PyDict = { parent_id: options.parentId, root_id: options.rootId, add_to_parent: false };
    if (options.priority !== undefined && options.priority !== null) extra.priority = options.priority;
    ids.push(await applySignature(host, member, args, extra));
  }
  return ids;
}

/**
 * Success: link callbacks, then the next chain step. Sent in the finished task's context, they join its
 * trail (`TaskContext.children`) as Celery's `add_trail` records them: a callback chain as its first
 * step, callback groups as GroupResults. Returns the results it sent (a chain as its last step).
 */
export async function dispatchCallbacksAndChain(
  host: DispatchHost,
  retval: unknown,
  callbacks: SignatureDict[] | null,
  chain: SignatureDict[] | null,
  ids: { parentId: string; rootId: string; priority?: number | null },
): Promise<ResultTuple[]> {
  const children: ResultTuple[] = [];
  const base: PyDict = { parent_id: ids.parentId, root_id: ids.rootId };
  if (ids.priority !== undefined && ids.priority !== null) base.priority = ids.priority;
  const value = (retval === undefined ? null : retval) as PyValue;
  if (callbacks && callbacks.length > 1) {
    // Celery sends group callbacks separately (each its own GroupResult child), the rest as one group
    const groups = callbacks.filter((c) => c.subtask_type === 'group');
    const sigs = callbacks.filter((c) => c.subtask_type !== 'group');
    for (const g of groups) children.push(refToTuple(await applyCanvas(host.app, g, [value], {}, base)));
    if (sigs.length) children.push(refToTuple(await applyCanvas(host.app, groupSig(sigs), [value], {}, base)));
  } else if (callbacks && callbacks.length === 1) {
    children.push(asTuple(await applySignature(host, callbacks[0]!, [value], base)));
  }
  if (chain && chain.length > 0) {
    const next = chain[chain.length - 1]!;
    const rest = chain.slice(0, -1);
    children.push(asTuple(await applySignature(host, next, [value], { ...base, chain: rest as unknown as PyValue })));
  }
  return children;
}

/** Failure: errbacks as a group with the failed task's id (`_call_task_errbacks`, old-style). */
export async function dispatchErrbacks(host: DispatchHost, errbacks: SignatureDict[] | null, taskId: string, rootId: string | null): Promise<void> {
  if (!errbacks || errbacks.length === 0) return;
  await applyGroup(host, errbacks, [taskId], { parentId: taskId, rootId: rootId || taskId });
}
