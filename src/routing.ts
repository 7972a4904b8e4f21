/**
 * Celery's task router (`celery/app/routes.py`) and the addressing part of `send_task_message`
 * (`celery/app/amqp.py`): which queue a task goes to, and the exchange / routing key it is published with.
 *
 * - `task_routes`: a map `{task name or glob: route}` (globs as `fnmatch`, only when the key has `*`),
 *   a `Map` whose keys may also be `RegExp`s, a list of `[pattern, route]` pairs, a function
 *   `(name, args, kwargs, options, task) => route | null`, or a list of any of these (first match wins).
 *   A route is a queue name or `{queue, exchange, routing_key, priority, ...}`.
 * - Queues come from `task_queues`; unknown names are created as
 *   `Queue(name, Exchange(name, 'direct'), routing_key=name)` when `task_create_missing_queues` is set.
 * - The publish target follows Celery: for a direct exchange, unless both `exchange` and `routing_key`
 *   were given, the task is sent to the default exchange `""` with routing key = queue name; otherwise to
 *   the exchange with `routing_key or queue.routing_key or task_default_routing_key`.
 */
import { isPlainObject, type PyDict, type PyValue } from '../protocol/values.ts';
import type { ExchangeDeclaration, ExchangeType, PublishTarget, QueueDeclaration } from './broker.ts';
import { checkDeliveryMode, checkExchangeType, type Settings } from './config.ts';
import { ConfigurationError, QueueNotFoundError } from './errors.ts';

/** An exchange as written in settings: kombu's `Exchange(name, type, durable, auto_delete, delivery_mode)`. */
export interface ExchangeSpec {
  name: string;
  type?: ExchangeType;
  durable?: boolean;
  auto_delete?: boolean;
  autoDelete?: boolean;
  delivery_mode?: number | 'persistent' | 'transient';
  deliveryMode?: number | 'persistent' | 'transient';
}

/** A queue as written in settings: kombu's `Queue(...)` / `Queue.from_dict(...)` keywords, snake or camel. */
export interface QueueSpec {
  name: string;
  /** An exchange name (type from `exchange_type`) or a full spec. Default: `task_default_exchange`. */
  exchange?: string | ExchangeSpec;
  exchange_type?: ExchangeType;
  exchangeType?: ExchangeType;
  /** Default: `task_default_routing_key`. `binding_key` is the old name. */
  routing_key?: string;
  routingKey?: string;
  binding_key?: string;
  durable?: boolean;
  auto_delete?: boolean;
  autoDelete?: boolean;
  exclusive?: boolean;
  /** `x-max-priority`, `x-queue-type`, ... */
  queue_arguments?: Record<string, unknown>;
  queueArguments?: Record<string, unknown>;
  /** Shorthand for `queue_arguments['x-max-priority']`. */
  max_priority?: number;
  maxPriority?: number;
}

/** `task_queues`: a list of names / specs, or Celery's old dict form `{name: {exchange, routing_key, ...}}`. */
export type QueuesSetting = ReadonlyArray<string | QueueSpec> | Readonly<Record<string, Omit<QueueSpec, 'name'>>>;

/** What a route sets; any other key (priority, serializer, ...) is passed on as a send option. */
export interface Route {
  queue?: string | QueueSpec;
  exchange?: string | ExchangeSpec;
  exchange_type?: ExchangeType;
  routing_key?: string;
  priority?: number;
  delivery_mode?: number | 'persistent' | 'transient';
  serializer?: string;
  compression?: string;
  [option: string]: unknown;
}

/** A route: a queue name or a {@link Route}. */
export type RouteValue = string | Route;

/** Celery's router function signature; `task` is the task handle when sent through one. */
export type RouterFunction = (
  name: string,
  args: readonly PyValue[],
  kwargs: PyDict,
  options: Readonly<Record<string, unknown>>,
  task: unknown,
) => RouteValue | null | undefined;

/** A map router (Celery's `MapRoute`). */
export type RouteMap =
  | Readonly<Record<string, RouteValue>>
  | ReadonlyMap<string | RegExp, RouteValue>
  | ReadonlyArray<readonly [string | RegExp, RouteValue]>;

