/**
 * A private RabbitMQ node for tests that stop and start the broker (the shared one on 5672 must not be
 * touched). Debian's `/usr/lib/rabbitmq/bin/rabbitmq-server` honours RABBITMQ_NODENAME, RABBITMQ_NODE_PORT,
 * RABBITMQ_DIST_PORT, RABBITMQ_MNESIA_BASE, RABBITMQ_LOG_BASE, RABBITMQ_ENABLED_PLUGINS_FILE (an empty
 * list: no management plugin, so nothing binds 15672), RABBITMQ_CONFIG_FILE (our own listener: the system
 * /etc/rabbitmq/rabbitmq.conf pins 5672) and RABBITMQ_CONF_ENV_FILE (the system one sets NODENAME).
 * epmd is shared (each node registers its own name). Data persists across stop/start (same mnesia dir).
 * Starting takes ~8 s; stop() is a graceful SIGTERM.
 *
 * Options: `tls` adds a TLS listener (`listeners.ssl.default`, `ssl_options.*`: the node's certificate,
 * the CA it trusts, `verify_peer` + `fail_if_no_peer_cert` when `requireClientCert`); `conf` adds lines
 * to rabbitmq.conf (e.g. `heartbeat = 2`, `vm_memory_high_watermark.absolute = 1`).
 * {@link PrivateRabbit.beamPid} is the Erlang VM's pid (SIGSTOP/SIGCONT simulate a stalled broker).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { IN_CI } from './peers.ts';

const SERVER = '/usr/lib/rabbitmq/bin/rabbitmq-server';
const CTL = '/usr/lib/rabbitmq/bin/rabbitmqctl';

export interface PrivateRabbitTls {
  /** The TLS listener's port. */
  port: number;
  cacertfile: string;
  certfile: string;
  keyfile: string;
  /** verify_peer + fail_if_no_peer_cert. @default false */
  requireClientCert?: boolean;
}

export interface PrivateRabbitOptions {
  port?: number;
  tls?: PrivateRabbitTls;
  /** Extra rabbitmq.conf lines. */
  conf?: string[];
}

export interface PrivateRabbit {
  readonly port: number;
  readonly url: string;
  /** `amqps://guest:guest@127.0.0.1:<tls port>//` when a TLS listener was configured. */
  readonly tlsUrl: string | null;
  /** The Erlang VM's OS pid (from RABBITMQ_PID_FILE), once started. */
  beamPid(): number;
  /** `rabbitmqctl <args>` against this node. */
  ctl(...args: string[]): Promise<string>;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** stop() and remove the data directory. */
  destroy(): Promise<void>;
  log(): string;
}

export function rabbitAvailable(): boolean {
  return existsSync(SERVER);
}

/** False (the test skipped) when rabbitmq-server is not installed; under CI that is an error instead. */
export function requireRabbit(t: Pick<TestContext, 'skip'>): boolean {
  if (rabbitAvailable()) return true;
  if (IN_CI) throw new Error(`rabbitmq-server is not installed (${SERVER})`);
  t.skip('rabbitmq-server not installed');
  return false;
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ host: '127.0.0.1', port }, () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

export function privateRabbit(portOrOptions: number | PrivateRabbitOptions = {}): PrivateRabbit {
  const opts: PrivateRabbitOptions = typeof portOrOptions === 'number' ? { port: portOrOptions } : portOrOptions;
  const port = opts.port ?? 5600 + Math.floor(Math.random() * 60);
  const dir = mkdtempSync(join(tmpdir(), 'celeriac-rabbit-'));
  const name = `celeriac-test-${randomBytes(4).toString('hex')}@localhost`;
  writeFileSync(join(dir, 'enabled_plugins'), '[].\n');
  const conf = [`listeners.tcp.default = 127.0.0.1:${port}`, 'loopback_users = none'];
  const tls = opts.tls;
  if (tls) {
    conf.push(
      `listeners.ssl.default = 127.0.0.1:${tls.port}`,
      `ssl_options.cacertfile = ${tls.cacertfile}`,
      `ssl_options.certfile = ${tls.certfile}`,
      `ssl_options.keyfile = ${tls.keyfile}`,
      `ssl_options.verify = ${tls.requireClientCert ? 'verify_peer' : 'verify_none'}`,
      `ssl_options.fail_if_no_peer_cert = ${tls.requireClientCert ? 'true' : 'false'}`,
    );
  }
  conf.push(...(opts.conf ?? []));
  writeFileSync(join(dir, 'rabbitmq.conf'), conf.join('\n') + '\n');
  writeFileSync(join(dir, 'env.conf'), '');
  mkdirSync(join(dir, 'log'), { recursive: true });
  let child: ChildProcess | null = null;
  let out = '';
  const env = {
    ...process.env,
    HOME: dir,
    RABBITMQ_NODENAME: name,
    RABBITMQ_NODE_PORT: String(port),
    RABBITMQ_DIST_PORT: String(port + 20000),
    RABBITMQ_MNESIA_BASE: join(dir, 'mnesia'),
    RABBITMQ_LOG_BASE: join(dir, 'log'),
    RABBITMQ_ENABLED_PLUGINS_FILE: join(dir, 'enabled_plugins'),
    RABBITMQ_CONFIG_FILE: join(dir, 'rabbitmq.conf'),
    RABBITMQ_CONF_ENV_FILE: join(dir, 'env.conf'),
    RABBITMQ_PID_FILE: join(dir, 'pid'),
    ERL_EPMD_ADDRESS: '127.0.0.1',
  };
  const self: PrivateRabbit = {
    port,
    url: `amqp://guest:guest@127.0.0.1:${port}//`,
    tlsUrl: tls ? `amqps://guest:guest@127.0.0.1:${tls.port}//` : null,
    beamPid() {
      const pid = Number(readFileSync(join(dir, 'pid'), 'utf8').trim());
      if (!Number.isInteger(pid) || pid <= 0) throw new Error('private RabbitMQ: no pid file');
      return pid;
    },
    ctl(...args: string[]) {
      return new Promise((resolve, reject) => {
        execFile(CTL, ['-n', name, ...args], { env, timeout: 30_000 }, (err, stdout, stderr) =>
          err ? reject(new Error(`rabbitmqctl ${args.join(' ')}: ${err.message}\n${stderr}`)) : resolve(stdout));
      });
    },
    async start() {
      if (await portOpen(port)) throw new Error(`port ${port} is already in use`);
      if (tls && (await portOpen(tls.port))) throw new Error(`port ${tls.port} is already in use`);
      child = spawn(SERVER, [], { env, cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], detached: false });
      child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
      const end = Date.now() + 60_000;
      while (!(await portOpen(port)) || (tls && !(await portOpen(tls.port)))) {
        if (Date.now() > end || child.exitCode !== null) throw new Error(`private RabbitMQ did not start:\n${out.slice(-3000)}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    },
    async stop() {
      const c = child;
      child = null;
      if (!c || c.exitCode !== null) return;
      try {
        process.kill(self.beamPid(), 'SIGCONT'); // in case a test left it stopped
      } catch {
        // not running
      }
      const exited = new Promise((r) => c.once('exit', r));
      c.kill('SIGTERM');
      const timer = setTimeout(() => c.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(timer);
      const end = Date.now() + 10_000;
      while ((await portOpen(port)) && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
    },
    async destroy() {
      await self.stop();
      rmSync(dir, { recursive: true, force: true });
    },
    log: () => out,
  };
  return self;
}
