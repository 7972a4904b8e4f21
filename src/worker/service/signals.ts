/**
 * The worker's signals, as Celery's (`celery/apps/worker.py` install_worker_term_handler,
 * install_worker_term_hard_handler, install_worker_int_handler, install_worker_restart_handler,
 * install_cry_handler, on_cold_shutdown, during_soft_shutdown; `celery/worker/worker.py`
 * wait_for_soft_shutdown), checked against a Celery 5.6.3 worker:
 *
 * - TERM: warm shutdown (running tasks finish, prefetched messages go back), exit 0; a second TERM
 *   changes nothing. With `REMAP_SIGTERM=SIGQUIT` in the environment, TERM is QUIT.
 * - INT: warm shutdown, exit 1 ("Hitting Ctrl+C again will initiate cold shutdown..."); a second INT
 *   is cold.
 * - QUIT: cold shutdown (running tasks are not waited for), exit 0 (1 after an INT).
 * - Soft shutdown (Celery 5.5, `worker_soft_shutdown_timeout` > 0): a cold shutdown with tasks running
 *   (or with none, `worker_enable_soft_shutdown_on_idle`) first stops consuming and gives the running
 *   tasks that many seconds ("Initiating Soft Shutdown, terminating in N seconds"), then goes cold.
 *   Celery sleeps the whole timeout; here the wait ends early when the tasks are done. A cold signal
 *   during it ends it ("Waiting gracefully for cold shutdown to complete...").
 * - INT/QUIT once the shutdown is cold: the process ends at once, exit 1 (Celery's hard shutdown).
 * - USR1: each running task (id, name, args, kwargs, runtime so far) and the main stack, to the log
 *   (Celery's cry() dumps every thread's stack). A SIGUSR1 listener also keeps Node from opening its
 *   inspector on port 9229, which it does on SIGUSR1 when no listener is installed.
 * - HUP, when stdout is not a terminal (as Celery, so closing a terminal does not restart a worker
 *   into the background): restart. Warm shutdown, then the same command line in a new process with
 *   the same stdio; Node has no exec, so the pid changes: the new process takes over the pidfile
 *   (src/worker/service/pidfile.ts) and the old one exits once it has.
 */
import { spawn } from 'node:child_process';
import type { WorkerLogger } from '../log.ts';
import type { Worker } from '../worker.ts';
import { type Pidfile, TAKEOVER_ENV, waitForPidfile } from './pidfile.ts';

const EX_OK = 0;
const EX_FAILURE = 1;

/** What the signal handlers need of the worker. */
export type SignalledWorker = Pick<Worker, 'hostname' | 'stop' | 'requestsSnapshot'>;

/** USR1: the running tasks and the main thread's stack. */
export function dumpState(worker: SignalledWorker, now = Date.now()): string {
  const active = worker.requestsSnapshot().active;
  const lines = [`${worker.hostname} (pid ${process.pid}): ${active.length} running task(s)`, '='.repeat(49)];
  for (const r of active) {
    const runtime = r.timeStart === null ? 'not started' : `${((now - r.timeStart) / 1000).toFixed(3)}s`;
    lines.push(`${r.name}[${r.id}] running for ${runtime} args=${JSON.stringify(r.context.args)} kwargs=${JSON.stringify(r.context.kwargs)}`);
  }
  lines.push('', 'MainThread', '='.repeat(49));
  lines.push(...(new Error('stack').stack ?? '').split('\n').slice(1).map((l) => `  ${l.trimStart()}`));
  lines.push('='.repeat(49));
  return lines.join('\n');
}

export interface WorkerSignalsOptions {
  worker: SignalledWorker;
  /** Stops what runs beside the worker (an embedded beat) before it. */
  stopFirst?: () => Promise<void>;
  /** Where USR1 writes (the log) and the pidfile a HUP restart hands over. */
  service: { write(line: string): void; pidfile: Pidfile | null };
  logger: WorkerLogger;
  /** `worker_soft_shutdown_timeout` (seconds) and `worker_enable_soft_shutdown_on_idle`. @default off */
  softShutdown?: { timeout: number; onIdle?: boolean };
  /** Ends the process. @default process.exit */
  exit?: (code: number) => void;
  /** Reports a failed shutdown, returns the exit status. */
  onError?: (err: Error) => number;
  /** Where the handlers are installed. @default process.on */
  on?: (signal: NodeJS.Signals, handler: () => void) => void;
  /** Celery's safe_say: the lines it writes to stdout. */
  say?: (line: string) => void;
  /** Whether SIGHUP restarts. @default stdout is not a terminal */
  restartOnHup?: boolean;
  /** `REMAP_SIGTERM=SIGQUIT`. @default from the environment */
  remapSigterm?: boolean;
}