/** `task_routes`. */
export type RoutesSetting = RouteMap | RouterFunction | ReadonlyArray<RouteMap | RouterFunction>;

/** A queue with what the publisher needs beyond the declaration. */
export interface RoutedQueue extends QueueDeclaration {
  /** `Exchange(delivery_mode=...)`, when set. */
  exchangeDeliveryMode?: number;
}

/** The outcome of routing one task. */
export interface RouteResult {
  /** The queue the task is addressed to (null when only an exchange was given and no queue applies). */
  queue: RoutedQueue | null;
  /** Exchange, routing key, queues to declare, exchange type. */
  target: PublishTarget;
  /** 2 persistent / 1 transient: option, else the queue's exchange, else `task_default_delivery_mode`. */
  deliveryMode: number;
  /**
   * The send options after merging the route (route values, overridden by the caller's non-null
   * options), without the addressing keys: e.g. `priority`, `serializer`, `compression` set by a route.
   */
  options: Record<string, unknown>;
}

/** The routing options of one send (`apply_async(queue=..., exchange=..., routing_key=...)`). */
export interface RouteOptions {
  queue?: string | QueueSpec | null;
  exchange?: string | ExchangeSpec | null;
  routing_key?: string | null;
  exchange_type?: ExchangeType | null;
  delivery_mode?: number | 'persistent' | 'transient' | null;
  [option: string]: unknown;
}

/**
 * The addressing of a task when routing cannot depend on anything but the task name and the send
 * options that address it (no router functions): see {@link Router.staticRoute}.
 */
export interface StaticRoute {
  readonly queue: RoutedQueue | null;
  /** Frozen: shared by every send with the same name and addressing options. */
  readonly target: Readonly<PublishTarget>;
  readonly deliveryMode: number;
  /** The options the matching route sets besides the addressing ones (e.g. `priority`), as written. Frozen. */
  readonly extras: Readonly<Record<string, unknown>>;
}

export interface Router {
  /** Route a task: Celery's `Router.route` followed by the addressing of `send_task_message`. */
  route(name: string, options?: RouteOptions, args?: readonly PyValue[], kwargs?: PyDict, task?: unknown): RouteResult;
  /**
   * What {@link Router.route} gives for `name` when the send options are only these addressing ones
   * (each a name/number or undefined), remembered per combination; `options` of that result is
   * `extras`. Null when routing may depend on more (router functions in `task_routes`, or a queue /
   * exchange given as a spec object): use `route` then.
   */
  staticRoute?(name: string, queue: unknown, exchange: unknown, routingKey: unknown, exchangeType: unknown, deliveryMode: unknown): StaticRoute | null;
  /** A queue by name (created when missing and allowed), as Celery's `app.amqp.queues[name]`. */
  queue(name: string): RoutedQueue;
  /** Every known queue (configured, default, and created so far). */
  queues(): RoutedQueue[];
}

export type RoutingSettings = Pick<
  Settings,
  | 'taskDefaultQueue' | 'taskDefaultExchange' | 'taskDefaultExchangeType' | 'taskDefaultRoutingKey'
  | 'taskDefaultDeliveryMode' | 'taskQueues' | 'taskRoutes' | 'taskCreateMissingQueues' | 'taskQueueMaxPriority'
> & Partial<Pick<Settings, 'taskDefaultQueueType' | 'taskCreateMissingQueueType'>>;

// ---------------------------------------------------------------------------------------------
// queues

function pick<T>(obj: Record<string, unknown>, ...keys: string[]): T | undefined {
  for (const k of keys) if (obj[k] !== undefined) return obj[k] as T;
  return undefined;
}

interface Defaults {
  exchange: ExchangeDeclaration & { deliveryMode?: number };
  routingKey: string;
  maxPriority: number | null;
}

