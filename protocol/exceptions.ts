/**
 * Python exceptions as Celery stores them in results (`Backend.prepare_exception` /
 * `Backend.exception_to_python`, non-pickle serializers):
 *
 *     {"exc_type": "CustomError", "exc_message": ["boom", 42], "exc_module": "rec_tasks"}
 *
 * `exc_type` is the class `__qualname__` (dots for nested classes), `exc_module` its `__module__`,
 * `exc_message` the exception's `args` as a list (Python also accepts a single non-list value and
 * calls `cls(value)`).
 *
 * ## JS → Python mapping ({@link exceptionToInfo})
 *
 * | JavaScript value                        | exc_module          | exc_type                    |
 * |-----------------------------------------|---------------------|-----------------------------|
 * | {@link PythonError} (any subclass)      | its `excModule`     | its `excType` (args as-is)  |
 * | `Error`, `AggregateError`, `EvalError`  | `builtins`          | `Exception`                 |
 * | `TypeError`                             | `builtins`          | `TypeError`                 |
 * | `RangeError`, `SyntaxError`, `URIError` | `builtins`          | `ValueError`                |
 * | `ReferenceError`                        | `builtins`          | `NameError`                 |
 * | error whose `name` is a Python builtin exception name (`KeyError`, ...) | `builtins` | that name |
 * | any other `Error` subclass (`name` = `MyError`) | `celeriac`  | `MyError` (if an identifier, else `Exception`/`builtins`) |
 * | non-Error thrown value                  | `builtins`          | `Exception`                 |
 *
 * `exc_message` is `[message]` (or `[]` when the message is empty). Python rebuilds `builtins.*`
 * as the real built-in class; for `exc_module: "celeriac"` (not an importable module on the Python
 * side) `exception_to_python` creates a synthetic `celery.exceptions.MyError(Exception)` subclass
 * (verified with Celery 5.6.3: `MyError('m', 1)`, `isinstance(e, Exception)`; no SecurityError).
 */
import { pyRepr } from './repr.ts';
import { ProtocolError } from './errors.ts';
import { isPlainObject, type PyValue } from './values.ts';

/** The exception dict stored in a result's `result` field for RETRY/FAILURE/REVOKED. */
export interface ExceptionInfo {
  exc_type: string;
  exc_message: PyValue;
  exc_module: string;
}

export interface PythonErrorOptions {
  /** Python module of the exception class; defaults to `builtins`. */
  excModule?: string;
  /** Python traceback text (the meta's `traceback` field). */
  traceback?: string | null;
  /** The task state the error came from (FAILURE, RETRY, REVOKED), when known. */
  state?: string | null;
  cause?: unknown;
}

/** Python's `repr()` of a value (good enough for messages). */
/** Python's `repr` of a value in an exception's args; a nested Python exception shows as its repr. */
function reprArg(value: unknown): string {
  if (value instanceof PythonError) return value.message;
  if (value === undefined) return 'None';
  return pyRepr(value as PyValue);
}

/** `ClassName(arg1, arg2)` like Python's `BaseException.__repr__`. */
function reprException(excType: string, args: readonly PyValue[]): string {
  const short = excType.slice(excType.lastIndexOf('.') + 1);
  return `${short}(${args.map(reprArg).join(', ')})`;
}

/**
 * A Python exception received in a task result. `name` is the Python class name (`exc_type`),
 * `message` is Python's repr, e.g. `CustomError('boom', 42)`.
 */
export class PythonError extends Error {
  /** `exc_type`: the class `__qualname__`, e.g. `ValueError`, `Outer.Inner`. */
  readonly excType: string;
  /** `exc_module`, e.g. `builtins`, `celery.exceptions`, `myapp.tasks`. */
  readonly excModule: string;
  /** The exception's `args`, as sent. */
  readonly excMessage: PyValue[];
  /** Python traceback text, when the result carried one. */
  traceback: string | null;
  /** Task state the error was read from (FAILURE, RETRY, REVOKED), when known. */
  state: string | null;

  constructor(excType: string, args: readonly PyValue[] = [], options: PythonErrorOptions = {}) {
    super(reprException(excType, args), options.cause === undefined ? undefined : { cause: options.cause });
    this.excType = excType;
    this.excModule = options.excModule ?? 'builtins';
    this.excMessage = [...args];
    this.traceback = options.traceback ?? null;
    this.state = options.state ?? null;
    Object.defineProperty(this, 'name', { value: excType, enumerable: false, writable: true, configurable: true });
  }

  /** `exc_module.exc_type`. */
  get qualifiedName(): string {
    return `${this.excModule}.${this.excType}`;
  }

  /** The first argument when it is a string (Python's usual message), else the repr. */
  get reason(): string {
    const first = this.excMessage[0];
    return typeof first === 'string' ? first : this.message;
  }

