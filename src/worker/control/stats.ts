/**
 * The `stats` inspect reply (`WorkController.stats` + `Consumer.info`): the fields Flower and
 * `celery inspect stats` read — `total`, `pid`, `clock`, `uptime`, `pool`, `broker`, `prefetch_count`,
 * `rusage` — in the shape Python gives them (the pool reported as a prefork-like pool of one process:
 * this process runs every task).
 */
import type { PyDict, PyValue } from '../../../protocol/values.ts';
import { PyFloat, type FloatValue } from '../../control/float.ts';
import type { PanelState } from './state.ts';

/** kombu `Connection.info()` for the broker URL (never the password). */
export function brokerInfo(url: string, heartbeat: number, connectTimeout: number, transportOptions: Record<string, unknown>): Record<string, FloatValue> {
  const first = url.split(';')[0]!.trim();
  let u: URL | null = null;
  try {
    u = new URL(first);
  } catch {
    u = null;
  }
  const scheme = (u?.protocol ?? 'redis:').replace(/:$/, '');
  const amqp = scheme.startsWith('amqp') || scheme === 'pyamqp';
  const transport = amqp ? 'amqp' : scheme === 'rediss' ? 'rediss' : scheme === 'sentinel' ? 'sentinel' : 'redis';
  const path = u ? decodeURIComponent(u.pathname.replace(/^\//, '')) : '';
  return {
    hostname: u?.hostname || (amqp ? 'localhost' : 'localhost'),
    userid: u?.username ? decodeURIComponent(u.username) : amqp ? 'guest' : null,
    virtual_host: path === '' ? '/' : path,
    port: u?.port ? Number(u.port) : amqp ? (scheme === 'amqps' ? 5671 : 5672) : 6379,
    insist: false,
    ssl: scheme === 'amqps' || scheme === 'rediss',
    transport,
    connect_timeout: connectTimeout,
    transport_options: transportOptions as PyDict,
    login_method: amqp ? 'PLAIN' : null,
    uri_prefix: null,
    heartbeat: new PyFloat(heartbeat), // kombu's float (`120.0`)
    failover_strategy: 'round-robin',
    // kombu lists every URL of a failover list (the first included); passwords masked here
    alternates: url.includes(';') ? url.split(';').map((s) => s.trim().replace(/(\/\/[^:@/]*:)[^@/]*@/, '$1********@')) : [],
    credential_provider: null,
  };
}

/** `resource.getrusage(RUSAGE_SELF)` with Python's field names (`utime`/`stime` in seconds). */
export function rusage(): Record<string, FloatValue> {
  const r = process.resourceUsage();
  return {
    utime: new PyFloat(r.userCPUTime / 1e6), stime: new PyFloat(r.systemCPUTime / 1e6), maxrss: r.maxRSS,
    ixrss: r.sharedMemorySize, idrss: r.unsharedDataSize, isrss: r.unsharedStackSize,
    minflt: r.minorPageFault, majflt: r.majorPageFault, nswap: r.swappedOut,
    inblock: r.fsRead, oublock: r.fsWrite, msgsnd: r.ipcSent, msgrcv: r.ipcReceived,
    nsignals: r.signalsCount, nvcsw: r.voluntaryContextSwitches, nivcsw: r.involuntaryContextSwitches,
  };
}

export function stats(state: PanelState): Record<string, FloatValue> {
  const w = state.worker;
  const c = w.app.conf;
  const total: PyDict = {};
  for (const [name, n] of state.totals) total[name] = n;
  const pool: PyDict = {
    implementation: 'celeriac.worker:AsyncPool',
    'max-concurrency': w.concurrency,
    processes: [process.pid],
    'max-tasks-per-child': 'N/A',
    'put-guarded-by-semaphore': false,
    timeouts: [c.taskSoftTimeLimit ?? 0, c.taskTimeLimit ?? 0] as PyValue[],
    writes: 'N/A',
    // the pool's own: the threads pool's thread ids as `processes`, its max-tasks-per-child
    ...w.poolInfo(),
  };
  return {
    total,
    pid: process.pid,
    clock: String(state.clock.value),
    uptime: Math.round((Date.now() - w.startedAt) / 1000),
    pool,
    broker: brokerInfo(c.brokerUrl, c.brokerHeartbeat, c.brokerConnectionTimeout, c.brokerTransportOptions as Record<string, unknown>),
    prefetch_count: w.prefetchCount(),
    rusage: rusage(),
  };
}
