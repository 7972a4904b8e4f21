/**
 * Access to the real peers the contract and interop tests need: Python Celery (in .venv-celery),
 * Redis and RabbitMQ. Outside CI a missing peer skips the test with the reason; with CI=true it fails.
 */
import { existsSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { TestContext } from 'node:test';

export const PYTHON = process.env.CELERIAC_PYTHON ?? '.venv-celery/bin/python';
export const REDIS_HOST = process.env.CELERIAC_REDIS_HOST ?? '127.0.0.1';
export const REDIS_PORT = Number(process.env.CELERIAC_REDIS_PORT ?? 6379);
export const AMQP_URL = process.env.CELERIAC_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672//';
export const IN_CI = process.env.CI === 'true' || process.env.CI === '1';

/**
 * Python RedBeat's source (the peers folder beside the project, not on the package index): put it on
 * PYTHONPATH. CELERIAC_REDBEAT_PATH overrides; a clone elsewhere falls back to /work/shared/peers.
 */
export function redbeatPath(): string {
  if (process.env.CELERIAC_REDBEAT_PATH) return resolvePath(process.env.CELERIAC_REDBEAT_PATH);
  const beside = resolvePath('..', 'shared', 'peers', 'redbeat');
  return existsSync(beside) ? beside : '/work/shared/peers/redbeat';
}

/** A Redis URL on the given db. Each test file uses its own db number. */
export function redisUrl(db: number): string {
  return `redis://${REDIS_HOST}:${REDIS_PORT}/${db}`;
}

/** amqplib wants no trailing vhost slash for the default vhost. */
export function amqplibUrl(): string {
  return AMQP_URL.replace(/\/\/$/, '/');
}

/** A name no other test uses: `<prefix>.<random>`. */
export function uniqueName(prefix: string): string {
  return `${prefix}.${randomBytes(5).toString('hex')}`;
}

/** Skips (outside CI) or fails (in CI) when Python Celery is not installed. Returns false when skipped. */
export function requirePython(t: TestContext): boolean {
  if (existsSync(PYTHON)) return true;
  const why = `python celery not found at ${PYTHON}: run bash .ci/setup-python.sh`;
  if (IN_CI) throw new Error(why);
  t.skip(why);
  return false;
}

/** Runs a Python script with a JSON document on stdin; resolves with stdout, rejects with stderr. */
export function runPython(script: string, input: unknown, args: string[] = []): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, [script, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (err += d.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve(out);
      else reject(new Error(`${script} exited ${code}:\n${err}`));
    });
    child.stdin.end(JSON.stringify(input));
  });
}

export interface PythonWorker {
  readonly process: import('node:child_process').ChildProcess;
  /** Everything the worker printed so far. */
  log(): string;
  /** SIGTERM (warm shutdown), SIGKILL after 10 s. */
  stop(): Promise<void>;
}

/**
 * Starts a real Celery worker (`python -m celery -A <module> worker ...`) and resolves once it logs
 * `ready.`; rejects with its output if it exits or does not get ready in time.
 */
export async function startPythonWorker(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<PythonWorker> {
  const { resolve } = await import('node:path');
  const child = spawn(resolve(PYTHON), ['-m', 'celery', ...args], {
    cwd: options.cwd, env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.on('error', (err) => (log += `spawn failed: ${err.message}`));
  child.stdout!.on('data', (d: Buffer) => (log += d.toString('utf8')));
  child.stderr!.on('data', (d: Buffer) => (log += d.toString('utf8')));
  const end = Date.now() + (options.timeoutMs ?? 40_000);
  while (!/ready\./.test(log)) {
    if (Date.now() > end || child.exitCode !== null) {
      child.kill('SIGKILL');
      throw new Error(`python worker did not start:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    process: child,
    log: () => log,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
