/**
 * Running the operator commands side by side for test/interop/cli-*.test.ts: `celeriac` (bin/celeriac.js)
 * with test/helpers/ops-app.ts and Python's `celery` with test/python/ops_peer.py, both configured by
 * the same OPS_* environment variables, standard input given or closed.
 */
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import type { TestContext } from 'node:test';
import { PYTHON, requirePython } from './peers.ts';
import { requireRabbit } from './private-rabbit.ts';
import { requireBinaries } from './private-redis.ts';

/**
 * Why a suite cannot run here (Python Celery, redis-server or rabbitmq-server missing), or null; with
 * CI=true a missing peer throws instead. For `before` hooks, which have no `t.skip`.
 */
export function missingPeers(needs: { python?: boolean; redisServer?: boolean; rabbit?: boolean }): string | null {
  let why: string | null = null;
  const ctx = { skip: (m?: string) => void (why = m ?? 'a peer is missing') };
  if (needs.python && !requirePython(ctx as unknown as TestContext)) return why;
  if (needs.redisServer && !requireBinaries(ctx)) return why;
  if (needs.rabbit && !requireRabbit(ctx)) return why;
  return null;
}

export interface Run {
  code: number | null;
  out: string;
  err: string;
}

/** The environment with nothing of the caller's Celery variables, plus `env`. */
function cleanEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  return { ...process.env, CELERY_BROKER_URL: '', CELERY_RESULT_BACKEND: '', CELERY_APP: '', CELERY_CONFIG_MODULE: '', NO_COLOR: '1', ...env };
}

function run(cmd: string, args: string[], options: { env: Record<string, string>; input?: string; cwd?: string; timeoutMs?: number }): Promise<Run> {
  return new Promise((done, fail) => {
    const child = spawn(cmd, args, { cwd: options.cwd, env: cleanEnv(options.env), stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (err += d.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    child.on('error', fail);
    child.on('close', (code) => {
      clearTimeout(timer);
      done({ code, out, err });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input ?? '');
  });
}

/** `celeriac <args>` (the global options given in `args`), as a user runs it. */
export function celeriacBare(args: string[], env: Record<string, string>, input?: string): Promise<Run> {
  return run(process.execPath, [resolve('bin/celeriac.js'), ...args], { env, input });
}

/** `celeriac -A test/helpers/ops-app.ts <args>`. */
export function celeriac(args: string[], env: Record<string, string>, input?: string): Promise<Run> {
  return run(process.execPath, [resolve('bin/celeriac.js'), '-A', resolve('test/helpers/ops-app.ts'), ...args], { env, input });
}

/** `celery -A ops_peer <args>` (in test/python). */
export function celery(args: string[], env: Record<string, string>, input?: string): Promise<Run> {
  return run(resolve(PYTHON), ['-m', 'celery', '-A', 'ops_peer', ...args], { env, input, cwd: resolve('test/python') });
}

/** `python ops_peer.py publish`: sends the tasks with Celery's apply_async, resolves with their ids. */
export async function publishWithPython(env: Record<string, string>, items: Record<string, unknown>[]): Promise<string[]> {
  const r = await run(resolve(PYTHON), ['ops_peer.py', 'publish'], { env, input: JSON.stringify(items), cwd: resolve('test/python') });
  if (r.code !== 0) throw new Error(`ops_peer.py publish exited ${r.code}: ${r.err}`);
  return JSON.parse(r.out) as string[];
}

export const show = (r: Run): string => `exit ${r.code}\nstdout: ${r.out}\nstderr: ${r.err}`;
