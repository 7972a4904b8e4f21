/**
 * Private Redis servers for tests that need a server configured their own way (passwords, TLS,
 * sentinels): each is a `redis-server` child on a free port in 16380-16399, in its own temp dir,
 * with no persistence, killed by `stop()`. Outside CI a missing `redis-server`/`openssl` skips the
 * test (see {@link requireBinaries}); with CI=true it fails.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { IN_CI } from './peers.ts';

export const REDIS_SERVER = process.env.CELERIAC_REDIS_SERVER ?? 'redis-server';
const PORT_MIN = 16380;
const PORT_MAX = 16399;

/** True when every binary answers `--version`; skips (outside CI) or throws (in CI) otherwise. */
export function requireBinaries(t: Pick<TestContext, 'skip'>, names: string[] = [REDIS_SERVER]): boolean {
  for (const name of names) {
    const r = spawnSync(name, name === 'openssl' ? ['version'] : ['--version'], { stdio: 'ignore' });
    if (r.error || r.status !== 0) {
      const why = `${name} not found: run bash .ci/brokers.sh`;
      if (IN_CI) throw new Error(why);
      t.skip(why);
      return false;
    }
  }
  return true;
}

/** A fresh temp dir; removed by {@link cleanupDirs}. */
const dirs: string[] = [];
export function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), `celeriac-${prefix}-`));
  dirs.push(d);
  return d;
}
export function cleanupDirs(): void {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** Something accepts TCP connections on the port. */
export function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

const taken = new Set<number>();
async function pickPort(): Promise<number> {
  const ports = Array.from({ length: PORT_MAX - PORT_MIN + 1 }, (_, i) => PORT_MIN + i).filter((p) => !taken.has(p));
  // random order: other test processes pick from the same range at the same time
  for (let i = ports.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [ports[i], ports[j]] = [ports[j]!, ports[i]!];
  }
  for (const p of ports) {
    if (await portFree(p)) {
      taken.add(p);
      return p;
    }
  }
  throw new Error(`no free port in ${PORT_MIN}-${PORT_MAX} for a private redis-server`);
}

export interface PrivateRedis {
  readonly port: number;
  readonly dir: string;
  readonly process: ChildProcess;
  /** Everything the server logged so far. */
  log(): string;
  /** SIGKILL (nothing to persist) and wait for the exit. */
  stop(): Promise<void>;
}

export interface StartOptions {
  /** `redis-server` arguments besides port/dir/persistence, e.g. `['--requirepass', 'pw']`. */
  args?: string[];
  /** A config file's text (written to `<dir>/redis.conf` and passed first); sentinels need one. */
  conf?: string;
  /** Run as a sentinel (`--sentinel`). */
  sentinel?: boolean;
  /** TLS only: the port is the `--tls-port` and `--port 0` disables plain TCP. */
  tls?: boolean;
  prefix?: string;
}

const running = new Set<PrivateRedis>();

/** Starts a private `redis-server` and resolves once it accepts connections. Retries on a port race. */
export async function startRedis(options: StartOptions = {}): Promise<PrivateRedis> {
  let lastErr: Error | undefined;
  for (let attempt = 0; attempt < 4; attempt++) {
    const port = await pickPort();
    try {
      return await startOn(port, options);
    } catch (err) {
      lastErr = err as Error;
      if (!/Address already in use|bind/i.test(lastErr.message)) throw lastErr;
    }
  }
  throw lastErr!;
}

async function startOn(port: number, options: StartOptions): Promise<PrivateRedis> {
  const dir = tempDir(options.prefix ?? (options.sentinel ? 'sentinel' : 'redis'));
  const args: string[] = [];
  if (options.conf !== undefined) {
    const confPath = join(dir, 'redis.conf');
    writeFileSync(confPath, options.conf);
    args.push(confPath);
  }
  if (options.sentinel) args.push('--sentinel');
  args.push('--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no');
  if (options.tls) args.push('--port', '0', '--tls-port', String(port));
  else args.push('--port', String(port));
  args.push(...(options.args ?? []));
  const child = spawn(REDIS_SERVER, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.on('error', (err) => (log += `spawn failed: ${err.message}\n`));
  child.stdout!.on('data', (d: Buffer) => (log += d.toString('utf8')));
  child.stderr!.on('data', (d: Buffer) => (log += d.toString('utf8')));
  const server: PrivateRedis = {
    port,
    dir,
    process: child,
    log: () => log,
    async stop() {
      running.delete(server);
      taken.delete(port);
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    },
  };
  running.add(server);
  const end = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null || /spawn failed/.test(log)) {
      await server.stop();
      throw new Error(`redis-server ${args.join(' ')} did not start:\n${log}`);
    }
    if (/Ready to accept connections|Sentinel ID is/.test(log) && (await portOpen(port))) return server;
    if (Date.now() > end) {
      await server.stop();
      throw new Error(`redis-server on ${port} not ready after 15 s:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Stops every server this process started (for `after`). */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((s) => s.stop()));
}

export interface Certs {
  dir: string;
  /** The CA that signed the server and client certificates. */
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** A CA that signed nothing here: verifying the server against it fails. */
  otherCa: string;
}

function openssl(dir: string, args: string[]): void {
  const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
  if (r.error || r.status !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${r.error?.message ?? r.stderr}`);
}

/** A CA, a server certificate for 127.0.0.1/localhost, a client certificate, and an unrelated CA. */
export function makeCerts(): Certs {
  const dir = tempDir('tls');
  const ext = join(dir, 'san.ext');
  writeFileSync(ext, 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\n');
  const ca = (name: string) => {
    openssl(dir, ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=${name}`,
      '-keyout', `${name}.key`, '-out', `${name}.crt`]);
  };
  const leaf = (name: string, signer: string) => {
    openssl(dir, ['req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${name}`, '-keyout', `${name}.key`, '-out', `${name}.csr`]);
    openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', `${signer}.crt`, '-CAkey', `${signer}.key`, '-CAcreateserial',
      '-days', '2', '-extfile', 'san.ext', '-out', `${name}.crt`]);
  };
  ca('celeriac-test-ca');
  ca('celeriac-other-ca');
  leaf('server', 'celeriac-test-ca');
  leaf('client', 'celeriac-test-ca');
  const p = (f: string) => join(dir, f);
  return {
    dir, ca: p('celeriac-test-ca.crt'), serverCert: p('server.crt'), serverKey: p('server.key'),
    clientCert: p('client.crt'), clientKey: p('client.key'), otherCa: p('celeriac-other-ca.crt'),
  };
}