  /** The wire form (`prepare_exception`). */
  toInfo(): ExceptionInfo {
    return { exc_type: this.excType, exc_message: [...this.excMessage], exc_module: this.excModule };
  }
}

type Opts = Omit<PythonErrorOptions, 'excModule'>;
const CELERY = 'celery.exceptions';
const BILLIARD = 'billiard.exceptions';

/** `celery.exceptions.CeleryError`. */
export class CeleryError extends PythonError {
  constructor(args: readonly PyValue[] = [], options: Opts = {}, excType = 'CeleryError', excModule = CELERY) {
    super(excType, args, { ...options, excModule });
  }
}
/** `celery.exceptions.TaskPredicate` (base of Retry, Ignore, Reject). */
export class TaskPredicate extends CeleryError {
  constructor(args: readonly PyValue[] = [], options: Opts = {}, excType = 'TaskPredicate') {
    super(args, options, excType);
  }
}
/** `celery.exceptions.Retry(message, exc, when)`. */
export class Retry extends TaskPredicate {
  constructor(args: readonly PyValue[] = [], options: Opts = {}) {
    super(args, options, 'Retry');
  }
  /** The `when` argument (seconds or ISO datetime), when present. */
  get when(): PyValue {
    return this.excMessage[2] ?? null;
  }
}
/** `celery.exceptions.Ignore`. */
export class Ignore extends TaskPredicate {
  constructor(args: readonly PyValue[] = [], options: Opts = {}) {
    super(args, options, 'Ignore');
  }
}
/** `celery.exceptions.Reject(reason, requeue)`. */
export class Reject extends TaskPredicate {
  constructor(args: readonly PyValue[] = [], options: Opts = {}) {
    super(args, options, 'Reject');
  }
  get requeue(): boolean {
    return this.excMessage[1] === true;
  }
}
/** `celery.exceptions.TaskError`. */
export class TaskError extends CeleryError {
  constructor(args: readonly PyValue[] = [], options: Opts = {}, excType = 'TaskError') {
    super(args, options, excType);
  }
}
/** `celery.exceptions.NotRegistered(task_name)` (a KeyError too, in Python). */
export class NotRegistered extends TaskError {
  constructor(args: readonly PyValue[] = [], options: Opts = {}) {
    super(args, options, 'NotRegistered');
    const name = args[0];
    if (typeof name === 'string') {
      this.message = `Task of kind ${pyRepr(name)} never registered, please make sure it's imported.`;
    }
  }
  get taskName(): string | null {
    const n = this.excMessage[0];
    return typeof n === 'string' ? n : null;
  }
}
/** `celery.exceptions.TaskRevokedError(reason)`; reason `revoked`, `expired` or `terminated`. */
export class TaskRevokedError extends TaskError {
  constructor(args: readonly PyValue[] = [], options: Opts = {}) {
    super(args, options, 'TaskRevokedError');
  }
}
/** `celery.exceptions.ChordError`. */
export class ChordError extends TaskError {
  constructor(args: readonly PyValue[] = [], options: Opts = {}) {
    super(args, options, 'ChordError');
  }
}
/** `celery.exceptions.MaxRetriesExceededError`. */
export class MaxRetriesExceededError extends TaskError {
  constructor(args: readonly PyValue[] = [], options: Opts = {}) {
    super(args, options, 'MaxRetriesExceededError');
  }
}
/** `celery.exceptions.TimeoutError` (named so it does not shadow Node's TimeoutError DOMException name). */
export class CeleryTimeoutError extends TaskError {
  constructor(args: readonly PyValue[] = [], options: Opts = {}) {
    super(args, options, 'TimeoutError');
  }
}
/** `celery.exceptions.InvalidTaskError`. */
export class InvalidTaskError extends TaskError {
  constructor(args: readonly PyValue[] = [], options: Opts = {}) {
    super(args, options, 'InvalidTaskError');
  }
}
/** `celery.exceptions.QueueNotFound`. */
export class QueueNotFound extends TaskError {
  constructor(args: readonly PyValue[] = [], options: Opts = {}) {
    super(args, options, 'QueueNotFound');
  }
}
/** `billiard.exceptions.TimeLimitExceeded(limit)` (hard time limit; re-exported by celery.exceptions). */
export class TimeLimitExceeded extends PythonError {
  constructor(args: readonly PyValue[] = [], options: Opts = {}) {
    super('TimeLimitExceeded', args, { ...options, excModule: BILLIARD });
  }
  get limit(): PyValue {
    return this.excMessage[0] ?? null;
  }
}
/** `billiard.exceptions.SoftTimeLimitExceeded`. */
export class SoftTimeLimitExceeded extends PythonError {
  constructor(args: readonly PyValue[] = [], options: Opts = {}) {
    super('SoftTimeLimitExceeded', args, { ...options, excModule: BILLIARD });
  }
}
/** `billiard.exceptions.WorkerLostError`. */
export class WorkerLostError extends PythonError {
  constructor(args: readonly PyValue[] = [], options: Opts = {}) {
    super('WorkerLostError', args, { ...options, excModule: BILLIARD });
  }
}
/** `billiard.exceptions.Terminated`. */
export class Terminated extends PythonError {
  constructor(args: readonly PyValue[] = [], options: Opts = {}) {
    super('Terminated', args, { ...options, excModule: BILLIARD });
  }
}

