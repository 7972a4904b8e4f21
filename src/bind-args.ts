/**
 * Python's argument binding: a call `(args, kwargs)` bound to a task's parameters
 * (src/task-params.ts) as CPython 3.11 binds a call to a function (`initialize_locals` in
 * Python/ceval.c), with its `TypeError` texts, word for word, and its order when several errors apply:
 *
 * 1. positionals fill the positional-or-keyword parameters in order, the extra ones go to `*args`;
 * 2. keywords, in the order given: one naming a positional parameter already filled positionally is
 *    "got multiple values for argument 'x'"; one naming no parameter (nor a bound task's `self`; the
 *    `*args` and `**kwargs` names are not parameters) is "got an unexpected keyword argument 'z'"
 *    unless there is a `**kwargs`; the first such keyword raises;
 * 3. too many positionals without `*args`: "takes 2 positional arguments but 3 were given" (`from N to
 *    M` with optional ones; "... but 2 positional arguments (and 1 keyword-only argument) were given"
 *    counting the keyword-only arguments passed);
 * 4. missing required positional parameters, then missing required keyword-only parameters, all named:
 *    "missing 2 required positional arguments: 'x' and 'y'".
 *
 * A bound task's `self` counts as Python counts it: "takes 3 positional arguments but 4 were given"
 * for `add(self, x, y)` called with three arguments; a keyword named as `self` is "got multiple values
 * for argument 'self'".
 *
 * The JavaScript call a bound call becomes (without the `self` of a bound task, which the worker puts
 * first):
 *
 * - the positional-or-keyword parameters, in order; an optional one not given is `undefined`, so the
 *   JavaScript default applies; trailing `undefined`s are dropped when nothing follows them;
 * - then the extra positionals (`*args`), spread: the JavaScript rest parameter receives them;
 * - then, when the task has keyword-only parameters or `**kwargs` (declared ones), ONE object, always
 *   the last argument and always passed (`{}` when empty), holding the keyword-only arguments given and
 *   the unknown keywords (`**kwargs`), in the call's order. With both `*args` and that object, the
 *   rest parameter receives the extra positionals followed by the object:
 *   `(x, ...rest) => { const kw = rest.pop(); ... }` for `params: ['x', '*args', '**kwargs']`.
 *   (A read parameter list never has keyword-only parameters or `**kwargs`, so only a declaration gives
 *   this form.) A keyword-only parameter not given is absent from the object, so a destructuring
 *   default (`{ k = 1 } = {}`) applies.
 *
 * No I/O, nothing from src/app.ts: a pure module.
 */
import { taskParams, type TaskParams } from './task-params.ts';

/**
 * A wrong call: a JavaScript `TypeError` (so the worker stores and reports it as Python's
 * `builtins.TypeError`) whose message is Python's text, e.g.
 * `add() missing 1 required positional argument: 'y'`.
 */
export class ArgumentTypeError extends TypeError {
  /** The Python function name the message starts with. */
  readonly funcName: string;
  constructor(funcName: string, message: string) {
    super(message);
    this.funcName = funcName;
  }
}
// protocol/exceptions.ts reports a subclass of a built-in error under its class name
// (`class MyError extends TypeError` → celeriac.MyError); this one is Python's TypeError itself.
Object.defineProperty(ArgumentTypeError, 'name', { value: 'TypeError' });

/** Python's `missing_arguments` list: 'x' / 'x' and 'y' / 'x', 'y', and 'z'. */
function nameList(names: readonly string[]): string {
  const q = names.map((n) => `'${n}'`);
  if (q.length <= 1) return q.join('');
  if (q.length === 2) return `${q[0]} and ${q[1]}`;
  return `${q.slice(0, -1).join(', ')}, and ${q[q.length - 1]}`;
}

function s(n: number): string {
  return n === 1 ? '' : 's';
}

const REQUIRED = new WeakMap<TaskParams, number>();

/** How many positional parameters have no default (remembered per params object). */
function requiredCount(params: TaskParams): number {
  let n = REQUIRED.get(params);
  if (n === undefined) {
    n = params.positional.filter((p) => !p.optional).length;
    REQUIRED.set(params, n);
  }
  return n;
}

function isEmpty(o: Readonly<Record<string, unknown>>): boolean {
  for (const _ in o) return false;
  return true;
}

interface Bound {
  /** Value of each positional parameter, `undefined` when not given (an optional one). */
  positional: unknown[];
  rest: unknown[];
  /** Keyword-only arguments given and unknown keywords, in the call's order; null when the task takes no keyword object. */
  keywords: [string, unknown][] | null;
}

