/**
 * `celeriac worker -A <module>`: Celery's `celery worker` for an app written in TypeScript or JavaScript.
 *
 *   celeriac worker -A ./tasks.ts -Q default,emails -c 8 -n ts1@%h -l info
 *
 * `-A` (a global option, before or after `worker`) is a path relative to the current directory or a
 * package name, optionally `:name`; the module exports the app as `default`, `app` or `celery` (or the
 * `:name` export); see src/cli/load-app.ts. `-b` / `--result-backend` / `--config` override its
 * settings as in Celery (src/cli/context.ts). A mistake on the command line is one line on stderr and
 * exit status 64 (src/cli/exit.ts); the stack trace only with `--traceback` or `-l debug`.
 *
 * Signals (TERM, INT, QUIT, USR1, HUP) and the daemon options (--pidfile, --logfile, --detach, --uid,
 * --gid, --umask, --inspect) as Celery's: src/cli/worker-service.ts.
 */
import type { Command } from 'commander';
import { arch, platform, release } from 'node:os';
import type { Celery } from '../app.ts';
import { createLogger } from '../worker/log.ts';
import { Worker } from '../worker/worker.ts';
import { createBeat } from '../beat/beat.ts';
import { signals } from '../signals.ts';
import { beatOptions } from './beat.ts';
import { appForCommand, appSpec, globalsOf } from './context.ts';
import { poolFromName } from '../worker/pool/pool.ts';
import { reportError, UsageError } from './exit.ts';
import { parseInteger, parseLoglevel, parseNumber } from './values.ts';
import { installWorkerSignals, registerServiceOptions, startService, type ServiceCliOptions } from './worker-service.ts';

/** A TCP port number (0 picks a free one). */
function parsePort(flag: string, text: string): number {
  const n = parseInteger(flag, text, 0);
  if (n > 65535) throw new UsageError(`${flag} must be a port number (0-65535), got ${JSON.stringify(text)}`);
  return n;
}

