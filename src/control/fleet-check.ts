/**
 * `celeriac fleet check`, the logic: what no Celery tool checks before a queue moves from Python to
 * TypeScript workers (or back). From the fleet's own answers (`inspect registered`, `inspect
 * active_queues`, `inspect conf`) and the app's routes, it finds:
 *
 * - `unknown-task`: a queue whose consumers do not all know a task that may arrive there — one a
 *   consumer of the queue registers (unless the app routes it to another queue by name), or one the
 *   app routes there. A message of that task taken by the consumer that lacks it fails
 *   (`Received unregistered task`, the task is lost or retried elsewhere).
 * - `unconsumed-route`: a task the app routes to a queue no worker consumes (its messages wait forever).
 * - `setting-mismatch`: consumers of one queue that differ in a setting the protocol depends on:
 *   `accept_content` (compared as content types), `result_backend`, `task_serializer`,
 *   `result_serializer`.
 * - `not-accepted`: a consumer of a queue the app routes tasks to that does not accept the app's
 *   `task_serializer`.
 * - `no-reply`: a node that answered some of the three questions but not all (the check is incomplete).
 *
 * Pure: it takes the replies and a view of the app, so it can be tested without a broker.
 */
import { prepareAcceptContent } from '../../protocol/serialization/index.ts';
import { isPlainObject, type PyValue } from '../../protocol/values.ts';

/** The three inspect replies, by node (Inspect's results; null when nobody replied). */
export interface FleetReplies {
  registered: Record<string, PyValue> | null;
  activeQueues: Record<string, PyValue> | null;
  conf: Record<string, PyValue> | null;
}

/** Where the app sends a task: the queue, and whether a route (or the task's own queue option) says so. */
export interface AppRoute {
  queue: string | null;
  /** A route in `task_routes` (or the task's `queue` option) matched the name; else the default queue. */
  explicit: boolean;
}

/** What the check needs of the app given with -A. */
export interface AppView {
  /** Tasks declared on the app (sent by it, run by its TypeScript workers). */
  tasks: readonly string[];
  /** Exact task names written in `task_routes` (routes to check even when no worker registers them). */
  routeNames: readonly string[];
  route(name: string): AppRoute;
  /** `task_serializer` of the app. */
  taskSerializer: string;
}

export type FindingKind = 'unknown-task' | 'unconsumed-route' | 'setting-mismatch' | 'not-accepted' | 'no-reply';

export interface Finding {
  kind: FindingKind;
  /** One line for people. */
  message: string;
  queue?: string;
  task?: string;
  setting?: string;
  /** unknown-task: consumers that register the task / that do not. */
  knownBy?: string[];
  unknownTo?: string[];
  /** setting-mismatch: node → value. */
  values?: Record<string, PyValue>;
  node?: string;
}

export interface FleetReport {
  ok: boolean;
  nodes: string[];
  /** Queue → the nodes consuming it. */
  queues: Record<string, string[]>;
  /** Node → its registered task names. */
  tasks: Record<string, string[]>;
  findings: Finding[];
}

/** The settings compared between consumers of a queue, with Celery's defaults (used when a reply leaves one out). */
export const PROTOCOL_SETTINGS: Readonly<Record<string, PyValue>> = Object.freeze({
  accept_content: ['json'],
  result_backend: null,
  task_serializer: 'json',
  result_serializer: 'json',
});

/** `name [attr=value ...]` → `name`. */
function taskName(entry: PyValue): string | null {
  if (typeof entry !== 'string') return null;
  const i = entry.indexOf(' [');
  return i >= 0 ? entry.slice(0, i) : entry;
}

function queueNames(reply: PyValue): string[] {
  if (!Array.isArray(reply)) return [];
  return reply.flatMap((q) => (isPlainObject(q) && typeof q.name === 'string' ? [q.name] : typeof q === 'string' ? [q] : []));
}

/** A setting's value as compared: accept_content as sorted content types, the rest as given. */
function comparable(setting: string, value: PyValue): string {
  if (setting === 'accept_content' && Array.isArray(value)) {
    try {
      return JSON.stringify([...prepareAcceptContent(value.map(String))].sort());
    } catch {
      return JSON.stringify([...value.map(String)].sort());
    }
  }
  return JSON.stringify(value);
}

function settingOf(conf: PyValue | undefined, setting: string): PyValue {
  if (isPlainObject(conf) && Object.hasOwn(conf, setting)) {
    const v = (conf as Record<string, PyValue>)[setting];
    // `result_accept_content`-style None means the default
    if (v !== null && v !== undefined) return v;
    if (setting === 'result_backend') return null;
  }
  return PROTOCOL_SETTINGS[setting]!;
}

function accepts(conf: PyValue | undefined, serializer: string): boolean {
  const accept = settingOf(conf, 'accept_content');
  if (!Array.isArray(accept)) return true;
  try {
    const types = prepareAcceptContent(accept.map(String));
    const wanted = prepareAcceptContent([serializer]);
    return [...wanted].every((t) => types.has(t));
  } catch {
    return accept.map(String).includes(serializer);
  }
}

const sorted = (xs: Iterable<string>): string[] => [...xs].sort();

