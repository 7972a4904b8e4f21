/**
 * The control commands of `celery/worker/control.py` (`@control_command`): `revoke`, `terminate`,
 * `revoke_by_stamped_headers`, `rate_limit`, `time_limit`, `add_consumer`, `cancel_consumer`,
 * `pool_grow`, `pool_shrink`, `pool_restart`, `autoscale`, `shutdown`, `enable_events`,
 * `disable_events`, `heartbeat`, `election`, and mingle's `hello`. Replies are Celery's texts.
 *
 * `terminate` of an ACTIVE task: the threads pool stops the thread running it and the worker records
 * REVOKED (`TaskRevokedError('terminated')`), as Celery's `Request.terminate`. On the async pool JavaScript
 * cannot kill a running task: it answers as Celery's pools without `terminate_job` do (a
 * `NotImplementedError` reply); the id stays revoked and the task's result is whatever it returns.
 * Terminating a task that has not started just discards it (as in Celery).
 */
import type { PyDict, PyValue } from '../../../protocol/values.ts';
import { constants as osConstants } from 'node:os';
import { pyFloatRepr, pyStrRepr as pyStr } from '../../../protocol/repr.ts';
import { rate } from '../ratelimit.ts';
import { maybeList, nok, ok, requireArgs, WorkerShutdown, type Handler, type PanelState } from './state.ts';
import { pyStrOf } from './taskinfo.ts';