/** Installs Celery's worker signal handlers (see the module notes). */
export function installWorkerSignals(opts: WorkerSignalsOptions): void {
  const { worker, service, logger } = opts;
  const exit = opts.exit ?? ((code: number) => process.exit(code));
  const on = opts.on ?? ((sig, handler) => void process.on(sig, handler));
  const say = opts.say ?? ((line: string) => void process.stdout.write(line + '\n'));
  const soft = opts.softShutdown && opts.softShutdown.timeout > 0 ? opts.softShutdown : null;
  let state: 'running' | 'warm' | 'soft' | 'cold' = 'running';
  let exitcode = EX_OK;
  let intSeen = false;
  let restarting = false;
  let stopped: Promise<void> | null = null;
  let softTimer: NodeJS.Timeout | null = null;

  const finish = () => {
    if (stopped) return;
    stopped = (opts.stopFirst?.() ?? Promise.resolve()).then(() => worker.stop({ cold: state === 'cold' }));
    stopped.then(async () => {
      if (softTimer) clearTimeout(softTimer);
      if (restarting) await restart();
      exit(exitcode);
    }, (err: Error) => exit(opts.onError?.(err) ?? EX_FAILURE));
  };

  const goCold = () => {
    if (softTimer) clearTimeout(softTimer);
    state = 'cold';
    void worker.stop({ cold: true });
    finish();
  };

  const warm = (code: number) => {
    if (state === 'running') {
      state = 'warm';
      exitcode = code;
    }
    finish();
  };

  /** QUIT, a second INT, a remapped TERM. */
  const cold = (code: number) => {
    if (state === 'cold') return exit(EX_FAILURE); // Celery's hard shutdown
    if (state === 'soft') {
      say('Waiting gracefully for cold shutdown to complete...');
      return goCold();
    }
    say('worker: Hitting Ctrl+C again will terminate all running tasks!');
    exitcode = code;
    const busy = worker.requestsSnapshot().active.length > 0;
    if (soft && (busy || soft.onIdle)) {
      logger.warning(`Initiating Soft Shutdown, terminating in ${soft.timeout} seconds`);
      state = 'soft';
      softTimer = setTimeout(goCold, soft.timeout * 1000);
      finish(); // warm meanwhile: stop consuming, give back what has not started, wait for the running tasks
      return;
    }
    goCold();
  };

  const restart = async () => {
    const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
      stdio: 'inherit', env: { ...process.env, [TAKEOVER_ENV]: String(process.pid) },
    });
    child.once('error', (err) => service.write(`celeriac worker: restart failed: ${err.message}`));
    if (!(await waitForPidfile(child, service.pidfile, 60_000))) {
      service.write(`celeriac worker: restart failed: the new worker exited at startup (status ${child.exitCode ?? child.signalCode})`);
      exitcode = EX_FAILURE;
    }
    child.unref();
  };

  const remap = opts.remapSigterm ?? process.env.REMAP_SIGTERM === 'SIGQUIT';
  // the worker logs 'worker: Warm/Cold shutdown (MainProcess)' itself
  on('SIGTERM', () => (remap ? cold(state === 'running' ? EX_OK : exitcode) : warm(EX_OK)));
  on('SIGINT', () => {
    if (intSeen || state === 'cold' || state === 'soft') return cold(EX_FAILURE);
    intSeen = true;
    say('worker: Hitting Ctrl+C again will initiate cold shutdown, terminating all running tasks!');
    warm(EX_FAILURE);
  });
  on('SIGQUIT', () => cold(state === 'running' ? EX_OK : exitcode));
  on('SIGUSR1', () => service.write(dumpState(worker)));
  if (opts.restartOnHup ?? !process.stdout.isTTY) {
    on('SIGHUP', () => {
      if (state !== 'running') return;
      say(`Restarting celery worker (${process.argv.slice(1).join(' ')})`);
      restarting = true;
      warm(EX_OK);
    });
  }
}