function metricsAddress(host = '0.0.0.0', port: number): string {
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}/metrics`;
}

interface WorkerCliOptions extends ServiceCliOptions {
  queues?: string;
  concurrency?: string;
  hostname?: string;
  loglevel: string;
  prefetchMultiplier?: string;
  taskEvents?: boolean;
  heartbeatInterval?: string;
  withoutHeartbeat?: boolean;
  withoutMingle?: boolean;
  withoutGossip?: boolean;
  beat?: boolean;
  schedule?: string;
  scheduler?: string;
  metricsPort?: string;
  metricsHost?: string;
  pool?: string;
  maxTasksPerChild?: string;
  maxMemoryPerChild?: string;
  autoscale?: string;
}

/** The startup banner, in Celery's layout. */
export function banner(worker: Worker, app: Celery, version: string, metricsUrl?: string): string {
  const c = app.conf;
  const lines = [
    '',
    ` -------------- ${worker.hostname} v${version} (celeriac)`,
    '--- ***** ----- ',
    `-- ******* ---- ${platform()}-${release()}-${arch()} ${new Date().toISOString().replace('T', ' ').slice(0, 19)}`,
    '- *** --- * --- ',
    '- ** ---------- [config]',
    `- ** ---------- .> app:         ${app.main ?? '__main__'}`,
    `- ** ---------- .> transport:   ${app.broker.safeUrl}`,
    `- ** ---------- .> results:     ${c.resultBackend ? app.backend.safeUrl : 'disabled://'}`,
    `- *** --- * --- .> concurrency: ${worker.concurrency} (${worker.poolName === 'async' ? 'node event loop' : worker.poolName})`,
    `-- ******* ---- .> task events: ${worker.events.taskEvents ? 'ON' : 'OFF (enable -E to monitor tasks in this worker)'}`,
    metricsUrl ? `--- ***** ----- .> metrics:     ${metricsUrl}` : '--- ***** ----- ',
    ' -------------- [queues]',
  ];
  for (const q of worker.queues) {
    const d = app.router.queue(q);
    lines.push(`                .> ${q.padEnd(16)} exchange=${d.exchange?.name ?? ''}(${d.exchange?.type ?? 'direct'}) key=${d.routingKey}`);
  }
  lines.push('', '[tasks]');
  for (const [name, t] of [...app.tasks].sort(([a], [b]) => a.localeCompare(b))) if (t.fn) lines.push(`  . ${name}`);
  lines.push('');
  return lines.join('\n');
}

/** The worker's options from the command line, checked before anything is loaded or connected. */
function workerOptions(o: WorkerCliOptions) {
  const queues = o.queues === undefined ? undefined : o.queues.split(',').map((q) => q.trim()).filter(Boolean);
  if (queues !== undefined && queues.length === 0) throw new UsageError(`-Q/--queues needs at least one queue name, got ${JSON.stringify(o.queues)}`);
  return {
    level: parseLoglevel(o.loglevel),
    queues,
    concurrency: o.concurrency === undefined ? undefined : parseInteger('-c/--concurrency', o.concurrency, 1),
    prefetch: o.prefetchMultiplier === undefined ? undefined : parseInteger('--prefetch-multiplier', o.prefetchMultiplier, 0),
    heartbeat: o.heartbeatInterval === undefined ? undefined : parseNumber('--heartbeat-interval', o.heartbeatInterval, 0.001),
    metricsPort: o.metricsPort === undefined ? undefined : parsePort('--metrics-port', o.metricsPort),
    pool: o.pool === undefined ? undefined : poolOption(o.pool),
    maxTasksPerChild: o.maxTasksPerChild === undefined ? undefined : parseInteger('--max-tasks-per-child', o.maxTasksPerChild, 1),
    maxMemoryPerChild: o.maxMemoryPerChild === undefined ? undefined : parseInteger('--max-memory-per-child', o.maxMemoryPerChild, 1),
    autoscale: o.autoscale === undefined ? undefined : autoscaleOption(o.autoscale),
  };
}

/** `--autoscale MAX[,MIN]` (MIN 0 when left out, as Celery). */
function autoscaleOption(text: string): [number, number] {
  const [max, min = '0', ...rest] = text.split(',');
  const r: [number, number] = [parseInteger('--autoscale', max!.trim(), 1), parseInteger('--autoscale', min.trim(), 0)];
  if (rest.length || r[1] > r[0]) throw new UsageError(`--autoscale must be MAX,MIN with MIN <= MAX, got ${JSON.stringify(text)}`);
  return r;
}

/** `-P`: Celery's pool names (src/worker/pool/pool.ts maps them). */
function poolOption(name: string): string {
  if (!poolFromName(name)) throw new UsageError(`-P/--pool must be async, threads, prefork, processes, solo, eventlet or gevent, got ${JSON.stringify(name)}`);
  return name;
}

export async function runWorker(o: WorkerCliOptions, command: Command, version: string): Promise<void> {
  const g = globalsOf(command);
  const { level, queues, concurrency, prefetch, heartbeat, metricsPort, pool, maxTasksPerChild, maxMemoryPerChild, autoscale } = workerOptions(o);
  if (!o.beat && (o.schedule !== undefined || o.scheduler !== undefined)) throw new UsageError('-s/--schedule and -S/--scheduler go with -B/--beat');
  const beatOpts = o.beat ? beatOptions(o) : null;
  // --detach, --pidfile, --logfile, --uid/--gid, --umask, --inspect (src/cli/worker-service.ts)
  const service = await startService(o, g);
  if ('detached' in service) process.exit(service.detached);
  const app = await appForCommand(g, {
    requireApp: 'worker needs -A/--app MODULE (or CELERY_APP): the module that creates the app and registers its tasks, e.g. -A ./tasks.ts',
  });
  const worker = new Worker(app, {
    ...(queues ? { queues } : {}),
    ...(concurrency !== undefined ? { concurrency } : {}),
    ...(prefetch !== undefined ? { prefetchMultiplier: prefetch } : {}),
    ...(o.hostname ? { hostname: o.hostname } : {}),
    ...(o.withoutMingle ? { withoutMingle: true } : {}),
    // -P threads: each pool thread imports the -A module itself
    ...(pool !== undefined ? { pool } : {}), appModule: appSpec(g),
    ...(maxTasksPerChild !== undefined ? { maxTasksPerChild } : {}),
    ...(maxMemoryPerChild !== undefined ? { maxMemoryPerChild } : {}),
    ...(autoscale !== undefined ? { autoscale } : {}),
    events: {
      ...(o.taskEvents ? { taskEvents: true } : {}),
      ...(heartbeat !== undefined ? { heartbeatInterval: heartbeat } : {}),
      ...(o.withoutHeartbeat ? { withoutHeartbeat: true } : {}),
    },
    logger: createLogger(level, service.write),
  });
  // celeriac's --metrics-port / worker_metrics_port: /metrics with celery-exporter's names (src/metrics/worker.ts);
  // prom-client is loaded only then. A port in use ends the worker here, before it consumes (status 69).
  const port = metricsPort ?? app.conf.workerMetricsPort;
  if (o.metricsHost !== undefined && port === null) throw new UsageError('--metrics-host goes with --metrics-port (or the worker_metrics_port setting)');
  const metrics = port === null ? null
    : await (await import('../metrics/worker.ts')).serveWorkerMetrics(worker, { port, host: o.metricsHost, app, onError: (err) => worker.logger.error(`metrics: ${err.message}`) });
  // Celery's -B: a beat in the worker process (one such worker per schedule, or -S redis for several)
  const beat = beatOpts ? await createBeat(app, { ...beatOpts, logger: createLogger(level, service.write) }) : null;
  process.stdout.write(banner(worker, app, version, metrics ? metricsAddress(o.metricsHost, metrics.port) : undefined) + '\n');
  installWorkerSignals({
    worker, service, logger: worker.logger,
    softShutdown: { timeout: app.conf.workerSoftShutdownTimeout, onIdle: app.conf.workerEnableSoftShutdownOnIdle },
    stopFirst: () => beat?.service.stop() ?? Promise.resolve(),
    onError: (err) => reportError('worker', new Error(`shutdown failed: ${err.message}`, { cause: err }), { traceback: level === 'debug' }),
  });
  await worker.start();
  if (beat) {
    await signals.beat_embedded_init.send({ sender: beat.service });
    await beat.service.start();
  }
  // Celery prints this at WARNING level so it shows with the default -l
  if (level !== 'debug' && level !== 'info') process.stderr.write(`${worker.hostname} ready.\n`);
}

export function registerWorker(program: Command, version: string): void {
  registerServiceOptions(program
    .command('worker'))
    .description('Start a worker that runs the tasks registered on a TypeScript/JavaScript Celery app')
    .option('-Q, --queues <list>', 'comma-separated queues to consume (default: task_default_queue)')
    .option('-c, --concurrency <n>', 'tasks run at once (default: worker_concurrency, else the number of CPUs)')
    .option('-n, --hostname <name>', 'node name; %h, %n, %d are expanded (default: celery@%h)')
    .option('-l, --loglevel <level>', 'debug, info, warning, error, critical', 'warning')
    .option('--prefetch-multiplier <n>', 'worker_prefetch_multiplier (0 = unlimited)')
    .option('-E, --task-events', 'send task-related events (worker_send_task_events), for celery events / Flower')
    .option('--heartbeat-interval <seconds>', 'seconds between worker-heartbeat events (default 2)')
    .option('--without-heartbeat', 'send no worker-online / heartbeat / offline events')
    .option('--without-mingle', "don't ask the other workers for revoked task ids at startup (saves mingle's 1 s)")
    .option('-B, --beat', 'also run beat (the periodic task scheduler) in this worker, as Celery\'s -B')
    .option('-s, --schedule <file>', 'with -B: the file store\'s path (default: beat_schedule_filename)')
    .option('-S, --scheduler <name>', 'with -B: file or redis (default: beat_scheduler)')
    .option('--metrics-port <port>', 'serve Prometheus metrics (celery-exporter\'s names) on this port at /metrics (setting worker_metrics_port)')
    .option('--metrics-host <host>', 'with --metrics-port: the address to listen on (default 0.0.0.0)')
    .option('-P, --pool <name>', 'async (the event loop, default), threads (a worker thread per slot) or processes (a child process per slot): CPU-bound tasks in parallel; Celery\'s prefork → processes, solo, eventlet, gevent → async (setting worker_pool)')
    .option('--max-tasks-per-child <n>', 'threads/processes: replace a slot after n tasks (worker_max_tasks_per_child)')
    .option('--max-memory-per-child <KiB>', 'threads/processes: replace a slot above this after a task (worker_max_memory_per_child)')
    .option('--autoscale <max,min>', 'grow the pool up to MAX slots under load and shrink it back to MIN when idle (as Celery\'s)')
    .option('--without-gossip', "don't subscribe to other workers' events (celeriac workers never do; accepted as Celery's flag)")
    .action(async (o: WorkerCliOptions, command: Command) => {
      try {
        await runWorker(o, command, version);
      } catch (err) {
        const traceback = globalsOf(command).traceback === true || /^debug$/i.test(o.loglevel);
        process.exit(reportError('worker', err, { traceback }));
      }
    });
}
