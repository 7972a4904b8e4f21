/**
 * `celeriac report`: what to paste into a bug report, in the layout of Celery's `celery report`
 * (`celery.app.utils.bugreport` / `BUGREPORT_INFO`), with Node's equivalents:
 *
 *
 *   software -> celeriac:0.1.0 node:20.20.2 v8:11.3.244.8-node.33
 *               protocol:2 ioredis:5.8.2
 *   platform -> system:Linux arch:x64, LE
 *               kernel version:6.1.0 imp:Node.js
 *   loader   -> ./tasks.ts
 *   settings -> transport:redis results:redis://:**@localhost:6379/1
 *
 *   task_default_queue: 'proj'
 *   broker_transport_options:
 *    'password': '********', 'visibility_timeout': 3600}
 *
 * The settings are those the app was given, in that order (`app.conf.humanize()`), in Celery's names
 * and forms, masked as `celery.app.utils.filter_hidden_settings` masks them (src/settings-report.ts):
 * a key matching `API|TOKEN|KEY|SECRET|PASS|PROFANITIES_LIST|SIGNATURE|DATABASE|BEAT_DBURI` shows
 * `********` (nested dicts are masked key by key), a `*broker_url*` or `*backend*` URL its password as
 * `********`. Celery's stray `deprecated_settings: None` line is not printed.
 */
import type { Command } from 'commander';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { arch, endianness, release, type as osType } from 'node:os';
import { dirname, join } from 'node:path';
import type { Celery } from '../app.ts';
import { toCamelCase } from '../config.ts';
import { celeryValue, filterHiddenSettings, formatBugreport, humanize, type ConfSource } from '../settings-report.ts';
import { appForCommand, appSpec, globalsOf } from './context.ts';
import { reportError } from './exit.ts';
import { closeApp } from './result.ts';

/**
 * The settings `celery report` lists, in Celery's names and forms, unmasked: those the app was given
 * (its `changedSettings`, in that order, as Celery's `conf.without_defaults()`), but `broker_url` /
 * `result_backend` taken from `CELERY_BROKER_URL` / `CELERY_RESULT_BACKEND` (the `-b` /
 * `--result-backend` flags), which are not the app's settings in Celery.
 */
export function reportSettings(app: ConfSource, env: NodeJS.ProcessEnv = process.env): Record<string, unknown> {
  const c = app.conf as unknown as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const name of app.changedSettings) {
    const camel = toCamelCase(name);
    if (!(camel in c)) continue;
    const v = c[camel];
    if (name === 'broker_url' && env.CELERY_BROKER_URL && v === env.CELERY_BROKER_URL) continue;
    if (name === 'result_backend' && env.CELERY_RESULT_BACKEND && v === env.CELERY_RESULT_BACKEND) continue;
    out[name] = celeryValue(app.conf, name);
  }
  return out;
}

/** The version of an installed package (its package.json, found from where it resolves), or null. */
export function packageVersion(name: string): string | null {
  try {
    let dir = dirname(createRequire(import.meta.url).resolve(name));
    for (let i = 0; i < 6; i++) {
      const file = join(dir, 'package.json');
      if (existsSync(file)) {
        const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
        if (pkg.name === name && pkg.version) return pkg.version;
      }
      dir = dirname(dir);
    }
  } catch {
    // not installed
  }
  return null;
}

/** The transport's name as kombu's `transport_cls` shows it: the URL scheme (`redis`, `amqp`, ...). */
export function transportName(url: string): string {
  return /^([a-z][a-z0-9+.-]*):\/\//i.exec(url.trim())?.[1] ?? '';
}

/** The driver beside the transport (Celery's `driver_name:driver_version`). */
function driverOf(transport: string): string {
  const driver = /^amqps?$|^pyamqp$|^librabbitmq$/i.test(transport) ? 'amqplib' : transport ? 'ioredis' : '';
  if (!driver) return '';
  return `${driver}:${packageVersion(driver) ?? '?'}`;
}

export interface BugreportInfo {
  version: string;
  app: ConfSource;
  /** The app module (`-A`), or null for an app made of the environment and the config module. */
  appModule: string | null;
  env?: NodeJS.ProcessEnv;
}

/** Celery's `bugreport(app)` text, celeriac's versions and Node's platform (see the module notes). */
export function bugreport(info: BugreportInfo): string {
  const conf = info.app.conf;
  const transport = transportName(conf.brokerUrl);
  const v8 = process.versions.v8 ? ` v8:${process.versions.v8}` : '';
  return formatBugreport({
    software: [`celeriac:${info.version} node:${process.versions.node}${v8}`, `protocol:2 ${driverOf(transport)}`],
    system: osType(),
    arch: `${arch()}, ${endianness()}`,
    kernelVersion: release(),
    imp: 'Node.js',
    loader: info.appModule ?? 'celeriac (no -A: settings from the environment and --config)',
    transport,
    resultBackend: conf.resultBackend,
    settings: humanize(filterHiddenSettings(reportSettings(info.app, info.env))),
  });
}

export function registerReport(program: Command, version: string): void {
  program
    .command('report')
    .description("Show information useful to include in bug reports (Celery's `celery report`): versions, platform, transport, and the settings that differ from the defaults, secrets masked.")
    .action(async (_flags: unknown, command: Command) => {
      const g = globalsOf(command);
      let app: Celery | null = null;
      try {
        app = await appForCommand(g);
        process.stdout.write(bugreport({ version, app, appModule: appSpec(g) ?? null }) + '\n');
      } catch (err) {
        process.exitCode = reportError('report', err, { traceback: g.traceback ?? false });
      } finally {
        await closeApp(app);
      }
    });
}
