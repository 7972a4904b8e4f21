/**
 * `celeriac exporter`: celery-exporter (danihodovic/celery-exporter) for a fleet of Python and
 * TypeScript workers: captures the fleet's events and serves `/metrics` with celery-exporter's names,
 * labels and options (each also read from a `CE_` environment variable, as celery-exporter's are).
 *
 *   celeriac exporter -b redis://localhost:6379/0 --port 9808 -Q celery,emails
 *   celeriac exporter -A ./tasks.ts           # the app's broker, event_exchange, control_exchange...
 *
 * Workers send task events with `-E` (`worker_send_task_events`); `task-sent` needs
 * `task_send_sent_event` on the producers. A port in use ends it with status 69 (EX_UNAVAILABLE), as
 * a broker that cannot be reached does (unless `--retry-interval`).
 */
import { Option, type Command } from 'commander';
import { Celery } from '../app.ts';
import { transportOf } from '../events/transport.ts';
import type { FleetInspector } from '../metrics/exporter.ts';
import { DEFAULT_BUCKETS, DEFAULT_QUEUE_WAIT_BUCKETS, EXPORTER_DEFAULTS, parseBuckets } from '../metrics/names.ts';
import type { QueueProbe } from '../metrics/queues.ts';
import { createLogger } from '../worker/log.ts';
import { appForCommand, globalsOf } from './context.ts';
import { EX_OK, reportError, UsageError } from './exit.ts';
import { parseInteger, parseLoglevel, parseSeconds } from './values.ts';

interface ExporterFlags {
  brokerUrl?: string;
  brokerTransportOption: string[];
  brokerSslOption: string[];
  acceptContent?: string;
  retryInterval: string;
  host: string;
  port: string;
  buckets?: string;
  queueWaitBuckets?: string;
  logLevel: string;
  workerTimeout: string;
  purgeOfflineWorkerMetrics: string;
  genericHostnameTaskSentMetric?: boolean;
  genericHostnameWorkerTaskMetric?: boolean;
  queues?: string;
  metricPrefix: string;
  defaultQueueName: string;
  staticLabel: string[];
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

/** `key=value` pairs; values as celery-exporter's `transform_option_value` reads them (int, JSON, else text). */
function keyValues(flag: string, items: string[], transform: (v: string) => unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const item of items) {
    const at = item.indexOf('=');
    if (at <= 0) throw new UsageError(`${flag} takes key=value, got ${JSON.stringify(item)}`);
    out[item.slice(0, at)] = transform(item.slice(at + 1));
  }
  return out;
}

/** celery-exporter's `transform_option_value`: digits → int, JSON → its value, else the text. */
export function transformOptionValue(value: string): unknown {
  if (/^\d+$/.test(value)) return Number(value);
  try {
    return JSON.parse(value) as unknown;
  } catch {
    return value;
  }
}

function buckets(flag: string, text: string | undefined, fallback: readonly number[]): readonly number[] {
  if (text === undefined) return fallback;
  try {
    return parseBuckets(text);
  } catch (err) {
    throw new UsageError(`${flag} takes increasing numbers separated by commas (e.g. 0.1,1,10,inf): ${(err as Error).message}`);
  }
}

/** The exporter's options from the command line, checked before anything connects. */
export function exporterOptions(o: ExporterFlags) {
  const port = parseInteger('--port', o.port, 0);
  if (port > 65535) throw new UsageError(`--port must be at most 65535, got ${o.port}`);
  return {
    port,
    host: o.host,
    level: parseLoglevel(o.logLevel),
    retryInterval: parseSeconds('--retry-interval', o.retryInterval),
    workerTimeout: parseSeconds('--worker-timeout', o.workerTimeout),
    purgeOfflineWorkerMetrics: parseSeconds('--purge-offline-worker-metrics', o.purgeOfflineWorkerMetrics),
    buckets: buckets('--buckets', o.buckets, DEFAULT_BUCKETS),
    queueWaitBuckets: buckets('--queue-wait-buckets', o.queueWaitBuckets, DEFAULT_QUEUE_WAIT_BUCKETS),
    queues: (o.queues ?? '').split(',').map((q) => q.trim()).filter(Boolean),
    staticLabels: keyValues('--static-label', o.staticLabel, (v) => v) as Record<string, string>,
    transportOptions: keyValues('--broker-transport-option', o.brokerTransportOption, transformOptionValue),
    sslOptions: keyValues('--broker-ssl-option', o.brokerSslOption, (v) => (/^\d+$/.test(v) ? Number(v) : v)),
    acceptContent: o.acceptContent?.split(',').map((s) => s.trim()).filter(Boolean),
  };
}