function bind(
  params: TaskParams,
  funcName: string,
  args: readonly unknown[],
  kwargs: Readonly<Record<string, unknown>>,
  boundTask: boolean,
): Bound {
  const name = params.python?.funcName ?? funcName;
  const bound = boundTask && params.python?.unbound !== true;
  const fail = (text: string) => new ArgumentTypeError(name, `${name}() ${text}`);
  const P = params.positional.length;
  const given = Math.min(args.length, P);
  const positional: unknown[] = args.slice(0, given);
  const filled: boolean[] = params.positional.map((_, i) => i < given);
  const rest = params.varargs !== null ? args.slice(P) : [];
  const takesObject = params.keywordOnly.length > 0 || params.varkw !== null;
  const keywords: [string, unknown][] = [];
  const kwonlyGiven = new Set<string>();
  const selfName = bound ? (params.self === undefined ? 'self' : params.self) : null;
  const positionalIndex = new Map(params.positional.map((p, i) => [p.name, i]));
  const kwonlyNames = new Set(params.keywordOnly.map((p) => p.name));

  for (const key of Object.keys(kwargs)) {
    const value = kwargs[key];
    if (key === selfName) throw fail(`got multiple values for argument '${key}'`);
    const i = positionalIndex.get(key);
    if (i !== undefined) {
      if (filled[i]) throw fail(`got multiple values for argument '${key}'`);
      filled[i] = true;
      positional[i] = value;
      continue;
    }
    if (kwonlyNames.has(key)) {
      kwonlyGiven.add(key);
      keywords.push([key, value]);
      continue;
    }
    if (params.varkw === null) throw fail(`got an unexpected keyword argument '${key}'`);
    keywords.push([key, value]);
  }

  if (args.length > P && params.varargs === null) {
    const self = bound ? 1 : 0;
    const total = P + self;
    const required = params.positional.filter((p) => !p.optional).length + self;
    const hasDefaults = required < total;
    const sig = hasDefaults ? `from ${required} to ${total}` : String(total);
    const plural = hasDefaults || total !== 1;
    const n = args.length + self;
    const k = kwonlyGiven.size;
    const kwonly = k > 0 ? ` positional argument${s(n)} (and ${k} keyword-only argument${s(k)})` : '';
    throw fail(`takes ${sig} positional argument${plural ? 's' : ''} but ${n}${kwonly} ${n === 1 && k === 0 ? 'was' : 'were'} given`);
  }

  const missing = params.positional.filter((p, i) => !p.optional && !filled[i]).map((p) => p.name);
  if (missing.length > 0) {
    throw fail(`missing ${missing.length} required positional argument${s(missing.length)}: ${nameList(missing)}`);
  }
  const missingKw = params.keywordOnly.filter((p) => !p.optional && !kwonlyGiven.has(p.name)).map((p) => p.name);
  if (missingKw.length > 0) {
    throw fail(`missing ${missingKw.length} required keyword-only argument${s(missingKw.length)}: ${nameList(missingKw)}`);
  }
  return { positional, rest, keywords: takesObject ? keywords : null };
}

/**
 * Binds a Python call `(args, kwargs)` to the JavaScript call's argument list (without the `self` of a
 * bound task), or throws {@link ArgumentTypeError} with Python's text. `funcName`: the task name's last
 * dotted part (where Python shows its function's name). `bound`: the task is bound (Python counts
 * `self` in "takes N positional arguments"). See the module comment for the list's form.
 */
export function bindArguments(
  params: TaskParams,
  funcName: string,
  args: readonly unknown[],
  kwargs: Readonly<Record<string, unknown>>,
  options: { bound?: boolean } = {},
): unknown[] {
  // the usual call, positional arguments only and as many as the function takes, binds to itself
  if (params.keywordOnly.length === 0 && params.varkw === null && isEmpty(kwargs)) {
    const n = args.length;
    if (n >= requiredCount(params) && (params.varargs !== null || n <= params.positional.length)) return args as unknown[];
  }
  const b = bind(params, funcName, args, kwargs, options.bound === true);
  const call = Array.from({ length: params.positional.length }, (_, i) => b.positional[i]);
  if (b.rest.length === 0 && b.keywords === null) {
    while (call.length > 0 && call[call.length - 1] === undefined) call.pop();
    return call;
  }
  call.push(...b.rest);
  if (b.keywords !== null) call.push(Object.fromEntries(b.keywords));
  return call;
}

/** The same check as {@link bindArguments} without building the call (the producer's `typing` check). */
export function checkArguments(
  params: TaskParams,
  funcName: string,
  args: readonly unknown[],
  kwargs: Readonly<Record<string, unknown>>,
  options: { bound?: boolean } = {},
): void {
  bind(params, funcName, args, kwargs, options.bound === true);
}

/** What binding needs of a registered task (src/app.ts `RegisteredTask`). */
export interface CheckedTask {
  readonly name: string;
  readonly params: TaskParams | null;
  readonly workerOptions: Readonly<Record<string, unknown>>;
}

/** The name Python's TypeError texts show for a task: its name's last dotted part. */
export function funcNameOf(taskName: string): string {
  return taskName.slice(taskName.lastIndexOf('.') + 1);
}

/** The parameters a call of an implemented task binds to: its own, else read from its function. */
export function paramsOf(task: CheckedTask & { readonly fn: ((...args: never[]) => unknown) | undefined }): TaskParams {
  if (task.params) return task.params;
  if (!task.fn) throw new Error(`task ${task.name} has no implementation in this process`);
  return taskParams(task.fn, { task: task.name, bind: task.workerOptions['bind'] === true });
}

/**
 * Celery's `Task.apply_async` with `typing` (on unless the task says `typing: false`): a call of a task
 * whose parameters are known throws Python's TypeError before anything is sent. Every path that
 * applies a registered task runs it: `delay`/`applyAsync`, signatures, canvas steps, and a worker
 * sending a chain step, a callback, a chord body, an errback or a replacement.
 */
export function checkTaskCall(task: CheckedTask, args: readonly unknown[], kwargs: Readonly<Record<string, unknown>>): void {
  if (!task.params || task.workerOptions['typing'] === false) return;
  checkArguments(task.params, funcNameOf(task.name), args, kwargs, { bound: task.workerOptions['bind'] === true });
}
