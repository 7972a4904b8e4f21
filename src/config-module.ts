/**
 * Settings from a config module: Celery's `app.config_from_object(module)` and `CELERY_CONFIG_MODULE`
 * (which the CLI's `--config MODULE` sets, as `celery --config` does). A config module is a JS or TS
 * module of Celery-named settings, as named exports or one default-exported object:
 *
 *   // celeryconfig.ts
 *   export const broker_url = 'redis://redis:6379/0';
 *   export const task_routes = { 'feed.*': { queue: 'feeds' } };
 *
 * Precedence, as in Celery: `CELERY_BROKER_URL` / `CELERY_RESULT_BACKEND` (and `-b` / `--result-backend`,
 * which set them) over the app's own settings (`createApp({...})`) over the config module over the
 * defaults. Exports whose names start with `_` or are all UPPER_CASE (constants) are not settings and
 * are skipped, except Celery's pre-4.0 names (`BROKER_URL`, ...), which fail with the new name; any
 * other unknown name fails with the nearest setting names, so a typo is never silently ignored.
 *
 * The CLI imports the module (any of .js/.mjs/.cjs/.ts/.mts/.cts) before the app module and hands the
 * settings over with {@link preloadConfigModule}; other programs that set `CELERY_CONFIG_MODULE` get a
 * module `require()` can load (.js, .cjs, .mjs without top-level await, .json, or a package).
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isAbsolute, join, resolve } from 'node:path';
import { isPlainObject } from '../protocol/values.ts';
import { isSettingName } from './config.ts';
import { ConfigurationError } from './errors.ts';

const preloaded = new Map<string, Record<string, unknown>>();

/** The settings a module namespace (or plain object) holds, per the rules in the module notes. */
export function settingsOf(source: unknown, name: string): Record<string, unknown> {
  if (source === null || (typeof source !== 'object' && typeof source !== 'function')) {
    throw new ConfigurationError(`${name}: a config module must export settings, got ${source === null ? 'null' : typeof source}`);
  }
  const ns = source as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  const take = (from: Record<string, unknown>) => {
    for (const key of Object.keys(from)) {
      if (key === 'default' || key === '__esModule' || key.startsWith('_')) continue;
      if (/^[A-Z0-9_]+$/.test(key) && !isSettingName(key)) continue; // a constant, not a setting
      out[key] = from[key];
    }
  };
  // `export default {...}` / `module.exports = {...}`: the object's keys; named exports beside it win
  if (isPlainObject(ns.default)) take(ns.default as Record<string, unknown>);
  take(ns);
  return out;
}

/** Hands over the settings of a config module the caller imported itself (the CLI's `--config`). */
export function preloadConfigModule(spec: string, namespace: unknown): void {
  preloaded.set(spec, settingsOf(namespace, `config module ${spec}`));
}

/**
 * The settings of the config module `spec` (`CELERY_CONFIG_MODULE`): the preloaded ones, else the
 * module loaded with `require()` relative to `cwd`.
 */
export function configModuleSettings(spec: string, cwd = process.cwd()): Record<string, unknown> {
  const known = preloaded.get(spec);
  if (known) return known;
  const name = `config module ${spec} (CELERY_CONFIG_MODULE)`;
  if (/\.[cm]?tsx?$/.test(spec)) {
    throw new ConfigurationError(
      `${name}: a TypeScript config module is loaded by the celeriac CLI (--config); ` +
        'in your own program, import it and pass it to app.configFromObject()',
    );
  }
  const req = createRequire(join(cwd, '__celeriac_config__.js'));
  const local = isAbsolute(spec) || spec.startsWith('.') ? spec : existsSync(resolve(cwd, spec)) || existsSync(resolve(cwd, `${spec}.js`)) ? `./${spec}` : spec;
  let ns: unknown;
  try {
    ns = req(local);
  } catch (err) {
    const e = err as Error & { code?: string };
    if (e.code === 'MODULE_NOT_FOUND' && e.message.includes(`'${local}'`)) {
      throw new ConfigurationError(`${name}: no such module (looked for ${resolve(cwd, local)} and a package named ${JSON.stringify(spec)})`, { cause: err });
    }
    throw new ConfigurationError(`${name}: loading it failed: ${e.message.split('\n')[0]}`, { cause: err });
  }
  const settings = settingsOf(ns, name);
  preloaded.set(spec, settings);
  return settings;
}
