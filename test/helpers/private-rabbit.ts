/**
 * A private RabbitMQ node for tests that stop and start the broker (the shared one on 5672 must not be
 * touched). Debian's `/usr/lib/rabbitmq/bin/rabbitmq-server` honours RABBITMQ_NODENAME, RABBITMQ_NODE_PORT,
 * RABBITMQ_DIST_PORT, RABBITMQ_MNESIA_BASE, RABBITMQ_LOG_BASE, RABBITMQ_ENABLED_PLUGINS_FILE (an empty
 * list: no management plugin, so nothing binds 15672), RABBITMQ_CONFIG_FILE (our own listener: the system
 * /etc/rabbitmq/rabbitmq.conf pins 5672) and RABBITMQ_CONF_ENV_FILE (the system one sets NODENAME).
 * epmd is shared (each node registers its own name). Data persists across stop/start (same mnesia dir).
 * Starting takes ~8 s; stop() is a graceful SIGTERM.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const SERVER = '/usr/lib/rabbitmq/bin/rabbitmq-server';

export interface PrivateRabbit {
  readonly port: number;
  readonly url: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** stop() and remove the data directory. */
  destroy(): Promise<void>;
  log(): string;
}

export function rabbitAvailable(): boolean {
  return existsSync(SERVER);
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

export function privateRabbit(port = 5600 + Math.floor(Math.random() * 60)): PrivateRabbit {
  const dir = mkdtempSync(join(tmpdir(), 'celeriac-rabbit-'));
  const name = `celeriac-test-${randomBytes(4).toString('hex')}@localhost`;
  writeFileSync(join(dir, 'enabled_plugins'), '[].\n');
  writeFileSync(join(dir, 'rabbitmq.conf'), `listeners.tcp.default = 127.0.0.1:${port}\nloopback_users = none\n`);
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
    async start() {
      if (await portOpen(port)) throw new Error(`port ${port} is already in use`);
      child = spawn(SERVER, [], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: false });
      child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
      const end = Date.now() + 60_000;
      while (!(await portOpen(port))) {
        if (Date.now() > end || child.exitCode !== null) throw new Error(`private RabbitMQ did not start:\n${out.slice(-3000)}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    },
    async stop() {
      const c = child;
      child = null;
      if (!c || c.exitCode !== null) return;
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
