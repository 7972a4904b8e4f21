/**
 * `celeriac worker -A <module>`: Celery's `celery worker` for an app written in TypeScript or JavaScript.
 *
 *   celeriac worker -A ./tasks.ts -Q default,emails -c 8 -n ts1@%h -l info
 *
 * `-A` is a path (relative to the current directory) or a package name, optionally `:name`; the module
 * exports the app as `default`, `app` or `celery` (or the `:name` export). `.ts` modules load through
 * tsx, which bin/celeriac.js registers. `--broker` / `--result-backend` set `CELERY_BROKER_URL` /
 * `CELERY_RESULT_BACKEND` before the module is imported, as Celery's CLI does.
 *
 * Signals: SIGTERM / SIGINT → warm shutdown (running tasks finish, the rest goes back to the queue);
 * a second one, or SIGQUIT → cold shutdown (exit without waiting; see src/worker/worker.ts).
 */
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { arch, hostname, platform, release } from 'node:os';
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Celery } from '../app.ts';
import { createLogger, parseLogLevel } from '../worker/log.ts';
import { Worker } from '../worker/worker.ts';

interface WorkerCliOptions {
  app: string;
  queues?: string;
  concurrency?: string;
  hostname?: string;
  loglevel: string;
  broker?: string;
  resultBackend?: string;
  prefetchMultiplier?: string;
  taskEvents?: boolean;
  heartbeatInterval?: string;
  withoutHeartbeat?: boolean;
}

function isApp(v: unknown): v is Celery {
  return typeof v === 'object' && v !== null && (v as Celery).tasks instanceof Map && typeof (v as Celery).conf === 'object';
}

/** Import the module named by `-A` and find the app in it. */
export async function loadApp(spec: string, cwd = process.cwd()): Promise<Celery> {
  let modPath = spec;
  let attr: string | null = null;
  const colon = spec.lastIndexOf(':');
  if (colon > 1) {
    modPath = spec.slice(0, colon);
    attr = spec.slice(colon + 1);
  }
  const looksLikePath = modPath.startsWith('.') || isAbsolute(modPath) || /\.[cm]?[jt]s$/.test(modPath) || existsSync(resolve(cwd, modPath));
  const url = looksLikePath ? pathToFileURL(resolve(cwd, modPath)).href : modPath;
  // a TypeScript app module needs no build step: load it through tsx, also when this CLI itself
  // runs compiled from dist/ (bin/celeriac.js registers tsx only when running from source)
  if (/\.[cm]?tsx?$/.test(modPath)) {
    const { register } = await import('tsx/esm/api');
    register();
  }
  const mod = (await import(url)) as Record<string, unknown>;
  const names = attr ? [attr] : ['default', 'app', 'celery'];
  for (const n of names) {
    const v = mod[n];
    if (isApp(v)) return v;
  }
  const found = Object.entries(mod).filter(([, v]) => isApp(v)).map(([k]) => k);
  throw new Error(
    `${spec}: no Celery app exported as ${names.join(' / ')}` +
      (found.length ? `; found ${found.join(', ')} (use -A ${modPath}:${found[0]})` : ' (export default app, or export const app)'),
  );
}

/** The startup banner, in Celery's layout. */
export function banner(worker: Worker, app: Celery, version: string): string {
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
    `- *** --- * --- .> concurrency: ${worker.concurrency} (node event loop)`,
    `-- ******* ---- .> task events: ${worker.events.taskEvents ? 'ON' : 'OFF (enable -E to monitor tasks in this worker)'}`,
    '--- ***** ----- ',
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

export async function runWorker(o: WorkerCliOptions, version: string): Promise<void> {
  const level = parseLogLevel(o.loglevel);
  if (o.broker) process.env.CELERY_BROKER_URL = o.broker;
  if (o.resultBackend) process.env.CELERY_RESULT_BACKEND = o.resultBackend;
  const app = await loadApp(o.app);
  const concurrency = o.concurrency === undefined ? undefined : Number(o.concurrency);
  if (concurrency !== undefined && (!Number.isInteger(concurrency) || concurrency < 1)) throw new Error(`--concurrency must be an integer >= 1, got ${o.concurrency}`);
  const prefetch = o.prefetchMultiplier === undefined ? undefined : Number(o.prefetchMultiplier);
  const worker = new Worker(app, {
    ...(o.queues ? { queues: o.queues.split(',').map((q) => q.trim()).filter(Boolean) } : {}),
    ...(concurrency !== undefined ? { concurrency } : {}),
    ...(prefetch !== undefined ? { prefetchMultiplier: prefetch } : {}),
    ...(o.hostname ? { hostname: o.hostname } : {}),
    events: {
      ...(o.taskEvents ? { taskEvents: true } : {}),
      ...(o.heartbeatInterval !== undefined ? { heartbeatInterval: Number(o.heartbeatInterval) } : {}),
      ...(o.withoutHeartbeat ? { withoutHeartbeat: true } : {}),
    },
    logger: createLogger(level),
  });
  process.stdout.write(banner(worker, app, version) + '\n');
  let signalsSeen = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    signalsSeen++;
    const cold = sig === 'SIGQUIT' || signalsSeen > 1;
    void worker.stop({ cold }).then(() => process.exit(0), (err: Error) => {
      process.stderr.write(`shutdown failed: ${err.stack ?? err.message}\n`);
      process.exit(1);
    });
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  process.on('SIGQUIT', onSignal);
  await worker.start();
  // Celery prints this at WARNING level so it shows with the default -l
  if (level !== 'debug' && level !== 'info') process.stderr.write(`${worker.hostname} ready.\n`);
}

export function registerWorker(program: Command, version: string): void {
  program
    .command('worker')
    .description('Start a worker that runs the tasks registered on a TypeScript/JavaScript Celery app')
    .requiredOption('-A, --app <module>', 'module exporting the app (default export, `app` or `celery`; `module:name` for another export)')
    .option('-Q, --queues <list>', 'comma-separated queues to consume (default: task_default_queue)')
    .option('-c, --concurrency <n>', 'tasks run at once (default: worker_concurrency, else the number of CPUs)')
    .option('-n, --hostname <name>', 'node name; %h, %n, %d are expanded (default: celery@%h)')
    .option('-l, --loglevel <level>', 'debug, info, warning, error, critical', 'warning')
    .option('--prefetch-multiplier <n>', 'worker_prefetch_multiplier (0 = unlimited)')
    .option('-b, --broker <url>', 'broker URL (sets CELERY_BROKER_URL)')
    .option('--result-backend <url>', 'result backend URL (sets CELERY_RESULT_BACKEND)')
    .option('-E, --task-events', 'send task-related events (worker_send_task_events), for celery events / Flower')
    .option('--heartbeat-interval <seconds>', 'seconds between worker-heartbeat events (default 2)')
    .option('--without-heartbeat', 'send no worker-online / heartbeat / offline events')
    .action(async (o: WorkerCliOptions) => {
      try {
        await runWorker(o, version);
      } catch (err) {
        process.stderr.write(`celeriac worker: ${(err as Error).stack ?? String(err)}\n`);
        process.exit(1);
      }
    });
}