function toExchange(value: unknown, type: unknown, where: string): (ExchangeDeclaration & { deliveryMode?: number }) | null {
  if (value === undefined || value === null) return null;
  if (typeof value === 'string') return { name: value, type: type === undefined || type === null ? 'direct' : checkExchangeType(`${where}.exchange_type`, type) };
  if (!isPlainObject(value)) throw new ConfigurationError(`${where}.exchange must be a name or {name, type, ...}, got ${JSON.stringify(value)}`);
  const spec = value as Record<string, unknown>;
  if (typeof spec.name !== 'string') throw new ConfigurationError(`${where}.exchange.name must be a string`);
  const t = spec.type ?? type;
  const ex: ExchangeDeclaration & { deliveryMode?: number } = {
    name: spec.name,
    type: t === undefined || t === null ? 'direct' : checkExchangeType(`${where}.exchange.type`, t),
  };
  const durable = spec.durable;
  if (typeof durable === 'boolean') ex.durable = durable;
  const autoDelete = pick<boolean>(spec, 'auto_delete', 'autoDelete');
  if (typeof autoDelete === 'boolean') ex.autoDelete = autoDelete;
  const dm = pick<unknown>(spec, 'delivery_mode', 'deliveryMode');
  if (dm !== undefined && dm !== null) ex.deliveryMode = checkDeliveryMode(`${where}.exchange.delivery_mode`, dm);
  return ex;
}

/** A queue spec to a declaration, with Celery's `Queues._add` defaults. */
function toQueue(spec: string | QueueSpec, defaults: Defaults, where: string): RoutedQueue {
  if (typeof spec === 'string') spec = { name: spec };
  if (!isPlainObject(spec) || typeof spec.name !== 'string' || spec.name === '') {
    throw new ConfigurationError(`${where} must be a queue name or {name, exchange, routing_key, ...}, got ${JSON.stringify(spec)}`);
  }
  const s = spec as unknown as Record<string, unknown>;
  let exchange = toExchange(s.exchange, pick(s, 'exchange_type', 'exchangeType'), where);
  if (!exchange || exchange.name === '') exchange = { ...defaults.exchange };
  const rk = pick<string>(s, 'routing_key', 'routingKey', 'binding_key');
  const q: RoutedQueue = { name: spec.name, exchange, routingKey: rk || defaults.routingKey };
  for (const [field, keys] of [['durable', ['durable']], ['autoDelete', ['auto_delete', 'autoDelete']], ['exclusive', ['exclusive']]] as const) {
    const v = pick<unknown>(s, ...keys);
    if (typeof v === 'boolean') q[field] = v;
  }
  const args = pick<Record<string, unknown>>(s, 'queue_arguments', 'queueArguments');
  const arguments_: Record<string, unknown> = args ? { ...args } : {};
  const maxPriority = pick<number>(s, 'max_priority', 'maxPriority');
  if (maxPriority !== undefined) arguments_['x-max-priority'] = maxPriority;
  if (defaults.maxPriority !== null && arguments_['x-max-priority'] === undefined) arguments_['x-max-priority'] = defaults.maxPriority;
  if (Object.keys(arguments_).length > 0) q.arguments = arguments_;
  if (typeof arguments_['x-max-priority'] === 'number') q.maxPriority = arguments_['x-max-priority'];
  if (exchange.deliveryMode !== undefined) q.exchangeDeliveryMode = exchange.deliveryMode;
  return q;
}

// ---------------------------------------------------------------------------------------------
// map routes

/**
 * Python's `fnmatch.translate` (`*`, `?`, `[seq]`, `[!seq]`, a `]` first in a set is literal), anchored
 * over the whole name: task routes (`MapRoute`) and remote control's node patterns (kombu's `glob`).
 */
export function globToRegExp(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') re += '.*';
    else if (c === '?') re += '.';
    else if (c === '[') {
      let j = i + 1;
      if (pattern[j] === '!') j++;
      if (pattern[j] === ']') j++;
      while (j < pattern.length && pattern[j] !== ']') j++;
      if (j >= pattern.length) re += '\\[';
      else {
        // a `]` first in the set is literal (Python's re reads `[]]` so; JavaScript needs it escaped)
        let body = pattern.slice(i + 1, j).replace(/[\\\][]/g, '\\$&');
        if (body.startsWith('!')) body = '^' + body.slice(1);
        else if (body.startsWith('^')) body = '\\' + body;
        re += `[${body}]`;
        i = j;
      }
    } else re += c.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
  }
  return new RegExp(`^(?:${re})$`, 's');
}

type Matcher = (name: string) => RouteValue | undefined;