/** Python's repr of a str set / dict of the ids and headers in Celery's reply texts. */
const pyStrRepr = (s: string) => `'${s.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;
const pySet = (ids: Iterable<string>) => `{${[...ids].map(pyStrRepr).join(', ')}}`;
function pyRepr(v: PyValue): string {
  if (typeof v === 'string') return pyStrRepr(v);
  if (v === null) return 'None';
  if (v === true) return 'True';
  if (v === false) return 'False';
  if (Array.isArray(v)) return `[${v.map(pyRepr).join(', ')}]`;
  if (typeof v === 'object' && !(v instanceof Date)) return `{${Object.entries(v as PyDict).map(([k, x]) => `${pyStrRepr(k)}: ${pyRepr(x)}`).join(', ')}}`;
  return String(v);
}

/** `worker_state.revoked_stamps`: stamp header → revoked values. */
export type RevokedStamps = Map<string, PyValue[]>;

async function revokeIds(state: PanelState, ids: Set<string>, terminate: boolean, signal: PyValue | undefined): Promise<PyValue> {
  const w = state.worker;
  for (const id of ids) w.revoked.add(id);
  for (const id of ids) {
    try {
      await w.markAsRevoked(id);
    } catch (err) {
      w.logger.warning(`Failed to mark task ${id} as revoked in backend: ${(err as Error).message}`);
    }
  }
  if (terminate) {
    const sig = typeof signal === 'string' && signal ? signal : 'SIGTERM';
    const snap = w.requestsSnapshot();
    const active = snap.active.filter((r) => ids.has(r.id));
    const waiting = snap.reserved.filter((r) => ids.has(r.id));
    const signum = osConstants.signals[sig.toUpperCase().replace(/^(SIG)?/, 'SIG') as keyof typeof osConstants.signals] ?? sig;
    if (active.length && w.canTerminate) {
      const terminated = [...active, ...waiting].map((r) => r.id);
      for (const r of active) {
        w.logger.info(`Terminating ${r.id} (${signum})`);
        w.terminateTask(r.id, typeof signum === 'number' ? signum : 15);
      }
      for (const r of waiting) w.logger.info(`Terminating ${r.id} (${signum})`);
      return ok(`terminate: ${[...new Set(terminated)].join(', ')}`);
    }
    if (active.length) {
      const which = active.map((r) => r.id).join(', ');
      w.logger.warning(`Cannot terminate ${which} (${sig}): a running JavaScript task cannot be killed; it stays revoked and runs to its end`);
      // what Celery's thread pool answers (BasePool.terminate_job), the pool class named as `inspect stats` names it
      throw new NotImplementedError(`<class 'celeriac.worker.AsyncPool'> does not implement kill_job`);
    }
    const terminated = waiting.map((r) => r.id);
    for (const id of terminated) w.logger.info(`Terminating ${id} (${signum})`);
    if (!terminated.length) return ok('terminate: tasks unknown');
    return ok(`terminate: ${terminated.join(', ')}`);
  }
  w.logger.info(`Tasks flagged as revoked: ${[...ids].join(', ')}`);
  return ok(`tasks ${pySet(ids)} flagged as revoked`);
}

export class NotImplementedError extends Error {
  override name = 'NotImplementedError';
}

export function commands(revokedStamps: RevokedStamps): Record<string, Handler> {
  const table: Record<string, Handler> = {
    revoke: (s, a) => {
      requireArgs('revoke', a, ['task_id']);
      return revokeIds(s, new Set(maybeList(a.task_id).map(String)), a.terminate === true, a.signal);
    },
    terminate: (s, a) => {
      requireArgs('terminate', a, ['signal', 'task_id']);
      return revokeIds(s, new Set(maybeList(a.task_id).map(String)), true, a.signal);
    },
    revoke_by_stamped_headers: (s, a) => {
      requireArgs('revoke_by_stamped_headers', a, ['headers']);
      let headers = a.headers as PyDict | string[];
      if (Array.isArray(headers)) headers = Object.fromEntries(headers.map((h) => [String(h).split('=')[0]!, String(h).split('=')[1] ?? '']));
      for (const [k, v] of Object.entries(headers ?? {})) revokedStamps.set(k, [...(revokedStamps.get(k) ?? []), ...maybeList(v)]);
      if (a.terminate !== true) return ok(`headers ${pyRepr(headers as PyDict)} flagged as revoked, but not terminated`);
      s.worker.logger.warning('revoke_by_stamped_headers: running JavaScript tasks cannot be terminated');
      return ok(`headers ${pyRepr(headers as PyDict)} were not terminated`);
    },
    rate_limit: (s, a) => {
      requireArgs('rate_limit', a, ['task_name', 'rate_limit']);
      const limit = (a.rate_limit ?? null) as string | number | null;
      try {
        rate(limit);
      } catch (err) {
        // only ValueError is answered so; a bad unit's KeyError is the pidbox's error reply, as in Celery
        if ((err as Error).name !== 'ValueError') throw err;
        return nok(`Invalid rate limit string: ValueError(${pyStr((err as Error).message)})`);
      }
      const name = String(a.task_name);
      if (!s.worker.app.tasks.has(name)) {
        s.worker.logger.error(`Rate limit attempt for unknown task ${name}`);
        return nok('unknown task');
      }
      s.worker.setRateLimit(name, limit);
      s.attributes.set(name, 'rate_limit', pyStrOf(limit));
      if (!limit) {
        s.worker.logger.info(`Rate limits disabled for tasks of type ${name}`);
        return ok('rate limit disabled successfully');
      }
      s.worker.logger.info(`New rate limit for tasks of type ${name}: ${limit}.`);
      return ok('new rate limit set successfully');
    },
    time_limit: (s, a, meta) => {
      const name = String(a.task_name);
      if (!s.worker.app.tasks.has(name)) {
        s.worker.logger.error(`Change time limit attempt for unknown task ${name}`);
        return nok('unknown task');
      }
      const num = (v: PyValue | undefined) => (v === null || v === undefined ? null : Number(v));
      s.worker.setTimeLimits(name, num(a.soft), num(a.hard));
      // task.soft_time_limit = soft; task.time_limit = hard (`inspect registered` shows them as Python's str())
      const text = (k: 'soft' | 'hard') => (meta.floatArgs.has(k) && typeof a[k] === 'number' ? pyFloatRepr(a[k]) : pyStrOf(a[k]));
      s.attributes.set(name, 'soft_time_limit', text('soft'));
      s.attributes.set(name, 'time_limit', text('hard'));
      s.worker.logger.info(`New time limits for tasks of type ${name}: soft=${a.soft ?? 'None'} hard=${a.hard ?? 'None'}`);
      return ok('time limits set successfully');
    },
    // Celery starts an election through its gossip and answers None (a worker --without-gossip fails
    // with an AttributeError); a celeriac worker has no gossip and answers None
    election: (_s, a) => {
      requireArgs('election', a, ['id', 'topic']);
      return undefined;
    },
    enable_events: (s) => {
      if (!s.taskEvents) {
        s.taskEvents = true;
        s.worker.logger.info('Events of group {task} enabled by remote.');
        return ok('task events enabled');
      }
      return ok('task events already enabled');
    },
    disable_events: (s) => {
      if (s.taskEvents) {
        s.taskEvents = false;
        s.worker.logger.info('Events of group {task} disabled by remote.');
        return ok('task events disabled');
      }
      return ok('task events already disabled');
    },
    heartbeat: (s) => {
      s.worker.logger.debug('Heartbeat requested by remote.');
      s.onHeartbeatRequest?.();
      return undefined;
    },
    pool_grow: (s, a) => {
      s.worker.resizePool(Math.max(0, Number(a.n ?? 1)));
      return ok('pool will grow');
    },
    pool_shrink: (s, a) => {
      s.worker.resizePool(-Math.max(0, Number(a.n ?? 1)));
      return ok('pool will shrink');
    },
    pool_restart: () => {
      throw new ValueError('Pool restarts not enabled');
    },
    autoscale: (s, a) => {
      const num = (v: PyValue | undefined) => (v === undefined || v === null ? null : Number(v));
      const r = s.worker.autoscale(num(a.max), num(a.min));
      if (!r) throw new ValueError('Autoscale not enabled');
      return ok(`autoscale now max=${r[0]} min=${r[1]}`);
    },
    shutdown: (s, a) => {
      s.worker.logger.warning(typeof a.msg === 'string' ? a.msg : 'Got shutdown from remote');
      throw new WorkerShutdown('0');
    },
    add_consumer: (s, a) => {
      requireArgs('add_consumer', a, ['queue']);
      const queue = String(a.queue);
      const exchange = typeof a.exchange === 'string' ? a.exchange : queue;
      const type = (typeof a.exchange_type === 'string' ? a.exchange_type : 'direct') as 'direct';
      const routingKey = typeof a.routing_key === 'string' ? a.routing_key : queue;
      const known = s.worker.app.router.queue(queue);
      const decl = a.exchange === undefined && a.routing_key === undefined ? known : { ...known, exchange: { ...known.exchange, name: exchange, type }, routingKey };
      // Celery: consumer.call_soon(add_task_queue, ...): answered before the consumer starts
      setImmediate(() => void s.worker.addConsumer(decl).catch((err: Error) => s.worker.logger.error(`add_consumer ${queue} failed: ${err.message}`)));
      return ok(`add consumer ${queue}`);
    },
    cancel_consumer: (s, a) => {
      requireArgs('cancel_consumer', a, ['queue']);
      const queue = String(a.queue);
      setImmediate(() => void s.worker.cancelConsumer(queue).catch((err: Error) => s.worker.logger.error(`cancel_consumer ${queue} failed: ${err.message}`)));
      return ok(`no longer consuming from ${queue}`);
    },
    /** Mingle: another worker starting asks for our revoked ids and clock. */
    hello: (s, a) => {
      requireArgs('hello', a, ['from_node']);
      if (a.from_node === s.worker.hostname) return undefined;
      s.worker.logger.info(`sync with ${String(a.from_node)}`);
      if (a.revoked && typeof a.revoked === 'object') s.worker.revoked.update(a.revoked as Record<string, unknown>);
      s.worker.revoked.purge();
      return { revoked: s.worker.revoked.toData() as unknown as PyDict, clock: s.clock.forward() };
    },
  };
  return table;
}

export class ValueError extends Error {
  override name = 'ValueError';
}
