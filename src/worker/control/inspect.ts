/**
 * The inspect commands of `celery/worker/control.py` (`@inspect_command`), answering with the same
 * shapes as a Python worker: `ping`, `clock`, `stats`, `active`, `reserved`, `scheduled`, `revoked`,
 * `registered` (`taskinfoitems`), `query_task`, `active_queues`, `conf`, `report` (and their `dump_*`
 * aliases).
 */
import { arch, platform, release, type as osType } from 'node:os';
import { isoformatUTC, type PyDict, type PyValue } from '../../../protocol/values.ts';
import { PyFloat, type FloatValue } from '../../control/float.ts';
import { SW_VER } from '../../events/worker.ts';
import type { Request } from '../request.ts';
import { formatBugreport } from '../../settings-report.ts';
import { confReply, humanizeConf, jsonSafe } from './conf.ts';
import { stats } from './stats.ts';
import { registeredEntry } from './taskinfo.ts';
import { maybeList, ok, requireArgs, type Handler, type PanelState } from './state.ts';

const DEFAULT_TASK_INFO_ITEMS = ['exchange', 'routing_key', 'rate_limit'];

/** `Request.info(safe)`. */
export function requestInfo(req: Request, safe = false): Record<string, FloatValue> {
  const c = req.context;
  return {
    id: req.id,
    name: req.name,
    args: safe ? c.argsrepr : c.args,
    kwargs: safe ? c.kwargsrepr : c.kwargs,
    type: req.taskName,
    hostname: c.hostname,
    time_start: req.timeStart === null ? null : (new PyFloat(req.timeStart / 1000)), // time.time()
    acknowledged: req.acknowledged,
    delivery_info: { ...c.delivery_info } as PyDict,
    worker_pid: req.timeStart === null ? null : process.pid,
  };
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

/** `celery.app.utils.bugreport`: software, platform, loader and transport, then the settings given. */
function bugreport(state: PanelState): string {
  const app = state.worker.app;
  const c = app.conf;
  const transport = (c.brokerUrl.split(';')[0]!.split('://')[0] || 'redis').replace(/^pyamqp$/, 'amqp');
  const driver = transport.startsWith('amqp') ? 'amqplib' : 'ioredis';
  const bits = /64/.test(arch()) ? '64bit' : '32bit';
  const linkage = platform() === 'linux' ? ', ELF' : platform() === 'win32' ? ', WindowsPE' : '';
  return formatBugreport({
    software: [`celeriac:${SW_VER} node:${process.versions.node}`, `v8:${process.versions.v8} ${driver}`],
    system: osType() === 'Windows_NT' ? 'Windows' : osType(),
    arch: `${bits}${linkage}`,
    kernelVersion: release(),
    imp: 'Node.js',
    loader: 'celeriac.app',
    transport,
    resultBackend: c.resultBackend,
    settings: humanizeConf(app),
  });
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
  conf: (s, a) => confReply(s.worker.app, truthy(a.with_defaults)),
  active: (s, a) => s.worker.requestsSnapshot().active.map((r) => requestInfo(r, truthy(a.safe))),
  reserved: (s) => s.worker.requestsSnapshot().reserved.map((r) => requestInfo(r)),
  scheduled: (s) => s.worker.requestsSnapshot().scheduled.map(({ request, eta }) => ({
    // the timer entry's priority, which Celery's strategy always sets to 6 (call_at(..., priority=6)),
    // not the message's
    // Python's isoformat: no fraction when it is zero
    eta: isoformatUTC(eta), priority: 6, request: requestInfo(request),
  })),
  revoked: (s) => [...s.worker.revoked],
  registered: (s, a) => {
    const asked = maybeList(a.taskinfoitems).map(String);
    const items = asked.length ? asked : DEFAULT_TASK_INFO_ITEMS;
    const tasks = [...s.worker.app.tasks.values()]
      .filter((t) => t.fn && (truthy(a.builtins) || !t.name.startsWith('celery.')))
      .sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0));
    return tasks.map((t) => registeredEntry(t, items, s.worker.app.conf, s.attributes));
  },
  query_task: (s, a) => {
    requireArgs('query_task', a, ['ids']);
    const snap = s.worker.requestsSnapshot();
    const out: Record<string, FloatValue> = {};
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