/** Builds a typed error from the args of a known Python exception. */
export type PythonErrorFactory = (args: PyValue[], options: Opts) => PythonError;

const REGISTRY = new Map<string, PythonErrorFactory>();

/** Register a class for `(exc_module, exc_type)` so {@link exceptionFromInfo} returns it. */
export function registerPythonException(excModule: string, excType: string, factory: PythonErrorFactory): void {
  REGISTRY.set(`${excModule}:${excType}`, factory);
}

for (const [type, ctor] of [
  ['CeleryError', CeleryError],
  ['TaskPredicate', TaskPredicate],
  ['Retry', Retry],
  ['Ignore', Ignore],
  ['Reject', Reject],
  ['TaskError', TaskError],
  ['NotRegistered', NotRegistered],
  ['TaskRevokedError', TaskRevokedError],
  ['ChordError', ChordError],
  ['MaxRetriesExceededError', MaxRetriesExceededError],
  ['TimeoutError', CeleryTimeoutError],
  ['InvalidTaskError', InvalidTaskError],
  ['QueueNotFound', QueueNotFound],
] as const) {
  registerPythonException(CELERY, type, (args, o) => new ctor(args, o));
}
for (const [type, ctor] of [
  ['TimeLimitExceeded', TimeLimitExceeded],
  ['SoftTimeLimitExceeded', SoftTimeLimitExceeded],
  ['WorkerLostError', WorkerLostError],
  ['Terminated', Terminated],
] as const) {
  registerPythonException(BILLIARD, type, (args, o) => new ctor(args, o));
  // celery.exceptions re-exports them; Python resolves `celery.exceptions.TimeLimitExceeded` too.
  registerPythonException(CELERY, type, (args, o) => new ctor(args, o));
}

/** Names of Python 3.11 built-in exception classes (module `builtins`). */
export const PYTHON_BUILTIN_EXCEPTIONS: ReadonlySet<string> = new Set([
  'BaseException', 'BaseExceptionGroup', 'Exception', 'ExceptionGroup', 'ArithmeticError', 'AssertionError',
  'AttributeError', 'BlockingIOError', 'BrokenPipeError', 'BufferError', 'ChildProcessError',
  'ConnectionAbortedError', 'ConnectionError', 'ConnectionRefusedError', 'ConnectionResetError', 'EOFError',
  'EnvironmentError', 'FileExistsError', 'FileNotFoundError', 'FloatingPointError', 'GeneratorExit', 'IOError',
  'ImportError', 'IndentationError', 'IndexError', 'InterruptedError', 'IsADirectoryError', 'KeyError',
  'KeyboardInterrupt', 'LookupError', 'MemoryError', 'ModuleNotFoundError', 'NameError', 'NotADirectoryError',
  'NotImplementedError', 'OSError', 'OverflowError', 'PermissionError', 'ProcessLookupError', 'RecursionError',
  'ReferenceError', 'RuntimeError', 'StopAsyncIteration', 'StopIteration', 'SyntaxError', 'SystemError',
  'SystemExit', 'TabError', 'TimeoutError', 'TypeError', 'UnboundLocalError', 'UnicodeDecodeError',
  'UnicodeEncodeError', 'UnicodeError', 'UnicodeTranslateError', 'ValueError', 'ZeroDivisionError',
]);

/** True when `value` looks like an exception dict (has a string `exc_type`). */
export function isExceptionInfo(value: unknown): value is ExceptionInfo {
  return isPlainObject(value) && typeof value['exc_type'] === 'string';
}

/**
 * Validate an exception dict. `exc_type` must be a non-empty string; `exc_module` a string, or
 * missing/null (Python then creates the class in `celery.backends.base`, which is what is filled
 * in here); `exc_message` any value (missing → `""`, as Python's `exc.get('exc_message', '')`).
 */
