/**
 * The worker's remote-control node (`celery/worker/pidbox.py:Pidbox` + `kombu/pidbox.py:Node`): consumes
 * `<hostname>.<control_exchange>.pidbox` (bound to the `celery.pidbox` fanout exchange), runs the
 * requests addressed to this node (`destination` null/empty or containing the hostname; else
 * `pattern` + `matcher` (`glob`/`pcre`)), and answers those with `reply_to` with `{hostname: reply}`
 * (`ticket` header) — what `celery inspect`, `celery control`, Flower and `app.control` expect.
 *
 * A handler error is answered `{'error': repr(exc)}` (an unknown command: `KeyError('name')`, as kombu's
 * `handlers[method]`); `shutdown` is not answered (Celery raises SystemExit) and stops the
 * worker warm.
 */
import { pyStrRepr } from '../../protocol/repr.ts';
import { decodeKombuJson, loads } from '../../protocol/serialization/index.ts';
import type { RawMessage } from '../../protocol/types.ts';
import type { PyDict, PyValue } from '../../protocol/values.ts';
import type { Consumer } from '../broker.ts';
import { commands, type RevokedStamps } from './control/commands.ts';
import { INSPECT } from './control/inspect.ts';
import { MEMORY } from './control/memory.ts';
import { AttributeOverrides } from './control/taskinfo.ts';
import { LamportClock } from '../../protocol/events.ts';
import { headerClock, pidboxQueue, publishReply } from './control/mailbox.ts';
import { WorkerShutdown, type ControlledWorker, type Handler, type PanelState, type Reply } from './control/state.ts';

