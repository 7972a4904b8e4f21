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
 * and forms, masked as `celery.app.utils.filter_hidden_settings` masks them: a key matching
 * `API|TOKEN|KEY|SECRET|PASS|PROFANITIES_LIST|SIGNATURE|DATABASE|BEAT_DBURI` shows `********` (nested
 * dicts are masked key by key), a `*broker_url*` or `*backend*` URL its password as `********`.
 * Beyond Celery: a password in any other URL setting (`redbeat_redis_url`) is masked too, and Celery's
 * stray `deprecated_settings: None` line is not printed.
 */
import type { Command } from 'commander';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { arch, endianness, release, type as osType } from 'node:os';
import { dirname, join } from 'node:path';
import type { Celery } from '../app.ts';
import { DEFAULT_SETTINGS, SETTING_NAMES, toCamelCase, type Settings } from '../config.ts';
import { appForCommand, appSpec, globalsOf } from './context.ts';
import { reportError } from './exit.ts';
import { pretty } from './pprint.ts';
import { closeApp } from './result.ts';

/** Celery 5.6's `HIDDEN_SETTINGS`. */
export const HIDDEN_SETTINGS = /API|TOKEN|KEY|SECRET|PASS|PROFANITIES_LIST|SIGNATURE|DATABASE|BEAT_DBURI/i;
const MASK = '********';

/** Every `scheme://user:password@` in a text with the password replaced by `mask` (`;` failover lists too). */
export function maskUrlPassword(value: string, mask = MASK): string {
  return value.replace(/([a-z][a-z0-9+.-]*:\/\/)([^@/;\s]*)@/gi, (_m, scheme: string, auth: string) => {
    const i = auth.indexOf(':');
    return i < 0 ? `${scheme}${auth}@` : `${scheme}${auth.slice(0, i)}:${mask}@`;
  });
}

function isMapping(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && (Object.getPrototypeOf(v) === Object.prototype || Object.getPrototypeOf(v) === null);
}

/** `celery.app.utils.filter_hidden_settings` (plus URL passwords in any string, see the module notes). */
export function filterHiddenSettings(conf: Record<string, unknown>, mask = MASK): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(conf)) {
    if (isMapping(value)) out[key] = filterHiddenSettings(value, mask);
    else if (HIDDEN_SETTINGS.test(key)) out[key] = mask;
    else if (typeof value === 'string' && value.includes('://')) out[key] = maskUrlPassword(value, mask);
    else out[key] = value;
  }
  return out;
}

const RETRY_POLICY_NAMES: Record<string, string> = { maxRetries: 'max_retries', intervalStart: 'interval_start', intervalStep: 'interval_step', intervalMax: 'interval_max' };

/** A setting's value in Celery's form (what `app.conf` holds in Python). */
function celeryForm(name: string, value: unknown): unknown {
  if (name === 'task_publish_retry_policy' && isMapping(value)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [RETRY_POLICY_NAMES[k] ?? k, v]));
  }
  return value;
}

function same(a: unknown, b: unknown): boolean {
  return a === b || JSON.stringify(a) === JSON.stringify(b);
}

/**
 * The settings Celery's `conf.table()` lists, in Celery's names and forms, unmasked: those the app was
 * given (`given`: the app's `changedSettings`, in the order they were given, as Celery's
 * `conf.without_defaults()`), else those that differ from the defaults. `broker_url` / `result_backend`
 * taken from `CELERY_BROKER_URL` / `CELERY_RESULT_BACKEND` (the `-b` / `--result-backend` flags) are
 * not the app's settings and are left out, as in Celery; without `given`, so are
 * `task_default_exchange` / `task_default_routing_key` when they follow `task_default_queue`.
 */
export function changedSettings(conf: Settings, env: NodeJS.ProcessEnv = process.env, given?: readonly string[]): Record<string, unknown> {
  const c = conf as unknown as Record<string, unknown>;
  const d = DEFAULT_SETTINGS as unknown as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const name of given ?? SETTING_NAMES) {
    const camel = toCamelCase(name);
    if (!(camel in c)) continue;
    const v = c[camel];
    if (name === 'broker_url' && env.CELERY_BROKER_URL && v === env.CELERY_BROKER_URL) continue;
    if (name === 'result_backend' && env.CELERY_RESULT_BACKEND && v === env.CELERY_RESULT_BACKEND) continue;
    if (!given) {
      if (same(v, d[camel])) continue;
      if ((name === 'task_default_exchange' || name === 'task_default_routing_key') && v === conf.taskDefaultQueue) continue;
    }
    out[name] = celeryForm(name, v);
  }
  return out;
}

/** `app.conf.humanize()`: `key: pretty(value, width=50)` per line, masked. */
export function humanizeSettings(settings: Record<string, unknown>): string {
  return Object.entries(filterHiddenSettings(settings)).map(([k, v]) => `${k}: ${pretty(v, 50)}`).join('\n');
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
  conf: Settings;
  /** Celery's names of the settings the app was given, in order (the app's `changedSettings`). */
  given?: readonly string[];
  /** The app module (`-A`), or null for an app made of the environment and the config module. */
  appModule: string | null;
  env?: NodeJS.ProcessEnv;
}

/** Celery's `bugreport(app)` text, celeriac's versions and Node's platform (see the module notes). */
export function bugreport(info: BugreportInfo): string {
  const transport = transportName(info.conf.brokerUrl);
  const results = info.conf.resultBackend ? maskUrlPassword(info.conf.resultBackend, '**') : 'disabled';
  const v8 = process.versions.v8 ? ` v8:${process.versions.v8}` : '';
  return [
    '',
    `software -> celeriac:${info.version} node:${process.versions.node}${v8}`,
    `            protocol:2 ${driverOf(transport)}`.trimEnd(),
    `platform -> system:${osType()} arch:${arch()}, ${endianness()}`,
    `            kernel version:${release()} imp:Node.js`,
    `loader   -> ${info.appModule ?? 'celeriac (no -A: settings from the environment and --config)'}`,
    `settings -> transport:${transport} results:${results}`,
    '',
    humanizeSettings(changedSettings(info.conf, info.env, info.given)),
    '',
  ].join('\n');
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
        const given = (app as { changedSettings?: readonly string[] }).changedSettings;
        process.stdout.write(bugreport({ version, conf: app.conf, appModule: appSpec(g) ?? null, ...(given ? { given } : {}) }) + '\n');
      } catch (err) {
        process.exitCode = reportError('report', err, { traceback: g.traceback ?? false });
      } finally {
        await closeApp(app);
      }
    });
}
