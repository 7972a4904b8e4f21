/**
 * Real Flower (mher/flower, from the peers folder beside the project: ../shared/peers/flower, or
 * CELERIAC_FLOWER_PATH) run by the interop tests with .venv-celery's Python against a fleet's app
 * (test/python/replies_tasks.py), on a free port, with its HTTP API open (FLOWER_UNAUTHENTICATED_API).
 * Its dependencies (tornado, prometheus_client, humanize, pytz) come from .ci/setup-flower.sh. Outside
 * CI a missing Flower or dependency skips the test; with CI=true it fails.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import type { TestContext } from 'node:test';
import type { BrokerCase } from './matrix.ts';
import { freePort } from './net.ts';
import { IN_CI, PYTHON } from './peers.ts';

export function flowerPath(): string {
  if (process.env.CELERIAC_FLOWER_PATH) return resolvePath(process.env.CELERIAC_FLOWER_PATH);
  const beside = resolvePath('..', 'shared', 'peers', 'flower');
  return existsSync(beside) ? beside : '/work/shared/peers/flower';
}

/** True when Flower imports in .venv-celery; skips (outside CI) or throws (in CI) otherwise. */
export function requireFlower(t: Pick<TestContext, 'skip'>): boolean {
  const r = existsSync(PYTHON)
    ? spawnSync(PYTHON, ['-c', 'import flower.app, tornado, prometheus_client, humanize, pytz'], { env: { ...process.env, PYTHONPATH: flowerPath() }, encoding: 'utf8' })
    : { status: 1, stderr: `no ${PYTHON}` };
  if (r.status === 0) return true;
  const why = `Flower does not import (${String(r.stderr).trim().split('\n').pop()}): run bash .ci/setup-flower.sh`;
  if (IN_CI) throw new Error(why);
  t.skip(why);
  return false;
}

export interface Flower {
  /** `http://127.0.0.1:<port>` */
  readonly base: string;
  log(): string;
  /** GET (or POST with a form) and the JSON answer, or the text when it is not JSON. */
  api(path: string, form?: Record<string, string | number | boolean>): Promise<{ status: number; body: any }>;
  stop(): Promise<void>;
}

/** Starts `python -m flower -A <module> flower` on a free port; resolves once /healthcheck answers. */
export async function startFlower(b: BrokerCase, settings: Record<string, unknown>, module = 'replies_tasks', env: NodeJS.ProcessEnv = {}): Promise<Flower> {
  const port = await freePort();
  const child = spawn(resolvePath(PYTHON), ['-m', 'flower', '-A', module, '--broker', b.brokerUrl, 'flower', `--port=${port}`, '--address=127.0.0.1'], {
    cwd: 'test/python',
    env: {
      ...process.env, PYTHONPATH: `${flowerPath()}:.`, FLOWER_UNAUTHENTICATED_API: 'true',
      REPLIES_BROKER: b.brokerUrl, REPLIES_BACKEND: b.backendUrl, REPLIES_CONF: JSON.stringify(settings), ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stdout!.on('data', (d: Buffer) => (log += d.toString('utf8')));
  child.stderr!.on('data', (d: Buffer) => (log += d.toString('utf8')));
  const base = `http://127.0.0.1:${port}`;
  const end = Date.now() + 30_000;
  for (;;) {
    try {
      if ((await fetch(`${base}/healthcheck`)).ok) break;
    } catch { /* not listening yet */ }
    if (Date.now() > end || child.exitCode !== null) {
      child.kill('SIGKILL');
      throw new Error(`flower did not start:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    base,
    log: () => log,
    async api(path, form) {
      const init: RequestInit = form
        ? { method: 'POST', body: new URLSearchParams(Object.entries(form).map(([k, v]): [string, string] => [k, String(v)])) }
        : {};
      const res = await fetch(base + path, init);
      const text = await res.text();
      try {
        return { status: res.status, body: JSON.parse(text) };
      } catch {
        return { status: res.status, body: text };
      }
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}