/** kombu `matcher.match(hostname, pattern, matcher)`: `glob` (fnmatch) or `pcre` (re.search). */
export function matchHostname(hostname: string, pattern: string, matcher: string): boolean {
  if (matcher === 'pcre') {
    try {
      return new RegExp(pattern).test(hostname);
    } catch {
      return false;
    }
  }
  const re = pattern.replace(/[.+^${}()|\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${re}$`).test(hostname);
}

/** Whether a request body is addressed to `hostname` (`Node.handle_message`). */
export function addressedTo(body: PyDict, hostname: string): boolean {
  const destination = body.destination;
  if (Array.isArray(destination) && destination.length) return destination.includes(hostname);
  if (typeof destination === 'string' && destination) return destination.includes(hostname);
  const { pattern, matcher } = body;
  if (typeof pattern === 'string' && pattern && typeof matcher === 'string' && matcher) return matchHostname(hostname, pattern, matcher);
  return true;
}

function reprError(err: unknown): string {
  const e = err as Error;
  const name = e?.name && e.name !== 'Error' ? e.name : 'Exception';
  return `${name}(${pyStrRepr(String(e?.message ?? err))})`;
}

/** The keys whose value the JSON text writes as a float (`"soft": 10.0`, `1e+20`): Python floats. */
export function floatKeys(body: Uint8Array): Set<string> {
  const out = new Set<string>();
  const text = Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8');
  for (const m of text.matchAll(/"((?:[^"\\]|\\.)*)"\s*:\s*(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)/g)) {
    if (/[.eE]/.test(m[2]!)) out.add(m[1]!);
  }
  return out;
}

class KeyError extends Error {
  override name = 'KeyError';
}

export class Pidbox {
  readonly state: PanelState;
  readonly revokedStamps: RevokedStamps = new Map();
  private readonly handlers: Record<string, Handler>;
  private consumer: Consumer | null = null;

  constructor(private readonly worker: ControlledWorker) {
    this.state = { worker, clock: worker.app.clock, mailboxClock: new LamportClock(), totals: new Map(), attributes: new AttributeOverrides(), taskEvents: false };
    this.handlers = { ...INSPECT, ...MEMORY, ...commands(this.revokedStamps) };
  }

  get clock(): LamportClock {
    return this.state.clock;
  }

  /** `Pidbox.start`: consume this node's queue. False when the transport cannot (no remote control, no mingle). */
  async start(): Promise<boolean> {
    const broker = this.worker.app.broker;
    if (!broker.consumeFanout) {
      this.worker.logger.warning(`remote control is not available on ${broker.safeUrl}: the transport cannot consume a fanout exchange`);
      return false;
    }
    const queue = pidboxQueue(this.worker.app.conf, this.worker.hostname);
    this.consumer = await broker.consumeFanout(queue, (raw) => void this.onMessage(raw), {
      onError: (err) => this.worker.logger.error(`pidbox: ${err.message}`),
    });
    return true;
  }

  async stop(): Promise<void> {
    const c = this.consumer;
    this.consumer = null;
    await c?.cancel().catch(() => undefined);
  }

  /** A task was accepted (started): `state.total_count`, which `stats` reports as `total`. */
  taskAccepted(name: string): void {
    this.state.totals.set(name, (this.state.totals.get(name) ?? 0) + 1);
  }

  /**
   * `Pidbox.on_message` (forwards the app's clock: "clients usually don't have a valid clock") →
   * `Node.handle_message` (adjusts the mailbox's clock by the `clock` header) → `dispatch`.
   */
  async onMessage(raw: RawMessage): Promise<void> {
    this.clock.forward();
    let body: PyValue;
    try {
      // Celery's mailbox writes with task_serializer and reads with accept_content (`auth`: signed)
      const ct = raw.contentType ?? '';
      body = ct === '' || ct === 'application/json' ? decodeKombuJson(raw.body) : loads(raw.body, ct, raw.contentEncoding ?? '', this.worker.app.conf.acceptContent);
    } catch (err) {
      this.worker.logger.error(`Cannot decode message: ${(err as Error).message}`);
      return;
    }
    if (!body || typeof body !== 'object' || Array.isArray(body)) return;
    const b = body as PyDict;
    this.state.mailboxClock.adjust(headerClock(raw.headers.clock));
    if (!addressedTo(b, this.worker.hostname)) return;
    await this.dispatch(b, (raw.contentType ?? '') === 'application/json' || !raw.contentType ? floatKeys(raw.body) : new Set());
  }

  /** `Node.dispatch`: run the handler, reply when asked to. Resolves with the reply. */
  async dispatch(body: PyDict, floatArgs: ReadonlySet<string> = new Set()): Promise<Reply> {
    const method = String(body.method);
    const args = (body.arguments && typeof body.arguments === 'object' && !Array.isArray(body.arguments) ? body.arguments : {}) as PyDict;
    const replyTo = body.reply_to as { exchange?: unknown; routing_key?: unknown } | null | undefined;
    this.worker.logger.debug(`pidbox received method ${method}(${JSON.stringify(args)}) [reply_to:${JSON.stringify(replyTo ?? null)} ticket:${String(body.ticket ?? null)}]`);
    const handler = Object.hasOwn(this.handlers, method) ? this.handlers[method] : undefined;
    let reply: Reply;
    try {
      if (!handler) throw new KeyError(method);
      reply = await handler(this.state, args, { floatArgs });
    } catch (err) {
      if (err instanceof WorkerShutdown) {
        void this.worker.stop();
        return undefined;
      }
      this.worker.logger.error(`pidbox command error: ${reprError(err)}`);
      reply = { error: reprError(err) };
    }
    if (replyTo && typeof replyTo.exchange === 'string' && typeof replyTo.routing_key === 'string') {
      try {
        await publishReply(this.worker.app.broker, { [this.worker.hostname]: reply ?? null }, { exchange: replyTo.exchange, routing_key: replyTo.routing_key },
          body.ticket ?? null, this.state.mailboxClock.forward(), this.worker.app.conf.taskSerializer);
      } catch (err) {
        this.worker.logger.error(`pidbox: replying to ${method} failed: ${(err as Error).message}`);
      }
    }
    return reply;
  }
}
