/**
 * Access to the real peers the contract and interop tests need: Python Celery (in .venv-celery),
 * Redis and RabbitMQ. Outside CI a missing peer skips the test with the reason; with CI=true it fails.
 */
import { existsSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { TestContext } from 'node:test';

export const PYTHON = process.env.CELERIAC_PYTHON ?? '.venv-celery/bin/python';
export const REDIS_HOST = process.env.CELERIAC_REDIS_HOST ?? '127.0.0.1';
export const REDIS_PORT = Number(process.env.CELERIAC_REDIS_PORT ?? 6379);
export const AMQP_URL = process.env.CELERIAC_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672//';
export const IN_CI = process.env.CI === 'true' || process.env.CI === '1';

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
