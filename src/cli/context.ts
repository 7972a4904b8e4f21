/**
 * What every command that talks to a broker or a result backend shares (Celery's `CLIContext` and
 * the global options of `celery/bin/celery.py`): one way to name the app and its connections.
 *
 *   celeriac -A ./tasks.ts -b redis://cache:6379/0 call proj.add -a '[2, 3]' --wait
 *   celeriac call -A ./tasks.ts proj.add -a '[2, 3]' --wait        # the same: before or after the command
 *
 * `-A/--app MODULE` loads the app module, whose settings (broker, backend, routes, serializers, ...)
 * the command uses. As in Celery, `-b/--broker`, `--result-backend` and `--config` set
 * `CELERY_BROKER_URL`, `CELERY_RESULT_BACKEND` and `CELERY_CONFIG_MODULE` before the app module is
 * imported, so the precedence is Celery's: flag > environment variable > the app's own settings >
 * the config module > the defaults. `CELERY_APP` names the app when `-A` is not given.
 */
import type { Command } from 'commander';
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { Celery } from '../app.ts';
import { createBroker } from '../brokers/index.ts';
import { preloadConfigModule } from '../config-module.ts';
import { importUserModule, loadApp } from './load-app.ts';
import { UsageError } from './exit.ts';

/** The global options, as commander hands them over (`command.optsWithGlobals()`). */
export interface GlobalOptions {
  app?: string;
  broker?: string;
  resultBackend?: string;
  config?: string;
  workdir?: string;
  traceback?: boolean;
  quiet?: boolean;
}

/** Adds Celery's global options to the program; commander accepts them before or after the command. */
export function registerGlobalOptions(program: Command): void {
  program
    .option('-A, --app <module>', 'the app module: a path (.ts, .mts, .cts, .js, .mjs, .cjs) or a package, `module:name` for an export other than default/app/celery (env CELERY_APP)')
    .option('-b, --broker <url>', 'broker URL, over the app\'s broker_url (env CELERY_BROKER_URL)')
    .option('--result-backend <url>', 'result backend URL, over the app\'s result_backend (env CELERY_RESULT_BACKEND)')
    .option('--config <module>', 'a module of Celery settings, below the app\'s own (env CELERY_CONFIG_MODULE)')
    .option('--workdir <dir>', 'change to this directory first')
    .option('--traceback', 'print the stack trace of an error (and a failed task\'s traceback)')
    .option('-q, --quiet', 'print only results and errors');
}

/** The global options of a command's invocation (wherever on the line they were given). */
export function globalsOf(command: Command): GlobalOptions {
  return command.optsWithGlobals() as GlobalOptions;
}

/**
 * Celery's order: `--workdir` first, then the flags become the environment variables that override
 * the app's settings (`celery/bin/celery.py` sets `os.environ` the same way).
 */
export function applyGlobals(g: GlobalOptions, env: NodeJS.ProcessEnv = process.env): void {
  if (g.workdir !== undefined) {
    const dir = resolve(g.workdir);
    if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UsageError(`--workdir ${g.workdir}: no such directory`);
    process.chdir(dir);
  }
  if (g.broker !== undefined) {
    if (g.broker.trim() === '') throw new UsageError('-b/--broker needs a URL, e.g. -b redis://localhost:6379/0');
    env.CELERY_BROKER_URL = g.broker;
  }
  if (g.resultBackend !== undefined) {
    if (g.resultBackend.trim() === '') throw new UsageError('--result-backend needs a URL, e.g. --result-backend redis://localhost:6379/1');
    env.CELERY_RESULT_BACKEND = g.resultBackend;
  }
  if (g.config !== undefined) env.CELERY_CONFIG_MODULE = g.config;
}

/** The app module a command uses: `-A`, else `CELERY_APP`, else none. */
export function appSpec(g: GlobalOptions, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const spec = g.app ?? env.CELERY_APP;
  return spec === undefined || spec.trim() === '' ? undefined : spec;
}

/**
 * The app a command talks through: the `-A` module's (settings from it, the config module and the
 * environment), or, without one, an app of the config module's and the environment's settings.
 * `requireApp`: the command needs the app's tasks (`worker`).
 */
export async function appForCommand(g: GlobalOptions, options: { requireApp?: string } = {}): Promise<Celery> {
  applyGlobals(g);
  const configSpec = process.env.CELERY_CONFIG_MODULE;
  if (configSpec) preloadConfigModule(configSpec, await importUserModule(configSpec, process.cwd()));
  const spec = appSpec(g);
  if (spec !== undefined) return loadApp(spec);
  if (options.requireApp) throw new UsageError(options.requireApp);
  // the command reports the final error itself; the transport's reconnect messages are noise here
  return new Celery({ createBroker: (url, transport) => createBroker(url, transport, { onError: () => undefined }) });
}