/** Runs every check; `app` adds the routes and the app's tasks (without it only the fleet is compared). */
export function checkFleet(replies: FleetReplies, app: AppView | null = null): FleetReport {
  const registered = replies.registered ?? {};
  const active = replies.activeQueues ?? {};
  const conf = replies.conf ?? {};
  const nodes = sorted(new Set([...Object.keys(registered), ...Object.keys(active), ...Object.keys(conf)]));
  const findings: Finding[] = [];

  for (const node of nodes) {
    const missing = [['registered', registered], ['active_queues', active], ['conf', conf]].filter(([, r]) => !Object.hasOwn(r as object, node)).map(([n]) => n as string);
    if (missing.length) findings.push({ kind: 'no-reply', node, message: `${node} did not answer inspect ${missing.join(', ')} (its part of the check is incomplete; try a longer --timeout)` });
  }

  const tasks: Record<string, string[]> = {};
  for (const node of nodes) {
    const list = registered[node];
    tasks[node] = sorted(new Set(Array.isArray(list) ? list.flatMap((e) => taskName(e) ?? []) : []));
  }
  const queues: Record<string, string[]> = {};
  for (const node of nodes) for (const q of queueNames(active[node] ?? null)) (queues[q] ??= []).push(node);
  for (const q of Object.keys(queues)) queues[q] = sorted(new Set(queues[q]));

  // where the app sends each task it knows of
  const names = new Set<string>([...Object.values(tasks).flat(), ...(app?.tasks ?? []), ...(app?.routeNames ?? [])]);
  const routedTo = new Map<string, string>(); // task -> queue, for routed tasks
  const explicitElsewhere = new Map<string, string>();
  if (app) {
    const own = new Set(app.tasks);
    const inRoutes = new Set(app.routeNames);
    for (const name of sorted(names)) {
      if (name.startsWith('celery.')) continue;
      const r = app.route(name);
      if (!r.queue) continue;
      if (r.explicit) explicitElsewhere.set(name, r.queue);
      if (r.explicit || own.has(name) || inRoutes.has(name)) routedTo.set(name, r.queue);
    }
    for (const [name, queue] of routedTo) {
      if (!queues[queue]) {
        findings.push({ kind: 'unconsumed-route', task: name, queue, message: `task ${name} is routed to queue ${queue}, which no worker consumes` });
      }
    }
  }

  for (const queue of sorted(Object.keys(queues))) {
    const consumers = queues[queue]!;
    // tasks that may arrive on this queue
    const expected = new Set<string>();
    for (const node of consumers) for (const t of tasks[node] ?? []) {
      const elsewhere = explicitElsewhere.get(t);
      if (elsewhere === undefined || elsewhere === queue) expected.add(t);
    }
    for (const [t, q] of routedTo) if (q === queue) expected.add(t);
    for (const task of sorted(expected)) {
      const knownBy = consumers.filter((n) => tasks[n]?.includes(task));
      const unknownTo = consumers.filter((n) => !tasks[n]?.includes(task) && Object.hasOwn(registered, n));
      if (unknownTo.length) {
        const source = knownBy.length ? `registered by ${knownBy.join(', ')}` : `routed here by the app`;
        findings.push({
          kind: 'unknown-task', queue, task, knownBy, unknownTo,
          message: `queue ${queue}: task ${task} (${source}) is unknown to ${unknownTo.join(', ')}, which consume${unknownTo.length === 1 ? 's' : ''} the queue too`,
        });
      }
    }
    const answered = consumers.filter((n) => Object.hasOwn(conf, n));
    if (answered.length > 1) {
      for (const setting of Object.keys(PROTOCOL_SETTINGS)) {
        const values: Record<string, PyValue> = {};
        for (const n of answered) values[n] = settingOf(conf[n], setting);
        const distinct = new Set(answered.map((n) => comparable(setting, values[n]!)));
        if (distinct.size > 1) {
          const shown = answered.map((n) => `${n}=${JSON.stringify(values[n])}`).join(', ');
          findings.push({ kind: 'setting-mismatch', queue, setting, values, message: `queue ${queue}: ${setting} differs between its consumers: ${shown}` });
        }
      }
    }
    if (app && [...routedTo.values()].includes(queue)) {
      for (const n of answered) {
        if (!accepts(conf[n], app.taskSerializer)) {
          findings.push({
            kind: 'not-accepted', queue, node: n, setting: 'accept_content', values: { [n]: settingOf(conf[n], 'accept_content') },
            message: `queue ${queue}: ${n} does not accept ${app.taskSerializer} (accept_content ${JSON.stringify(settingOf(conf[n], 'accept_content'))}), the app's task_serializer`,
          });
        }
      }
    }
  }

  return { ok: findings.length === 0, nodes, queues, tasks, findings };
}

/** The report as text: one line per finding, then a summary line. */
export function formatReport(report: FleetReport): string {
  const lines = report.findings.map((f) => `- ${f.message}`);
  const nq = Object.keys(report.queues).length;
  const summary = `${report.nodes.length} ${report.nodes.length === 1 ? 'node' : 'nodes'}, ${nq} ${nq === 1 ? 'queue' : 'queues'}`;
  if (report.ok) return `OK: no problem found (${summary}).\n`;
  const n = report.findings.length;
  return `${lines.join('\n')}\n\n${n} ${n === 1 ? 'problem' : 'problems'} found (${summary}).\n`;
}
