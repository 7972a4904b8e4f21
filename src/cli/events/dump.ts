/**
 * `celeriac events --dump`: every event as one line, as Celery's `celery events --dump`
 * (`celery/events/dumper.py`, "a tcpdump for Celery events"):
 *
 *   -> evdump: starting capture...
 *   py@h [2026-12-07 02:26:31.330103+00:00] started: active=0, clock=1, freq=2.0, loadavg=[7.5, 3.48, 1.34], ...
 *   ts@h [2026-12-07 02:27:15.580620+00:00] task received: ev.add(5f478fc3-...) args=[2, 3] kwargs={} clock=4, eta=None, ...
 *
 * `<hostname> [<UTC time>] <type>: <fields>`; worker-online/heartbeat/offline read `started`,
 * `heartbeat`, `shutdown`, other types lose their dash (`task failed`); the fields are sorted, each
 * `key=str(value)` as Python prints them. A task event names the task as `name(uuid) args=... kwargs=...`
 * from its `task-received` / `task-sent` (the last 4095 remembered).
 */
import { pyFloatRepr, pyNumberRepr, pyRepr } from '../../../protocol/repr.ts';
import type { CeleryEvent } from '../../../protocol/events.ts';
import type { PyValue } from '../../../protocol/values.ts';

/** `HUMAN_TYPES`. */
const HUMAN_TYPES: Readonly<Record<string, string>> = {
  'worker-offline': 'shutdown',
  'worker-online': 'started',
  'worker-heartbeat': 'heartbeat',
};

/** `humanize_type`. */
export function humanizeType(type: string): string {
  const t = type.toLowerCase();
  return HUMAN_TYPES[t] ?? t.replaceAll('-', ' ');
}

/**
 * Fields Python sends as floats: JSON brings `2.0` to JavaScript as `2`, so these print as floats again
 * (the same fields protocol/events.ts writes as floats).
 */
const FLOAT_FIELDS = new Set(['timestamp', 'freq', 'runtime', 'local_received']);

/** Python's `str()` of an event field's value (`f'{key}={value}'`). */
export function fieldStr(key: string, v: PyValue | undefined): string {
  if (v === undefined || v === null) return 'None';
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return FLOAT_FIELDS.has(key) ? pyFloatRepr(v) : pyNumberRepr(v);
  if (key === 'loadavg' && Array.isArray(v)) return `[${v.map((x) => (typeof x === 'number' ? pyFloatRepr(x) : pyRepr(x))).join(', ')}]`;
  return pyRepr(v);
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/**
 * `str(datetime.fromtimestamp(ts, timezone.utc))`: `2026-12-07 02:26:31.330103+00:00`, the fraction
 * rounded half-even to microseconds as CPython does, left out when zero.
 */
export function utcTimestampStr(ts: number): string {
  let secs = Math.trunc(ts);
  const frac = (ts - secs) * 1e6;
  let us = Math.round(frac);
  if (Math.abs(frac - Math.trunc(frac)) === 0.5) us = 2 * Math.round(frac / 2); // half-even
  if (us >= 1e6) {
    us -= 1e6;
    secs += 1;
  } else if (us < 0) {
    us += 1e6;
    secs -= 1;
  }
  const d = new Date(secs * 1000);
  const day = `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
  const time = `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
  return `${day} ${time}${us ? `.${pad(us, 6)}` : ''}+00:00`;
}

/** The sorted `key=value` list of the fields left. */
function fieldsText(fields: Record<string, PyValue>): string {
  return Object.keys(fields).sort().map((k) => `${k}=${fieldStr(k, fields[k])}`).join(', ');
}

/** `celery.events.dumper.Dumper`: formats events into lines. */
export class Dumper {
  /** `TASK_NAMES`: `name(uuid) args=... kwargs=...` by uuid, the last 0xFFF. */
  private readonly taskNames = new Map<string, string>();

  constructor(private readonly say: (line: string) => void) {}

  /** `on_event`: prints the event's line. */
  onEvent(event: CeleryEvent): void {
    this.say(this.format(event));
  }

  /** The line of one event. */
  format(event: CeleryEvent): string {
    const ev: Record<string, PyValue> = { ...event };
    const timestamp = utcTimestampStr(Number(ev.timestamp));
    const type = String(ev.type).toLowerCase();
    const hostname = fieldStr('hostname', ev.hostname);
    delete ev.timestamp;
    delete ev.type;
    delete ev.hostname;
    if (type.startsWith('task-')) {
      const uuid = fieldStr('uuid', ev.uuid);
      delete ev.uuid;
      let task: string;
      if (type === 'task-received' || type === 'task-sent') {
        task = `${fieldStr('name', ev.name)}(${uuid}) args=${fieldStr('args', ev.args)} kwargs=${fieldStr('kwargs', ev.kwargs)}`;
        delete ev.name;
        delete ev.args;
        delete ev.kwargs;
        this.remember(uuid, task);
      } else {
        task = this.recall(uuid) ?? '';
      }
      const fields = fieldsText(ev);
      return `${hostname} [${timestamp}] ${humanizeType(type)}${fields ? ':' : ''} ${task} ${fields}`;
    }
    const fields = fieldsText(ev);
    return `${hostname} [${timestamp}] ${humanizeType(type)}${fields ? ':' : ''} ${fields}`;
  }

  /** `LRUCache.__setitem__`: at the limit the oldest goes; a known uuid keeps its place. */
  private remember(uuid: string, task: string): void {
    if (this.taskNames.size >= 0xfff) this.taskNames.delete(this.taskNames.keys().next().value!);
    this.taskNames.set(uuid, task);
  }

  /** `LRUCache.get`: a hit becomes the newest. */
  private recall(uuid: string): string | undefined {
    const task = this.taskNames.get(uuid);
    if (task !== undefined) {
      this.taskNames.delete(uuid);
      this.taskNames.set(uuid, task);
    }
    return task;
  }
}