/** `app.control.inspect()`'s stats / active_queues, when this celeriac has them. */
function fleetInspector(app: Celery): FleetInspector | null {
  const control = app.control as unknown as { inspect?: (o?: { timeout?: number }) => FleetInspector };
  if (typeof control.inspect !== 'function') return null;
  return { stats: () => control.inspect!().stats(), activeQueues: () => control.inspect!().activeQueues() };
}

async function queueProbe(app: Celery): Promise<QueueProbe | null> {
  const { amqpQueueProbe, redisQueueProbe } = await import('../metrics/queues.ts');
  const transport = transportOf(app.conf.brokerUrl);
  if (transport === 'redis' || transport === 'rediss' || transport === 'sentinel') return redisQueueProbe(async () => app.broker);
  if (transport === 'amqp') return amqpQueueProbe(app.conf.brokerUrl, app.conf);
  return null;
}

export async function runExporter(o: ExporterFlags, command: Command): Promise<void> {
  const opts = exporterOptions(o);
  const g = { ...globalsOf(command) };
  if (o.brokerUrl !== undefined) {
    if (g.broker !== undefined && g.broker !== o.brokerUrl) throw new UsageError('give -b/--broker or --broker-url, not both');
    g.broker = o.brokerUrl;
  }
  const log = createLogger(opts.level);
  let app = await appForCommand(g);
  const overrides: Record<string, unknown> = {};
  if (Object.keys(opts.transportOptions).length) overrides.brokerTransportOptions = { ...app.conf.brokerTransportOptions, ...opts.transportOptions };
  if (Object.keys(opts.sslOptions).length) overrides.brokerUseSsl = opts.sslOptions;
  if (opts.acceptContent?.length) overrides.acceptContent = opts.acceptContent;
  // the command line's transport options go over the app's settings: an app of those settings
  if (Object.keys(overrides).length) app = new Celery({ ...(app.conf as unknown as Record<string, unknown>), ...overrides, env: {} });
  // the metrics modules (and prom-client) load only when this command runs
  const [{ Exporter }, { createCeleryMetrics, loadPromClient }, { serveMetrics }] = await Promise.all([
    import('../metrics/exporter.ts'), import('../metrics/registry.ts'), import('../metrics/server.ts'),
  ]);
  const prom = await loadPromClient();
  const metrics = createCeleryMetrics(prom, {
    scope: 'exporter', prefix: o.metricPrefix, buckets: opts.buckets, queueWaitBuckets: opts.queueWaitBuckets, staticLabels: opts.staticLabels,
  });
  const queues = await queueProbe(app);
  if (!queues) log.debug(`Queue length tracking is only implemented for redis, rediss, sentinel, amqp and amqps; not for ${app.broker.safeUrl}`);
  const exporter = new Exporter({
    metrics, queues, inspect: fleetInspector(app), log,
    workerTimeout: opts.workerTimeout, purgeOfflineWorkerMetrics: opts.purgeOfflineWorkerMetrics,
    genericHostnameTaskSentMetric: o.genericHostnameTaskSentMetric, genericHostnameWorkerTaskMetric: o.genericHostnameWorkerTaskMetric,
    initialQueues: opts.queues, defaultQueueName: o.defaultQueueName,
  });
  const server = await serveMetrics({
    registry: metrics.registry, port: opts.port, host: opts.host,
    beforeScrape: () => exporter.scrape(),
    onError: (err) => log.error(`Failed to scrape metrics: ${err.message}`),
    health: async () => {
      await app.broker.connect();
      return `Connected to the broker ${app.broker.safeUrl}`;
    },
  });
  const receiver = app.events.receiver({ handlers: exporter.handlers(), onError: (err) => log.error(err.message) });
  let stopping = false;
  const stop = () => {
    if (stopping) process.exit(EX_OK);
    stopping = true;
    void (async () => {
      await receiver.stop().catch(() => undefined);
      await server.close();
      await queues?.close().catch(() => undefined);
      await app.close().catch(() => undefined);
      process.exit(EX_OK);
    })();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  for (;;) {
    try {
      await receiver.start();
      break;
    } catch (err) {
      if (opts.retryInterval === 0 || stopping) {
        await server.close();
        throw err;
      }
      log.error(`celeriac exporter: ${(err as Error).message}; retrying in ${opts.retryInterval} seconds`);
      await new Promise((r) => setTimeout(r, opts.retryInterval * 1000));
    }
  }
  log.info(`Receiving the events of ${app.broker.safeUrl} (exchange ${app.conf.eventExchange})`);
  process.stderr.write(`celeriac exporter: serving http://${opts.host.includes(':') ? `[${opts.host}]` : opts.host}:${server.port}/metrics\n`);
}

const env = (flag: Option, name: string) => flag.env(`CE_${name}`);

export function registerExporter(program: Command): void {
  const defaultBuckets = [...DEFAULT_BUCKETS, 'inf'].join(',');
  const defaultWaitBuckets = [...DEFAULT_QUEUE_WAIT_BUCKETS, 'inf'].join(',');
  program
    .command('exporter')
    .description("Serve Prometheus metrics of a Celery fleet (Python and TypeScript workers) from its events, as celery-exporter")
    .addOption(env(new Option('--broker-url <url>', 'the broker URL (same as -b/--broker)'), 'BROKER_URL'))
    .addOption(env(new Option('--broker-transport-option <key=value>', 'a broker_transport_options entry, e.g. visibility_timeout=18000 (repeatable; JSON values allowed)').argParser(collect).default([]), 'BROKER_TRANSPORT_OPTION'))
    .addOption(env(new Option('--broker-ssl-option <key=value>', 'a broker_use_ssl entry, e.g. certfile=/var/ssl/amqp-server-cert.pem (repeatable)').argParser(collect).default([]), 'BROKER_SSL_OPTION'))
    .addOption(env(new Option('--accept-content <list>', "accept_content for the events, e.g. 'json,pickle'"), 'ACCEPT_CONTENT'))
    .addOption(env(new Option('--retry-interval <seconds>', 'when the broker cannot be reached at start, retry after this long; 0 exits (status 69)').default(String(EXPORTER_DEFAULTS.retryInterval)), 'RETRY_INTERVAL'))
    .addOption(env(new Option('--host <host>', 'the address to listen on').default(EXPORTER_DEFAULTS.host), 'HOST'))
    .addOption(env(new Option('--port <port>', 'the port to listen on').default(String(EXPORTER_DEFAULTS.port)), 'PORT'))
    .addOption(env(new Option('--buckets <list>', `buckets of the celery_task_runtime histogram (default ${defaultBuckets})`), 'BUCKETS'))
    .addOption(env(new Option('--queue-wait-buckets <list>', `buckets of celery_task_queue_wait_time, which needs task_send_sent_event on the producers (default ${defaultWaitBuckets})`), 'QUEUE_WAIT_BUCKETS'))
    .addOption(env(new Option('--log-level <level>', 'debug, info, warning, error, critical').default('INFO'), 'LOG_LEVEL'))
    .addOption(env(new Option('--worker-timeout <seconds>', 'a worker without a heartbeat for this long is down (celery_worker_up 0); 0 = never').default(String(EXPORTER_DEFAULTS.workerTimeout)), 'WORKER_TIMEOUT'))
    .addOption(env(new Option('--purge-offline-worker-metrics <seconds>', "drop every series of a worker unseen for this long; 0 = never").default(String(EXPORTER_DEFAULTS.purgeOfflineWorkerMetrics)), 'PURGE_OFFLINE_WORKER_METRICS'))
    .addOption(env(new Option('--generic-hostname-task-sent-metric', 'label celery_task_sent_total with hostname "generic"'), 'GENERIC_HOSTNAME_TASK_SENT_METRIC'))
    .addOption(env(new Option('--generic-hostname-worker-task-metric', 'label the other task counters and celery_task_runtime with hostname "generic"'), 'GENERIC_HOSTNAME_WORKER_TASK_METRIC'))
    .addOption(env(new Option('-Q, --queues <list>', 'comma-separated queues whose gauges are shown before a worker is seen consuming them'), 'QUEUES'))
    .addOption(env(new Option('--metric-prefix <prefix>', "replaces the 'celery_' of every metric name").default(EXPORTER_DEFAULTS.prefix), 'METRIC_PREFIX'))
    .addOption(env(new Option('--default-queue-name <name>', 'queue_name of a task whose task-sent event was not seen').default(EXPORTER_DEFAULTS.defaultQueueName), 'DEFAULT_QUEUE_NAME'))
    .addOption(env(new Option('--static-label <key=value>', 'a label with a fixed value on every metric (repeatable)').argParser(collect).default([]), 'STATIC_LABEL'))
    .action(async (o: ExporterFlags, command: Command) => {
      try {
        await runExporter(o, command);
      } catch (err) {
        const traceback = globalsOf(command).traceback === true || /^debug$/i.test(o.logLevel);
        process.exit(reportError('exporter', err, { traceback }));
      }
    });
}
