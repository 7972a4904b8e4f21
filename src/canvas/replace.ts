/**
 * `Task.replace(sig)` (`celery/app/task.py`) and the `|` operator it uses (`Signature.__or__`,
 * `_chain.__or__`, `group.__or__`, `_chord.__or__`), on the dict form.
 *
 * The replacement inherits the task's id (its last task gets it), callbacks, errbacks, chord, group
 * id/index and root id; `replaced_task_nesting` is the request's + 1; the remaining `embed.chain`
 * steps are appended. A group is first turned into `group | celery.accumulate.s(index=0)` (a chord).
 * Then the signature is sent and `Ignore('Replaced by new task')` is thrown: nothing is stored for
 * the replaced task.
 */
import { chain as chainDict, cloneSignature, signature } from '../../protocol/canvas.ts';
import { Ignore } from '../../protocol/exceptions.ts';
import type { SignatureDict } from '../../protocol/types.ts';
import type { PyValue } from '../../protocol/values.ts';
import type { Celery } from '../app.ts';
import { ConfigurationError } from '../errors.ts';
import { applyAsync } from './apply.ts';
import { appendOption, chordParts, chordSig, freeze, kindOf, maybeSignature, tasksOf } from './freeze.ts';

/** `chain.unchain_tasks()`: cloned steps, each with the chain's link_error. */
function unchainTasks(c: SignatureDict): SignatureDict[] {
  const tasks = tasksOf(c).map((t) => cloneSignature(t));
  const le = c.options['link_error'];
  for (const eb of (Array.isArray(le) ? le : le ? [le] : []) as PyValue[]) for (const t of tasks) appendOption(t, 'link_error', maybeSignature(eb));
  return tasks;
}

function unrollGroup(g: SignatureDict): SignatureDict {
  const tasks = tasksOf(g);
  return tasks.length === 1 ? tasks[0]! : g;
}

/** `a | b` for signatures (Celery's `__or__`, the cases `replace` reaches). */
export function pipe(a: SignatureDict, b: SignatureDict): SignatureDict {
  const ka = kindOf(a);
  if (ka === 'group') return chordSig(a, b);
  if (ka === 'chord') {
    const kb = kindOf(b);
    if (kb !== 'group' && kb !== 'chain') {
      const s = cloneSignature(a);
      const { body } = chordParts(s);
      s.kwargs['body'] = (body ? pipe(body, b) : b) as unknown as PyValue;
      return s;
    }
  }
  if (ka === 'chain') {
    let other = b;
    if (kindOf(other) === 'group') other = unrollGroup(other);
    if (kindOf(other) === 'chain') return unchainTasks(other).reduce((acc, t) => pipe(acc, t), a);
    const tasks = tasksOf(a);
    const last = tasks[tasks.length - 1];
    if (kindOf(other) !== 'group' && last && kindOf(last) === 'group') {
      const s = cloneSignature(a);
      const st = tasksOf(s);
      st[st.length - 1] = chordSig(st[st.length - 1]!, other);
      return s;
    }
    if (last && kindOf(last) === 'chord' && kindOf(other) !== 'chord') {
      const s = cloneSignature(a);
      const st = tasksOf(s);
      st[st.length - 1] = pipe(st[st.length - 1]!, other);
      return s;
    }
    return chainDict([...unchainTasks(a), other]);
  }
  // a plain task
  if (kindOf(b) === 'chain') return chainDict([a, ...unchainTasks(b)]);
  if (kindOf(b) === 'group') return chainDict([a, unrollGroup(b)]);
  return chainDict([a, b]);
}

/** What `replace` reads from the running task. */
export interface ReplaceRequest {
  id: string;
  root_id: string | null;
  group: string | null;
  group_index: number | null;
  chord: SignatureDict | null;
  callbacks: SignatureDict[] | null;
  errbacks: SignatureDict[] | null;
  chain: SignatureDict[] | null;
  replaced_task_nesting: number;
}

/** `Task.replace(sig)`: sends the replacement and throws `Ignore('Replaced by new task')`. */
export async function replaceTask(app: Celery, request: ReplaceRequest, replacement: SignatureDict): Promise<never> {
  let sig = cloneSignature(maybeSignature(replacement));
  if ('chord' in sig.options) throw new ConfigurationError('A signature replacing a task must not be part of a chord');
  if (kindOf(sig) === 'chain' && tasksOf(sig).length === 0) throw new ConfigurationError('Cannot replace with an empty chain');
  if (kindOf(sig) === 'group') sig = pipe(sig, signature('celery.accumulate', [], { index: 0 }));
  for (const cb of request.callbacks ?? []) link(sig, cb, 'link');
  for (const eb of request.errbacks ?? []) link(sig, eb, 'link_error');
  if (kindOf(sig) === 'chain' && 'link' in sig.options) {
    const tasks = tasksOf(sig);
    const l = sig.options['link'];
    for (const cb of (Array.isArray(l) ? l : [l]) as PyValue[]) appendOption(tasks[tasks.length - 1]!, 'link', maybeSignature(cb));
  }
  freeze(app, sig, { id: request.id });
  const nesting = (request.replaced_task_nesting ?? 0) + 1;
  Object.assign(sig.options, {
    chord: request.chord as unknown as PyValue, group_id: request.group, group_index: request.group_index,
    root_id: request.root_id, replaced_task_nesting: nesting,
  });
  if (kindOf(sig) === 'chain') for (const t of tasksOf(sig)) t.options['replaced_task_nesting'] = nesting;
  for (const t of [...(request.chain ?? [])].reverse()) {
    const step = cloneSignature(maybeSignature(t));
    step.options['replaced_task_nesting'] = nesting;
    sig = pipe(sig, step);
  }
  await applyAsync(app, sig);
  throw new Ignore(['Replaced by new task']);
}

/** `sig.link(cb)` / `sig.link_error(eb)` as each signature class does it. */
function link(sig: SignatureDict, s: SignatureDict, key: 'link' | 'link_error'): void {
  const kind = kindOf(sig);
  if (kind === 'group') {
    const tasks = tasksOf(sig);
    const imm = { ...cloneSignature(s), immutable: true };
    if (key === 'link') appendOption(tasks[0]!, key, imm);
    else for (const t of tasks) appendOption(t, key, imm);
  } else if (kind === 'chord') {
    const { body } = chordParts(sig);
    if (body) appendOption(body, key, s);
  } else appendOption(sig, key, s);
}