/** Celery's `MapRoute`: exact names first, then patterns in order. */
function mapRoute(map: RouteMap): Matcher {
  const exact = new Map<string, RouteValue>();
  const patterns: [RegExp, RouteValue][] = [];
  const entries: Iterable<readonly [string | RegExp, RouteValue]> =
    map instanceof Map ? map.entries() : Array.isArray(map) ? (map as ReadonlyArray<readonly [string | RegExp, RouteValue]>) : Object.entries(map);
  for (const [key, value] of entries) {
    if (key instanceof RegExp) patterns.push([key, value]);
    else if (typeof key === 'string' && key.includes('*')) patterns.push([globToRegExp(key), value]);
    else if (typeof key === 'string') exact.set(key, value);
    else throw new ConfigurationError(`task_routes keys must be task names, globs or RegExps, got ${String(key)}`);
  }
  return (name) => {
    const hit = exact.get(name);
    if (hit !== undefined) return hit;
    for (const [re, value] of patterns) {
      re.lastIndex = 0;
      const m = re.exec(name);
      // Python's re.match anchors at the start only
      if (m && m.index === 0) return value;
    }
    return undefined;
  };
}

function isPair(x: unknown): x is readonly [string | RegExp, RouteValue] {
  return Array.isArray(x) && x.length === 2 && (typeof x[0] === 'string' || x[0] instanceof RegExp);
}

type PreparedRouter = (name: string, args: readonly PyValue[], kwargs: PyDict, options: Record<string, unknown>, task: unknown) => RouteValue | null | undefined;

/** Prepared routers that look at the task name only (map routes), so their answers can be remembered. */
const NAME_ONLY_ROUTERS = new WeakSet<PreparedRouter>();

/** Celery's `routes.prepare`: the setting as a list of routers. */
export function prepareRoutes(routes: RoutesSetting | null | undefined): PreparedRouter[] {
  if (routes === null || routes === undefined) return [];
  // a top-level list of [pattern, route] pairs is one map router (Python would need it wrapped)
  const list: unknown[] = Array.isArray(routes) && !(routes.length > 0 && routes.every(isPair)) ? [...routes] : [routes];
  return list.map((r, i): PreparedRouter => {
    if (typeof r === 'function') return r as RouterFunction;
    if (typeof r === 'string') throw new ConfigurationError(`task_routes[${i}]: a router given by import path (${JSON.stringify(r)}) is Python-only; pass a function or a map`);
    if (r instanceof Map || Array.isArray(r) || isPlainObject(r)) {
      const m = mapRoute(r as RouteMap);
      const router: PreparedRouter = (name) => m(name);
      NAME_ONLY_ROUTERS.add(router);
      return router;
    }
    throw new ConfigurationError(`task_routes[${i}] must be a map, a list of [pattern, route] pairs or a function, got ${String(r)}`);
  });
}

function asRoute(value: RouteValue, where: string): Record<string, unknown> {
  if (typeof value === 'string') return { queue: value };
  if (isPlainObject(value)) return { ...(value as Record<string, unknown>) };
  throw new ConfigurationError(`${where}: a route must be a queue name or an object, got ${JSON.stringify(value)}`);
}

/** Celery's `lpmerge(L, R)`: R's keys whose value is not null/undefined override L's. */
function lpmerge(left: Record<string, unknown>, right: Record<string, unknown>): Record<string, unknown> {
  const out = { ...left };
  for (const [k, v] of Object.entries(right)) if (v !== null && v !== undefined) out[k] = v;
  return out;
}

// ---------------------------------------------------------------------------------------------
// the router

