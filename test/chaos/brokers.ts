/**
 * The chaos suite's private brokers, one interface over both: a `redis-server` with AOF on
 * (`appendfsync always`: a write Redis acknowledged is on disk, so a kill -9 of the server loses none)
 * and a private RabbitMQ node (test/helpers/private-rabbit.ts; durable queues and persistent messages,
 * as Celery declares and publishes them, survive its restart). Never the shared servers.
 *
 * `restart()` is the fault: Redis gets SIGKILL and comes back on the same port and directory (it
 * replays the AOF); RabbitMQ is stopped (SIGTERM) and started again (~10 s). `depth`/`unacked` are
 * read from the broker itself, to account for what is left.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import amqplib from 'amqplib';
import { Redis } from 'ioredis';
import { portOpen, REDIS_SERVER, startRedis } from '../helpers/private-redis.ts';
import { privateRabbit, type PrivateRabbit } from '../helpers/private-rabbit.ts';

export type BrokerKind = 'redis' | 'amqp';

export interface ChaosBroker {
  readonly kind: BrokerKind;
  readonly url: string;
  /** Messages waiting in the queue (ready, not delivered). */
  depth(queue: string): Promise<number>;
  /** Messages delivered and not yet acked (Redis: the unacked hash, AMQP: messages_unacknowledged). */
  unacked(queue: string): Promise<number>;
  /** Messages in `<queue>.celeriac.invalid` (the worker's quarantine). */
  quarantined(queue: string): Promise<number>;
  /** Removes every message of the queue and its quarantine (between scenarios). */
  purge(queue: string): Promise<void>;
  /** The fault: the server goes away for `downMs` and comes back with its data. */
  restart(downMs: number): Promise<void>;
  close(): Promise<void>;
}

/** A private redis-server with AOF (appendfsync always) that can be killed and started again in place. */
export async function aofRedis(): Promise<ChaosBroker> {
  // startRedis picks a free port and directory and waits for it; its later --appendonly wins over the default
  const first = await startRedis({ prefix: 'chaos-redis', args: ['--appendonly', 'yes', '--appendfsync', 'always', '--save', ''] });
  const { port, dir } = first;
  let proc: ChildProcess = first.process;
  let log = '';
  const url = `redis://127.0.0.1:${port}/0`;
  const client = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: null, lazyConnect: false });
  client.on('error', () => undefined);
  const start = async () => {
    const child = spawn(REDIS_SERVER, ['--bind', '127.0.0.1', '--port', String(port), '--dir', dir, '--save', '',
      '--appendonly', 'yes', '--appendfsync', 'always'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (d: Buffer) => (log += d.toString('utf8')));
    child.stderr!.on('data', (d: Buffer) => (log += d.toString('utf8')));
    proc = child;
    const end = Date.now() + 20_000;
    while (!(/Ready to accept connections/.test(log) && (await portOpen(port)))) {
      if (child.exitCode !== null || Date.now() > end) throw new Error(`redis-server did not come back on ${port}:\n${log}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const kill = async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGKILL');
    await exited;
  };
  return {
    kind: 'redis',
    url,
    depth: (q) => client.llen(q),
    unacked: () => client.hlen('unacked'),
    quarantined: (q) => client.llen(`${q}.celeriac.invalid`),
    async purge(q) {
      await client.del(q, `${q}.celeriac.invalid`, 'unacked', 'unacked_index');
    },
    async restart(downMs) {
      log = '';
      await kill();
      await new Promise((r) => setTimeout(r, downMs));
      await start();
    },
    async close() {
      client.disconnect();
      await kill();
      await first.stop();
    },
  };
}

/** A private RabbitMQ node (started here, ~8 s). */
export async function rabbitBroker(): Promise<ChaosBroker & { node: PrivateRabbit }> {
  const node = privateRabbit();
  await node.start();
  let conn: Awaited<ReturnType<typeof amqplib.connect>> | null = null;
  const channel = async () => {
    if (!conn) {
      const c = await amqplib.connect(node.url.replace(/\/\/$/, '/'));
      c.on('error', () => undefined);
      c.on('close', () => {
        if (conn === c) conn = null;
      });
      conn = c;
    }
    const ch = await conn.createChannel();
    ch.on('error', () => undefined);
    return ch;
  };
  /** checkQueue on a throw-away channel (a missing queue closes it): ready messages, or 0. */
  const ready = async (q: string) => {
    const ch = await channel();
    try {
      return (await ch.checkQueue(q)).messageCount;
    } catch {
      return 0;
    } finally {
      await ch.close().catch(() => undefined);
    }
  };
  const listQueue = async (q: string) => {
    const out = await node.ctl('list_queues', '-q', '--no-table-headers', 'name', 'messages_ready', 'messages_unacknowledged');
    for (const line of out.split('\n')) {
      const [name, r, u] = line.trim().split(/\s+/);
      if (name === q) return { ready: Number(r), unacked: Number(u) };
    }
    return { ready: 0, unacked: 0 };
  };
  return {
    kind: 'amqp',
    url: node.url,
    node,
    depth: ready,
    unacked: async (q) => (await listQueue(q)).unacked,
    quarantined: (q) => ready(`${q}.celeriac.invalid`),
    async purge(q) {
      for (const name of [q, `${q}.celeriac.invalid`]) {
        const ch = await channel();
        await ch.purgeQueue(name).catch(() => undefined);
        await ch.close().catch(() => undefined);
      }
    },
    async restart(downMs) {
      await conn?.close().catch(() => undefined);
      conn = null;
      await node.stop();
      await new Promise((r) => setTimeout(r, downMs));
      await node.start();
    },
    async close() {
      await conn?.close().catch(() => undefined);
      conn = null;
      await node.destroy();
    },
  };
}
