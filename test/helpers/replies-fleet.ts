/**
 * A fleet of one TypeScript and Python workers with the same tasks and settings, for the tests that
 * compare what a TS worker answers / sends with what a Python worker does (test/interop/worker-replies*,
 * flower*): real Celery's client (test/python/replies_peer.py), its EventReceiver logging every event,
 * and Python workers of test/python/replies_tasks.py. Each fleet has its own control and event
 * exchanges, so broadcasts of other suites on the same broker never reach it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { Celery } from '../../src/app.ts';
import { PYTHON, runPython, startPythonWorker, uniqueName, type PythonWorker } from './peers.ts';
import type { BrokerCase } from './matrix.ts';

export const PEER = 'test/python/replies_peer.py';

export class ValueError extends Error {
  override name = 'ValueError';
}

/** The names and settings of one fleet. */
export interface FleetNames {
  prefix: string;
  /** Settings both sides get (own control/event exchanges, the matrix's, the test's). */
  settings: Record<string, unknown>;
}

export function fleetNames(prefix: string, b: BrokerCase, extra: Record<string, unknown> = {}): FleetNames {
  const p = uniqueName(prefix);
  return { prefix: p, settings: { control_exchange: `${p}.ctl`, event_exchange: `${p}.ev`, ...b.settings, ...extra } };
}

/** The TypeScript app with test/python/replies_tasks.py's tasks (same names, same options). */
export function repliesApp(b: BrokerCase, settings: Record<string, unknown>): Celery {
  const app = new Celery({ broker_url: b.brokerUrl, result_backend: b.backendUrl, env: {}, ...settings });
  app.task('rp.add', (x: number, y: number) => x + y);
  app.task('rp.limited', (x: unknown) => x, { rateLimit: '2/s', timeLimit: 10, acksLate: true, maxRetries: 5 });
  app.task('rp.sleep', async (seconds: number) => {
    await new Promise((r) => setTimeout(r, seconds * 1000));
    return seconds;
  });
  app.task('rp.fail', (msg: string) => {
    throw new ValueError(msg);
  });
  return app;
}

/** A Python worker of test/python/replies_tasks.py (`-n name -Q queue`, more args after: `--without-gossip`...). */
export function startPyWorker(b: BrokerCase, settings: Record<string, unknown>, name: string, queue: string, more: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<PythonWorker> {
  return startPythonWorker(['-A', 'replies_tasks', 'worker', '-n', name, '-Q', queue, '-l', 'info', ...more], {
    cwd: 'test/python',
    env: { REPLIES_BROKER: b.brokerUrl, REPLIES_BACKEND: b.backendUrl, REPLIES_CONF: JSON.stringify(settings), ...env },
  });
}

/** Runs ops in real Celery's client (see test/python/replies_peer.py); each op's result, in order. */
export async function peer(b: BrokerCase, settings: Record<string, unknown>, ops: object[]): Promise<any[]> {
  const out = await runPython(PEER, { broker: b.brokerUrl, backend: b.backendUrl, conf: settings, ops });
  const lines = out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l.replace(/\bInfinity\b/g, '1e999')) as { op: string; result?: unknown; error?: string; traceback?: string });
  for (const l of lines) if (l.error) throw new Error(`python ${l.op}: ${l.error}\n${l.traceback ?? ''}`);
  return lines.map((l) => l.result);
}

/** A broadcast's replies (`[{node: reply}, ...]`) as one `{node: reply}`. */
export function byNode(replies: unknown): Record<string, any> {
  return Object.assign({}, ...((replies as Record<string, unknown>[] | null) ?? []));
}

export type LoggedEvent = Record<string, any> & { type: string; hostname: string };

/** Celery's EventReceiver logging every event of the fleet's event exchange, in arrival order. */
export interface EventLog {
  readonly events: LoggedEvent[];
  /** Resolves with the first event (already logged or to come) that matches; rejects after `ms`. */
  waitFor(match: (e: LoggedEvent) => boolean, ms?: number): Promise<LoggedEvent>;
  stop(): Promise<void>;
}

export async function startEventLog(b: BrokerCase, settings: Record<string, unknown>): Promise<EventLog> {
  const child: ChildProcess = spawn(resolve(PYTHON), [PEER, 'events'], { stdio: ['pipe', 'pipe', 'pipe'] });
  const events: LoggedEvent[] = [];
  let ready = false;
  let buf = '';
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString('utf8')));
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString('utf8');
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i).trim();
      buf = buf.slice(i + 1);
      if (line === 'ready') ready = true;
      else if (line) events.push(JSON.parse(line) as LoggedEvent);
    }
  });
  child.stdin!.write(`${JSON.stringify({ broker: b.brokerUrl, conf: settings })}\n`);
  const end = Date.now() + 30_000;
  while (!ready) {
    if (Date.now() > end || child.exitCode !== null) {
      child.kill('SIGKILL');
      throw new Error(`replies_peer.py events did not get ready:\n${err}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    events,
    async waitFor(match, ms = 20_000) {
      const until = Date.now() + ms;
      for (;;) {
        const e = events.find(match);
        if (e) return e;
        if (Date.now() > until) throw new Error(`no such event within ${ms} ms; got: ${events.map((x) => `${x.hostname}:${x.type}`).join(' ')}\n${err}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.stdin!.end('stop\n');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
