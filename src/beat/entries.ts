/**
 * `beat_schedule` read as Celery reads it: entry name -> `{task, schedule, args, kwargs, options,
 * relative}`. A schedule is a number of seconds (Celery's `maybe_schedule`: an interval), a duration
 * object, or a schedule built with `schedule()`, `crontab()`, `solar()` or `clocked()`. Send options are
 * checked here, naming the entry, so a typo fails when beat starts rather than at the first send.
 */
import { isPlainObject, type PyValue } from '../../protocol/values.ts';
import { ConfigurationError } from '../errors.ts';
import { normalizeSendOptions } from '../send-options.ts';
import type { Schedule } from './schedules/base.ts';
import { schedule as interval } from './schedules/interval.ts';
import type { EntryDefinition } from './store.ts';

const ENTRY_KEYS = new Set(['task', 'schedule', 'args', 'kwargs', 'options', 'relative', 'enabled']);

/** Whether `value` is a schedule object (anything with Celery's `is_due` / `remaining_estimate`). */
export function isSchedule(value: unknown): value is Schedule {
  return typeof value === 'object' && value !== null
    && typeof (value as Schedule).isDue === 'function' && typeof (value as Schedule).remainingEstimate === 'function';
}

const DURATION_KEYS = new Set(['days', 'hours', 'minutes', 'seconds', 'milliseconds']);

/** Celery's `maybe_schedule`: seconds or a duration become an interval schedule; a schedule stays itself. */
export function maybeSchedule(value: unknown, relative: boolean, where: string): Schedule {
  if (isSchedule(value)) return value;
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value <= 0) throw new ConfigurationError(`${where}: schedule must be a positive number of seconds, got ${value}`);
    return interval(value, { relative });
  }
  if (isPlainObject(value) && Object.keys(value).length > 0 && Object.keys(value).every((k) => DURATION_KEYS.has(k))) {
    return interval(value as { days?: number; hours?: number; minutes?: number; seconds?: number; milliseconds?: number }, { relative });
  }
  throw new ConfigurationError(
    `${where}: schedule must be a number of seconds, a duration ({hours: 1}), or schedule()/crontab()/solar()/clocked(), got ${describe(value)}`,
  );
}

/** One `beat_schedule` entry, validated. */
export function entryFromConfig(name: string, value: unknown): EntryDefinition {
  const where = `beat_schedule[${JSON.stringify(name)}]`;
  if (!isPlainObject(value)) throw new ConfigurationError(`${where} must be an object {task, schedule, ...}, got ${describe(value)}`);
  const raw = value as Record<string, unknown>;
  for (const key of Object.keys(raw)) {
    if (!ENTRY_KEYS.has(key)) {
      throw new ConfigurationError(`${where}: unknown key ${JSON.stringify(key)} (an entry takes ${[...ENTRY_KEYS].join(', ')})`);
    }
  }
  if (typeof raw.task !== 'string' || raw.task === '') throw new ConfigurationError(`${where}: task must be a task name, got ${describe(raw.task)}`);
  if (raw.schedule === undefined) throw new ConfigurationError(`${where}: schedule is missing`);
  const relative = raw.relative ?? false;
  if (typeof relative !== 'boolean') throw new ConfigurationError(`${where}: relative must be true or false, got ${describe(relative)}`);
  const args = raw.args ?? [];
  if (!Array.isArray(args)) throw new ConfigurationError(`${where}: args must be an array, got ${describe(args)}`);
  const kwargs = raw.kwargs ?? {};
  if (!isPlainObject(kwargs)) throw new ConfigurationError(`${where}: kwargs must be an object, got ${describe(kwargs)}`);
  const options = raw.options ?? {};
  if (!isPlainObject(options)) throw new ConfigurationError(`${where}: options must be an object, got ${describe(options)}`);
  normalizeSendOptions(options as Record<string, unknown>, `${where} option`);
  const enabled = raw.enabled ?? true;
  if (typeof enabled !== 'boolean') throw new ConfigurationError(`${where}: enabled must be true or false, got ${describe(enabled)}`);
  return {
    name,
    task: raw.task,
    schedule: maybeSchedule(raw.schedule, relative, where),
    args: args as PyValue[],
    kwargs: kwargs as Record<string, PyValue>,
    options: options as Record<string, PyValue>,
    enabled,
  };
}

/** Every entry of `beat_schedule`, in the order given. */
export function entriesFromConfig(beatSchedule: Readonly<Record<string, unknown>>): EntryDefinition[] {
  return Object.entries(beatSchedule).map(([name, value]) => entryFromConfig(name, value));
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return `an object (${Object.keys(value as object).slice(0, 5).join(', ') || 'empty'})`;
  if (typeof value === 'string') return JSON.stringify(value);
  return `${typeof value} ${String(value)}`;
}
