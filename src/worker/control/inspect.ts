/**
 * The inspect commands of `celery/worker/control.py` (`@inspect_command`), answering with the same
 * shapes as a Python worker: `ping`, `clock`, `stats`, `active`, `reserved`, `scheduled`, `revoked`,
 * `registered` (`taskinfoitems`), `query_task`, `active_queues`, `conf`, `report` (and their `dump_*`
 * aliases).
 */
import { arch, platform, release } from 'node:os';
import type { PyDict, PyValue } from '../../../protocol/values.ts';
import { DEFAULT_SETTINGS, SETTING_NAMES, toCamelCase } from '../../config.ts';
import type { Request } from '../request.ts';
import { stats } from './stats.ts';
import { maybeList, ok, type Handler, type PanelState } from './state.ts';

const DEFAULT_TASK_INFO_ITEMS = ['exchange', 'routing_key', 'rate_limit'];

/** `Request.info(safe)`. */
export function requestInfo(req: Request, safe = false): PyDict {
  const c = req.context;
  return {
    id: req.id,
    name: req.name,
    args: safe ? c.argsrepr : c.args,
    kwargs: safe ? c.kwargsrepr : c.kwargs,
    type: req.taskName,
    hostname: c.hostname,
    time_start: req.timeStart === null ? null : req.timeStart / 1000,
    acknowledged: req.acknowledged,
    delivery_info: { ...c.delivery_info } as PyDict,
    worker_pid: req.timeStart === null ? null : process.pid,
  };
}

/** Python's `str()` of a task attribute. */
function pyStr(v: unknown): string {
  if (v === true) return 'True';
  if (v === false) return 'False';
  return String(v);
}

function taskAttribute(state: PanelState, name: string, field: string): unknown {
  const t = state.worker.app.tasks.get(name);
  if (!t) return undefined;
  if (field === 'rate_limit') return state.worker.rateLimitOf(name) ?? undefined;
  const send = t.sendDefaults as Record<string, unknown>;
  const camel = toCamelCase(field);
  const v = send[camel] ?? (t.workerOptions as Record<string, unknown>)[camel];
  return v === null ? undefined : v;
}

function jsonSafe(v: unknown, depth = 0): PyValue {
  if (v === null || v === undefined) return null;
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return v;
  if (typeof v === 'function') return `<function ${(v as { name?: string }).name || 'anonymous'}>`;
  if (depth > 6) return String(v);
  if (Array.isArray(v)) return v.map((x) => jsonSafe(x, depth + 1));
  if (v instanceof Map) return jsonSafe(Object.fromEntries(v), depth);
  if (typeof v === 'object') {
    const out: PyDict = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) out[k] = jsonSafe(x, depth + 1);
    return out;
  }
  return String(v);
}

/** `kombu.Queue.as_dict(recurse=True)` of a queue the worker consumes. */
function queueDict(state: PanelState, name: string): PyDict {
  const q = state.worker.app.router.queue(name);
  const args = q.arguments ?? {};
  return {
    name: q.name,
    exchange: {
      name: q.exchange.name, type: q.exchange.type, arguments: null, durable: q.exchange.durable ?? true,
      passive: false, auto_delete: q.exchange.autoDelete ?? false, delivery_mode: null, no_declare: false,
    },
    routing_key: q.routingKey,
    queue_arguments: Object.keys(args).length ? jsonSafe(args) : null,
    binding_arguments: null,
    consumer_arguments: null,
    durable: q.durable ?? true,
    exclusive: q.exclusive ?? false,
    auto_delete: q.autoDelete ?? false,
    no_ack: false,
    alias: null,
    bindings: [],
    no_declare: null,
    expires: null,
    message_ttl: null,
    max_length: null,
    max_length_bytes: null,
    // Celery puts task_queue_max_priority in queue_arguments (x-max-priority), not in Queue.max_priority
    max_priority: null,
  };
}

function bugreport(state: PanelState): string {
  const c = state.worker.app.conf;
  const scheme = (u: string | null) => (u ? u.split(':')[0] : 'disabled');
  return [
    `software -> celeriac:0.1.0 node:${process.version} ${process.versions.v8 ? `v8:${process.versions.v8}` : ''}`.trim(),
    `            platform -> system:${platform()} arch:${arch()} kernel version:${release()}`,
    `            loader -> celeriac.app`,
    `settings -> transport:${scheme(c.brokerUrl)} results:${scheme(c.resultBackend)}`,
    '',
  ].join('\n');
}

