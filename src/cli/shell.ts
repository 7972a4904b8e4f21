/**
 * `celeriac shell`: a Node REPL (`node:repl`, top-level `await`) with the app loaded, as Celery's
 * `celery shell` gives a Python shell with it:
 *
 *   $ celeriac -A ./tasks.ts shell
 *   celeriac shell: Node.js v22.12.0, app ./tasks.ts, broker redis://localhost:6379/0, results redis://localhost:6379/1
 *   Loaded: app, celery, AsyncResult, signature, chain, group, chord, chunks, xmap, xstarmap, tasks
 *   Tasks: add (proj.add), mul (proj.mul)
 *   celeriac> r = await add.delay(2, 3)
 *   celeriac> await r.get({ timeout: 10 })
 *   5
 *
 * `app` and `celery` are the app; every task declared on it is there by its short name (the part after
 * the last dot, as Celery's shell names tasks by their function; left out when two tasks share it or
 * it would hide a global) and by its full name under `tasks` (`tasks['proj.add']`), except Celery's
 * built-in `celery.*` tasks; `-T/--without-tasks` leaves them out. `AsyncResult(id)` is
 * `app.AsyncResult(id)`; `signature`, `chain`, `group`, `chord`, `chunks`, `xmap`, `xstarmap` build canvas
 * signatures (`app.applyAsync(sig)` sends one). Standard input need not be a terminal: piped lines
 * are evaluated in order and the shell ends with the input.
 */
import type { Command } from 'commander';
import { start, type REPLServer } from 'node:repl';
import { chunks, signature, xmap, xstarmap } from '../../protocol/canvas.ts';
import type { PyDict, PyValue } from '../../protocol/values.ts';
import type { Celery, TaskHandle } from '../app.ts';
import type { SignatureDict } from '../../protocol/types.ts';
import { appForCommand, appSpec, globalsOf } from './context.ts';
import { redactUrls, reportError } from './exit.ts';
import { closeApp } from './result.ts';

/** The names the shell defines, besides the tasks. */
export const SHELL_NAMES = ['app', 'celery', 'AsyncResult', 'signature', 'chain', 'group', 'chord', 'chunks', 'xmap', 'xstarmap', 'tasks'] as const;

/** What the shell puts in its context: the names above and the tasks by short name. */
export function shellContext(app: Celery, options: { withTasks?: boolean; reserved?: ReadonlySet<string> } = {}): { context: Record<string, unknown>; shortNames: Map<string, string> } {
  const tasks: Record<string, TaskHandle> = {};
  const shortNames = new Map<string, string>();
  const context: Record<string, unknown> = {
    app,
    celery: app,
    AsyncResult: (id: string) => app.AsyncResult(id),
    signature: (name: string, args: PyValue[] = [], kwargs: PyDict = {}, opts: PyDict = {}) => signature(name, args, kwargs, opts),
    chain: (...steps: SignatureDict[]) => app.chain(...(steps.length === 1 && Array.isArray(steps[0]) ? (steps[0] as SignatureDict[]) : steps)),
    group: (...members: SignatureDict[]) => app.group(members.length === 1 && Array.isArray(members[0]) ? (members[0] as SignatureDict[]) : members),
    chord: (header: SignatureDict[] | SignatureDict, body: SignatureDict, opts: PyDict = {}) => app.chord(header, body, opts),
    chunks: (task: SignatureDict, it: PyValue[][], n: number) => chunks(task, it, n),
    xmap: (task: SignatureDict, it: PyValue[]) => xmap(task, it),
    xstarmap: (task: SignatureDict, it: PyValue[][]) => xstarmap(task, it),
    tasks,
  };
  if (options.withTasks === false) return { context, shortNames };
  const reserved = options.reserved ?? new Set<string>();
  const seen = new Map<string, number>();
  const names = [...app.tasks.keys()].filter((n) => !n.startsWith('celery.')).sort();
  for (const name of names) {
    tasks[name] = app.task(name);
    const short = name.slice(name.lastIndexOf('.') + 1);
    seen.set(short, (seen.get(short) ?? 0) + 1);
  }
  for (const name of names) {
    const short = name.slice(name.lastIndexOf('.') + 1);
    if (seen.get(short) !== 1 || !/^[A-Za-z_$][\w$]*$/.test(short) || short in context || reserved.has(short)) continue;
    context[short] = tasks[name];
    shortNames.set(short, name);
  }
  return { context, shortNames };
}

/** The lines printed before the first prompt. */
export function shellBanner(app: Celery, spec: string | undefined, shortNames: ReadonlyMap<string, string>, taskNames: readonly string[]): string {
  const c = app.conf;
  const lines = [
    `celeriac shell: Node.js ${process.version}, app ${spec ?? '(none: settings from the environment)'}, ` +
      `broker ${redactUrls(c.brokerUrl)}, results ${c.resultBackend ? redactUrls(c.resultBackend) : 'disabled'}`,
    `Loaded: ${SHELL_NAMES.join(', ')}`,
  ];
  const byFull = new Map([...shortNames].map(([s, f]) => [f, s]));
  if (taskNames.length) lines.push(`Tasks: ${taskNames.map((n) => (byFull.has(n) ? `${byFull.get(n)} (${n})` : `tasks['${n}']`)).join(', ')}`);
  return lines.join('\n') + '\n';
}

export function registerShell(program: Command): void {
  program
    .command('shell')
    .description("Start a Node REPL with the app, its tasks, AsyncResult and the canvas helpers loaded (Celery's `celery shell`); top-level await works.")
    .option('-T, --without-tasks', "don't add the tasks to the shell's globals")
    .action(async (flags: { withoutTasks?: boolean }, command: Command) => {
      const g = globalsOf(command);
      let app: Celery | null = null;
      try {
        app = await appForCommand(g);
        const reserved = new Set(Object.getOwnPropertyNames(globalThis));
        const { context, shortNames } = shellContext(app, { withTasks: !flags.withoutTasks, reserved });
        const taskNames = Object.keys(context.tasks as object);
        if (!g.quiet) process.stdout.write(shellBanner(app, appSpec(g), shortNames, taskNames));
        const terminal = process.stdin.isTTY === true && process.stdout.isTTY === true;
        const repl: REPLServer = start({ prompt: 'celeriac> ', input: process.stdin, output: process.stdout, terminal, useGlobal: false, preview: terminal });
        Object.assign(repl.context, context);
        repl.on('reset', (ctx: Record<string, unknown>) => Object.assign(ctx, context));
        // piped lines do not wait for an `await` of the line before: evaluate one line at a time
        const evaluate = repl.eval;
        let queue: Promise<void> = Promise.resolve();
        (repl as { eval: typeof evaluate }).eval = (cmd, ctx, file, cb) => {
          queue = queue.then(() => new Promise<void>((done) => {
            evaluate.call(repl, cmd, ctx, file, (err, result) => {
              cb(err, result);
              done();
            });
          }));
        };
        await new Promise<void>((resolve) => repl.on('exit', () => resolve()));
        await queue;
      } catch (err) {
        process.exitCode = reportError('shell', err, { traceback: g.traceback ?? false });
      } finally {
        await closeApp(app);
      }
    });
}
