/**
 * A task's attributes as a Python worker's `inspect registered <attr>...` shows them
 * (`celery/worker/control.py:registered`: `str(getattr(task, attr))` for each attribute that is not
 * None). A Celery task class has every attribute of `celery.app.task.Task`: the class defaults, the
 * app settings of `Task.from_config` (`serializer` ← `task_serializer`, `acks_late` ← `task_acks_late`,
 * ...), each option given to `@app.task(...)`, and what the `rate_limit` / `time_limit` control commands
 * set at runtime. A TypeScript task answers with the same values: its options (camelCase in
 * TypeScript, Celery's names on the wire), else the app's settings, else Celery's defaults.
 */
import { PyTuple, pyFloatRepr, pyRepr } from '../../../protocol/repr.ts';
import type { PyValue } from '../../../protocol/values.ts';
import { toCamelCase, type Settings } from '../../config.ts';

/** What the attributes are read from (a registered task: its options). */
export interface TaskOptionsView {
  readonly name: string;
  readonly sendDefaults: object;
  readonly workerOptions: object;
}

/** The Python `str()` of an attribute value; `null` for None (the attribute is left out). */
export type AttributeText = string | null;

/**
 * An attribute set at runtime, kept as the text Python would show: `time_limit` sent as `10.0` by
 * `celery control time_limit` is a Python float (`'10.0'`), which a JavaScript number cannot tell.
 */
export class AttributeOverrides {
  private readonly byTask = new Map<string, Map<string, AttributeText>>();

  set(task: string, attribute: string, text: AttributeText): void {
    let m = this.byTask.get(task);
    if (!m) this.byTask.set(task, (m = new Map()));
    m.set(attribute, text);
  }

  get(task: string, attribute: string): AttributeText | undefined {
    return this.byTask.get(task)?.get(attribute);
  }
}

/** Celery `Task` class attributes that do not come from settings (Celery 5.6). */
const CLASS_DEFAULTS: Readonly<Record<string, string>> = {
  max_retries: '3',
  default_retry_delay: '180',
  throws: '()',
  typing: 'True',
  abstract: 'True',
  trail: 'True',
  send_events: 'True',
  resultrepr_maxsize: '1024',
  acks_on_failure_or_timeout: 'True',
  store_eager_result: 'False',
  store_errors_even_if_ignored: 'False',
  Request: 'celery.worker.request:Request',
  Strategy: 'celery.worker.strategy:default',
};

/** `Task.from_config`: attribute ← setting, for the settings celeriac has. */
const FROM_CONFIG: Readonly<Record<string, keyof Settings>> = {
  serializer: 'taskSerializer',
  priority: 'taskDefaultPriority',
  track_started: 'taskTrackStarted',
  acks_late: 'taskAcksLate',
  reject_on_worker_lost: 'taskRejectOnWorkerLost',
  ignore_result: 'taskIgnoreResult',
};

/** TypeScript-only task options: no attribute of that name on a Celery task. */
const NOT_ATTRIBUTES = new Set(['bind', 'params', 'hooks']);

/** Python's `str(datetime)` of a UTC instant: `2026-01-02 03:04:05.678000+00:00`. */
function pyDatetimeStr(d: Date): string {
  const iso = d.toISOString(); // YYYY-MM-DDTHH:MM:SS.mmmZ
  const ms = d.getUTCMilliseconds();
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}${ms ? `.${String(ms * 1000).padStart(6, '0')}` : ''}+00:00`;
}

/** `<class 'ValueError'>` for an error class (Python's builtins print without a module). */
function classRepr(v: unknown): string {
  const name = (v as { name?: unknown })?.name;
  return `<class '${typeof name === 'string' && name ? name : 'Exception'}'>`;
}

/** Python's `str()` of an option value as a Celery task would hold it. */
export function pyStrOf(v: unknown): AttributeText {
  if (v === null || v === undefined) return null;
  if (typeof v === 'string') return v;
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : pyFloatRepr(v);
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'function') return classRepr(v);
  if (v instanceof Date) return pyDatetimeStr(v);
  if (Array.isArray(v)) {
    // a tuple of exception classes (autoretry_for, throws) or a list of values
    if (v.some((x) => typeof x === 'function')) {
      const items = v.map((x) => (typeof x === 'function' ? classRepr(x) : pyStrOf(x) ?? 'None'));
      return `(${items.join(', ')}${items.length === 1 ? ',' : ''})`;
    }
    try {
      return pyRepr(v as PyValue[]);
    } catch {
      return String(v);
    }
  }
  if (v instanceof PyTuple) return pyRepr(v);
  if (typeof v === 'object') {
    const name = (v as { name?: unknown }).name;
    if (typeof name === 'string') return name; // a queue / exchange spec: its name
    try {
      return pyRepr(v as PyValue);
    } catch {
      return String(v);
    }
  }
  return String(v);
}

/**
 * `str(getattr(task, attribute, None))`, or null when Python's would be None (then `registered`
 * leaves the attribute out).
 */
export function taskAttribute(task: TaskOptionsView, attribute: string, conf: Settings, overrides?: AttributeOverrides): AttributeText {
  const set = overrides?.get(task.name, attribute);
  if (set !== undefined) return set;
  if (attribute === 'name') return task.name;
  const camel = toCamelCase(attribute);
  if (!NOT_ATTRIBUTES.has(camel)) {
    for (const options of [task.workerOptions, task.sendDefaults] as Record<string, unknown>[]) {
      if (Object.hasOwn(options, camel) && options[camel] !== undefined) return pyStrOf(options[camel]);
    }
  }
  const setting = FROM_CONFIG[attribute];
  if (setting) return pyStrOf(conf[setting]);
  return CLASS_DEFAULTS[attribute] ?? null;
}

/** One `registered` entry: `name`, or `name [attr=value attr=value]` in the order asked. */
export function registeredEntry(task: TaskOptionsView, items: readonly string[], conf: Settings, overrides?: AttributeOverrides): string {
  // Python builds a dict first: an attribute asked twice shows once, at its first place
  const fields = new Map<string, string>();
  for (const item of items) {
    const text = taskAttribute(task, item, conf, overrides);
    if (text !== null && !fields.has(item)) fields.set(item, text);
  }
  if (!fields.size) return task.name;
  return `${task.name} [${[...fields].map(([k, v]) => `${k}=${v}`).join(' ')}]`;
}