const HIDDEN_SETTINGS = /API|TOKEN|KEY|SECRET|PASS|PROFANITIES_LIST|SIGNATURE|DATABASE/i;

/** `filter_hidden_settings` (`conf.table(censored=True)`): secrets masked, URL passwords hidden. */
function censor(key: string, value: PyValue): PyValue {
  if (HIDDEN_SETTINGS.test(key) && !/_url$|^result_backend$/.test(key)) return '********';
  if (typeof value === 'string' && /:\/\//.test(value)) return value.replace(/(\/\/[^:@/]*:)[^@/]*@/, '$1********@');
  return value;
}

function conf(state: PanelState, withDefaults: boolean): PyDict {
  const c = state.worker.app.conf as unknown as Record<string, unknown>;
  const defaults = DEFAULT_SETTINGS as unknown as Record<string, unknown>;
  const out: PyDict = {};
  for (const snake of SETTING_NAMES) {
    const camel = toCamelCase(snake);
    const v = c[camel];
    if (!withDefaults && JSON.stringify(jsonSafe(v)) === JSON.stringify(jsonSafe(defaults[camel]))) continue;
    out[snake] = censor(snake, jsonSafe(v));
  }
  return out;
}

function truthy(v: PyValue | undefined): boolean {
  if (typeof v === 'string') return ['1', 'true', 'yes', 'on', 'y'].includes(v.toLowerCase());
  return Boolean(v);
}

export const INSPECT: Record<string, Handler> = {
  ping: () => ok('pong'),
  clock: (s) => ({ clock: s.clock.value }),
  stats: (s) => stats(s),
  report: (s) => ok(bugreport(s)),
  conf: (s, a) => conf(s, truthy(a.with_defaults)),
  active: (s, a) => s.worker.requestsSnapshot().active.map((r) => requestInfo(r, truthy(a.safe))),
  reserved: (s) => s.worker.requestsSnapshot().reserved.map((r) => requestInfo(r)),
  scheduled: (s) => s.worker.requestsSnapshot().scheduled.map(({ request, eta }) => ({
    // the timer entry's priority, which Celery's strategy always sets to 6 (call_at(..., priority=6)),
    // not the message's
    eta: eta.toISOString().replace('Z', '+00:00'), priority: 6, request: requestInfo(request),
  })),
  revoked: (s) => [...s.worker.revoked],
  registered: (s, a) => {
    const items = (maybeList(a.taskinfoitems) as string[]).length ? (maybeList(a.taskinfoitems) as string[]) : DEFAULT_TASK_INFO_ITEMS;
    const names = [...s.worker.app.tasks.values()]
      .filter((t) => t.fn && (truthy(a.builtins) || !t.name.startsWith('celery.')))
      .map((t) => t.name)
      .sort();
    return names.map((name) => {
      const fields = items.map((f) => [f, taskAttribute(s, name, f)] as const).filter(([, v]) => v !== undefined && v !== null);
      return fields.length ? `${name} [${fields.map(([f, v]) => `${f}=${pyStr(v)}`).join(' ')}]` : name;
    });
  },
  query_task: (s, a) => {
    const snap = s.worker.requestsSnapshot();
    const out: PyDict = {};
    const ids = new Set(maybeList(a.ids).map(String));
    for (const r of snap.active) if (ids.has(r.id)) out[r.id] = ['active', requestInfo(r)];
    for (const r of snap.reserved) if (ids.has(r.id) && !(r.id in out)) out[r.id] = ['reserved', requestInfo(r)];
    return out;
  },
  active_queues: (s) => s.worker.queues.map((q) => queueDict(s, q)),
};
INSPECT.dump_conf = INSPECT.conf!;
INSPECT.dump_active = INSPECT.active!;
INSPECT.dump_reserved = INSPECT.reserved!;
INSPECT.dump_schedule = INSPECT.scheduled!;
INSPECT.dump_revoked = INSPECT.revoked!;
INSPECT.dump_tasks = INSPECT.registered!;