/** Build the router for a set of settings (queues from `task_queues`, routes from `task_routes`). */
export function createRouter(settings: RoutingSettings): Router {
  const defaults: Defaults = {
    exchange: { name: settings.taskDefaultExchange, type: settings.taskDefaultExchangeType },
    routingKey: settings.taskDefaultRoutingKey,
    maxPriority: settings.taskQueueMaxPriority,
  };
  const known = new Map<string, RoutedQueue>();
  const configured = settings.taskQueues;
  if (configured === null || (Array.isArray(configured) ? configured.length === 0 : Object.keys(configured).length === 0)) {
    // Celery's `Queues`: the default queue is a quorum queue with task_default_queue_type='quorum'
    const spec: QueueSpec = { name: settings.taskDefaultQueue };
    if (settings.taskDefaultQueueType === 'quorum') spec.queue_arguments = { 'x-queue-type': 'quorum' };
    known.set(settings.taskDefaultQueue, toQueue(spec, defaults, 'task_default_queue'));
  } else if (Array.isArray(configured)) {
    configured.forEach((spec, i) => {
      const q = toQueue(spec as string | QueueSpec, defaults, `task_queues[${i}]`);
      known.set(q.name, q);
    });
  } else {
    for (const [name, spec] of Object.entries(configured as Record<string, Omit<QueueSpec, 'name'>>)) {
      if (!isPlainObject(spec)) throw new ConfigurationError(`task_queues.${name} must be an object, got ${JSON.stringify(spec)}`);
      known.set(name, toQueue({ ...spec, name }, defaults, `task_queues.${name}`));
    }
  }
  const routers = prepareRoutes(settings.taskRoutes);

  function queue(name: string): RoutedQueue {
    const hit = known.get(name);
    if (hit) return hit;
    if (!settings.taskCreateMissingQueues) throw new QueueNotFoundError(name);
    // Queues.new_missing: Queue(name, Exchange(name, 'direct'), routing_key=name)
    const spec: QueueSpec = { name, exchange: { name, type: 'direct' }, routing_key: name };
    if (settings.taskCreateMissingQueueType === 'quorum') spec.queue_arguments = { 'x-queue-type': 'quorum' };
    const q = toQueue(spec, defaults, 'queue');
    known.set(name, q);
    return q;
  }

  /** `Router.expand_destination`: replace `queue` (a name or spec) with the queue itself. */
  function expand(route: Record<string, unknown>): Record<string, unknown> {
    const q = route.queue;
    delete route.queue;
    if (q === undefined || q === null || q === '') return route;
    if (typeof q === 'string') route.queue = queue(q);
    else if (isPlainObject(q)) route.queue = toQueue(q as unknown as QueueSpec, defaults, 'queue');
    else throw new ConfigurationError(`queue must be a queue name or {name, exchange, routing_key}, got ${JSON.stringify(q)}`);
    return route;
  }

  function route(name: string, options: RouteOptions = {}, args: readonly PyValue[] = [], kwargs: PyDict = {}, task?: unknown): RouteResult {
    let opts = expand({ ...options });
    let merged: Record<string, unknown> | null = null;
    for (const router of routers) {
      const r = router(name, args, kwargs, opts, task);
      if (r !== null && r !== undefined) {
        merged = lpmerge(expand(asRoute(r, `route for ${name}`)), opts);
        break;
      }
    }
    if (!merged) merged = 'queue' in opts ? opts : lpmerge(expand({ queue: settings.taskDefaultQueue }), opts);
    opts = merged;

    const { queue: q0, exchange: ex0, routing_key: rk0, exchange_type: et0, delivery_mode: dm0, ...rest } = opts;
    let q = (q0 as RoutedQueue | undefined) ?? null;
    if (q === null && (ex0 === undefined || ex0 === null)) q = queue(settings.taskDefaultQueue);
    const qname = q?.name ?? null;

    let exchangeType: ExchangeType;
    let exchange: string | null;
    let exchangeSpec: ExchangeDeclaration | null = null;
    if (ex0 !== undefined && ex0 !== null) {
      exchangeSpec = toExchange(ex0, et0 ?? q?.exchange.type, 'exchange');
      exchange = exchangeSpec!.name;
    } else exchange = null;
    if (et0 !== undefined && et0 !== null) exchangeType = checkExchangeType('exchange_type', et0);
    else exchangeType = q ? q.exchange.type : 'direct';
    let routingKey = typeof rk0 === 'string' ? rk0 : null;

    // send_task_message: "convert to anon-exchange, when exchange not set and direct ex."
    if ((!exchange || !routingKey) && exchangeType === 'direct') {
      if (qname === null) throw new ConfigurationError(`task ${name}: a direct exchange needs a routing_key or a queue`);
      exchange = '';
      routingKey = qname;
    } else if (exchange === null) {
      exchange = q!.exchange.name || settings.taskDefaultExchange;
      routingKey = routingKey || q!.routingKey || settings.taskDefaultRoutingKey;
    }

    let deliveryMode: number;
    if (dm0 !== undefined && dm0 !== null) deliveryMode = checkDeliveryMode('delivery_mode', dm0);
    else deliveryMode = q?.exchangeDeliveryMode ?? settings.taskDefaultDeliveryMode;

    const target: PublishTarget = { exchange, routingKey: routingKey ?? '' };
    if (q) target.declare = [q];
    if (exchange !== '') {
      target.exchangeType = exchangeSpec && exchangeSpec.name === exchange ? exchangeSpec.type : exchange === q?.exchange.name ? q.exchange.type : exchangeType;
    }
    return { queue: q, target, deliveryMode, options: rest };
  }

  // Map routes depend on the task name only: then a route is a function of (name, addressing options)
  const cacheable = routers.every((r) => NAME_ONLY_ROUTERS.has(r));
  const staticRoutes = new Map<string, StaticRoute>();
  const isKeyPart = (v: unknown): boolean =>
    v === undefined || (typeof v === 'string' && !v.includes('\0')) || (typeof v === 'number' && Number.isFinite(v));

  // the previous answer: sends in a loop usually repeat it
  let last: { name: string; q: unknown; ex: unknown; rk: unknown; et: unknown; dm: unknown; hit: StaticRoute } | null = null;

  function staticRoute(name: string, q: unknown, ex: unknown, rk: unknown, et: unknown, dm: unknown): StaticRoute | null {
    if (last !== null && last.name === name && last.q === q && last.ex === ex && last.rk === rk && last.et === et && last.dm === dm) return last.hit;
    const hit = lookupStaticRoute(name, q, ex, rk, et, dm);
    if (hit !== null) last = { name, q, ex, rk, et, dm, hit };
    return hit;
  }

  function lookupStaticRoute(name: string, q: unknown, ex: unknown, rk: unknown, et: unknown, dm: unknown): StaticRoute | null {
    if (!cacheable || !isKeyPart(q) || !isKeyPart(ex) || !isKeyPart(rk) || !isKeyPart(et) || !isKeyPart(dm) || name.includes('\0')) return null;
    // undefined, strings and numbers stay distinct: 'u', 's<text>', 'n<number>'
    const part = (v: unknown) => (v === undefined ? 'u' : typeof v === 'string' ? `s${v}` : `n${v as number}`);
    const key = `${name}\0${part(q)}\0${part(ex)}\0${part(rk)}\0${part(et)}\0${part(dm)}`;
    let hit = staticRoutes.get(key);
    if (hit === undefined) {
      const options: RouteOptions = {};
      if (q !== undefined) options.queue = q as string;
      if (ex !== undefined) options.exchange = ex as string;
      if (rk !== undefined) options.routing_key = rk as string;
      if (et !== undefined) options.exchange_type = et as ExchangeType;
      if (dm !== undefined) options.delivery_mode = dm as number;
      const r = route(name, options);
      if (r.target.declare) Object.freeze(r.target.declare);
      hit = Object.freeze({ queue: r.queue, target: Object.freeze(r.target), deliveryMode: r.deliveryMode, extras: Object.freeze(r.options) });
      // bounded: names and queue names normally come from code, but need not
      if (staticRoutes.size >= 4096) staticRoutes.clear();
      staticRoutes.set(key, hit);
    }
    return hit;
  }

  return { route, staticRoute, queue, queues: () => [...known.values()] };
}

/**
 * `target` with {@link PublishTarget.countdown} set when the task has an eta or countdown (Celery's
 * `send_task`: an eta wins, `countdown = eta - now`); the same object otherwise. Transports that do not
 * delay natively ignore it.
 */
export function withCountdown(target: PublishTarget, countdown: number | undefined, eta: Date | string | undefined, now: Date = new Date()): PublishTarget {
  let seconds: number | undefined;
  if (eta !== undefined && eta !== null) {
    const ms = eta instanceof Date ? eta.getTime() : Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(eta) ? eta : `${eta}Z`);
    if (Number.isFinite(ms)) seconds = (ms - now.getTime()) / 1000;
  } else if (typeof countdown === 'number' && Number.isFinite(countdown)) seconds = countdown;
  return seconds === undefined || seconds === 0 ? target : { ...target, countdown: seconds };
}