export function parseExceptionInfo(value: PyValue | undefined, path = 'result'): ExceptionInfo {
  if (!isPlainObject(value)) {
    throw new ProtocolError('exception', `expected an exception dict, got ${describe(value)}`, { path });
  }
  const type = value['exc_type'];
  if (typeof type !== 'string' || type === '') {
    throw new ProtocolError('exception', `exc_type must be a non-empty string, got ${describe(type)}`, {
      path: `${path}.exc_type`,
    });
  }
  const mod = value['exc_module'];
  if (mod !== undefined && mod !== null && typeof mod !== 'string') {
    throw new ProtocolError('exception', `exc_module must be a string, got ${describe(mod)}`, {
      path: `${path}.exc_module`,
    });
  }
  const msg = value['exc_message'];
  return {
    exc_type: type,
    exc_message: msg === undefined ? '' : (msg as PyValue),
    exc_module: typeof mod === 'string' ? mod : 'celery.backends.base',
  };
}

/** The args a Python `cls(*exc_message)` / `cls(exc_message)` call receives. */
export function exceptionArgs(info: ExceptionInfo): PyValue[] {
  return Array.isArray(info.exc_message) ? [...info.exc_message] : [info.exc_message];
}

/**
 * The JS error for an exception dict: the registered class for known `(exc_module, exc_type)`
 * (Celery's and billiard's exceptions), else a generic {@link PythonError} (built-ins are
 * recognizable by `err.excType === 'ValueError'` and `err.excModule === 'builtins'`).
 */
export function exceptionFromInfo(
  info: ExceptionInfo | PyValue,
  traceback?: string | null,
  state?: string | null,
): PythonError {
  const parsed = parseExceptionInfo(info as PyValue);
  const args = exceptionArgs(parsed);
  const opts: Opts = { traceback: traceback ?? null, state: state ?? null };
  const factory = REGISTRY.get(`${parsed.exc_module}:${parsed.exc_type}`);
  if (factory) return factory(args, opts);
  return new PythonError(parsed.exc_type, args, { ...opts, excModule: parsed.exc_module });
}

const JS_TO_PYTHON: Record<string, string> = {
  Error: 'Exception',
  AggregateError: 'Exception',
  EvalError: 'Exception',
  TypeError: 'TypeError',
  RangeError: 'ValueError',
  SyntaxError: 'ValueError',
  URIError: 'ValueError',
  ReferenceError: 'NameError',
};

/** The Python module a JS-defined error class is reported under (not importable in Python). */
export const JS_EXCEPTION_MODULE = 'celeriac';

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;

function toPyArg(value: unknown): PyValue {
  if (
    value === null ||
    typeof value === 'string' ||
    typeof value === 'number' ||
    typeof value === 'boolean' ||
    typeof value === 'bigint'
  ) {
    return value;
  }
  if (value === undefined) return null;
  return reprArg(value);
}

/**
 * The exception dict a Python worker would store for `err` (see the mapping table at the top of
 * this file). The result always rebuilds in Python's `exception_to_python` without SecurityError.
 */
export function exceptionToInfo(err: unknown): ExceptionInfo {
  if (err instanceof PythonError) return err.toInfo();
  if (isExceptionInfo(err)) return parseExceptionInfo(err as unknown as PyValue);
  if (err instanceof Error) {
    const args: PyValue[] = err.message === '' ? [] : [err.message];
    let name = typeof err.name === 'string' ? err.name : 'Error';
    const ctorName: unknown = (Object.getPrototypeOf(err) as { constructor?: { name?: unknown } } | null)?.constructor?.name;
    // `class MyError extends Error {}` keeps name 'Error': report the class name instead.
    if (name in JS_TO_PYTHON && typeof ctorName === 'string' && ctorName !== name && IDENTIFIER.test(ctorName)) {
      name = ctorName;
    }
    const mapped = JS_TO_PYTHON[name];
    if (mapped !== undefined) return { exc_type: mapped, exc_message: args, exc_module: 'builtins' };
    if (PYTHON_BUILTIN_EXCEPTIONS.has(name)) return { exc_type: name, exc_message: args, exc_module: 'builtins' };
    if (IDENTIFIER.test(name)) return { exc_type: name, exc_message: args, exc_module: JS_EXCEPTION_MODULE };
    return { exc_type: 'Exception', exc_message: args, exc_module: 'builtins' };
  }
  return { exc_type: 'Exception', exc_message: [toPyArg(err)], exc_module: 'builtins' };
}

/** A traceback text for an error: a PythonError's own traceback, else the JS stack. */
export function tracebackOf(err: unknown): string | null {
  if (err instanceof PythonError) return err.traceback;
  if (err instanceof Error) return err.stack ?? `${err.name}: ${err.message}`;
  return null;
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (value instanceof Uint8Array) return 'bytes';
  return typeof value === 'object' ? 'an object' : `${typeof value} ${JSON.stringify(String(value)).slice(0, 40)}`;
}
