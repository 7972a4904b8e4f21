/** Shared helpers of the worker tests: Redis db 12, a Python Celery peer that sends and reads results. */
import { Celery } from '../../src/app.ts';
import { createLogger, silentLogger, type WorkerLogger } from '../../src/worker/log.ts';
import { redisUrl, runPython } from './peers.ts';

/** The worker tests use db 12 only. */
export const DB = 12;
export const URL = redisUrl(DB);
export const PEER = 'test/python/worker_peer.py';

/** A logger for tests: silent unless CELERIAC_TEST_LOG=debug|info|... */
export function testLogger(): WorkerLogger {
  const lvl = process.env.CELERIAC_TEST_LOG;
  return lvl ? createLogger(lvl as 'debug') : silentLogger;
}

/** Broker and backend of a peer (default: Redis db 12 for both). */
export interface PeerUrls {
  broker: string;
  backend: string;
}
const DEFAULT_URLS: PeerUrls = { broker: URL, backend: URL };

export function newApp(queue: string, settings: Record<string, unknown> = {}, urls: PeerUrls = DEFAULT_URLS): Celery {
  return new Celery({ broker_url: urls.broker, result_backend: urls.backend, task_default_queue: queue, env: {}, ...settings });
}

export interface Outcome {
  id: string;
  state: string;
  result?: unknown;
  exception?: { exc_type: string; exc_module: string; args: unknown[] };
  exception_repr?: string;
  traceback?: string | null;
  meta?: Record<string, unknown>;
  error?: string;
}

/** Runs ops in real Python Celery (test/python/worker_peer.py); returns each op's result. */
export async function peer(ops: object[], conf: object = {}, urls: PeerUrls = DEFAULT_URLS): Promise<unknown[]> {
  const out = await runPython(PEER, { broker: urls.broker, backend: urls.backend, conf, ops });
  const lines = out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { op: string; result?: unknown; error?: string; traceback?: string });
  for (const l of lines) if (l.error) throw new Error(`python ${l.op}: ${l.error}\n${l.traceback ?? ''}`);
  return lines.map((l) => l.result);
}

export async function send(name: string, args: unknown[] = [], options: object = {}, kwargs: object = {}, urls: PeerUrls = DEFAULT_URLS): Promise<string> {
  return (await peer([{ op: 'send', name, args, kwargs, options }], {}, urls))[0] as string;
}

export async function get(id: string, timeout = 10, urls: PeerUrls = DEFAULT_URLS): Promise<Outcome> {
  return (await peer([{ op: 'get', id, timeout }], {}, urls))[0] as Outcome;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
