/**
 * What every ioredis client celeriac opens needs, shared by the Redis transport and the Redis result
 * backend:
 *
 * - {@link guardRedisClient}: ioredis attaches the failed command to its errors (`err.command.args`),
 *   and for the connection handshake that is `AUTH <password>` or `HELLO 3 AUTH <user> <password>`:
 *   anyone who logs the error object (or its `cause`) would print the password. The guard redacts
 *   those arguments before any other `error` listener sees the error.
 * - {@link connectRedis}: ioredis rejects a failed first connect with a bare "Connection is closed.";
 *   this rejects with what actually went wrong (WRONGPASS, a certificate the CA does not sign, all
 *   sentinels unreachable, ...), with a hint for TLS verification failures.
 */
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import type { Redis } from 'ioredis';

/** Commands whose arguments may carry credentials, and which arguments (all, or those after a marker). */
const SECRET_COMMANDS: Record<string, (args: unknown[]) => unknown[]> = {
  auth: (args) => args.map(() => '**'),
  hello: (args) => {
    const i = args.findIndex((a) => String(a).toUpperCase() === 'AUTH');
    return i < 0 ? args : [...args.slice(0, i + 1), ...args.slice(i + 1, i + 3).map(() => '**'), ...args.slice(i + 3)];
  },
  migrate: (args) => {
    const i = args.findIndex((a) => ['AUTH', 'AUTH2'].includes(String(a).toUpperCase()));
    return i < 0 ? args : [...args.slice(0, i + 1), ...args.slice(i + 1).map(() => '**')];
  },
  config: (args) => (String(args[0]).toLowerCase() === 'set' && /pass/i.test(String(args[1])) ? [args[0], args[1], '**'] : args),
  acl: (args) => (String(args[0]).toLowerCase() === 'setuser' ? args.map((a, i) => (i < 2 ? a : '**')) : args),
};

/** Redacts credentials from an ioredis error (and its causes) in place; returns it. */
export function redactRedisError<E>(err: E): E {
  let e: unknown = err;
  for (let depth = 0; e && typeof e === 'object' && depth < 5; depth++) {
    const command = (e as { command?: { name?: unknown; args?: unknown } }).command;
    if (command && typeof command === 'object' && Array.isArray(command.args)) {
      const redact = SECRET_COMMANDS[String(command.name).toLowerCase()];
      if (redact) command.args = redact(command.args);
    }
    e = (e as { cause?: unknown }).cause;
  }
  return err;
}

const GUARDED = Symbol('celeriac.redisGuarded');

/** Makes the client redact credentials from every error it emits, before other listeners run. */
export function guardRedisClient<T extends Redis>(client: T): T {
  const c = client as T & { [GUARDED]?: true };
  if (c[GUARDED]) return client;
  c[GUARDED] = true;
  client.prependListener('error', (err: unknown) => void redactRedisError(err));
  return client;
}

/** Node's codes for a server certificate that fails verification. */
const TLS_VERIFY_CODES = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID', 'CERT_SIGNATURE_FAILURE', 'CERT_UNTRUSTED', 'CERT_REJECTED',
]);

/** The error to show for a failed connection: a TLS verification failure says what to check. */
export function describeConnectError(err: Error): Error {
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && TLS_VERIFY_CODES.has(code)) {
    const out = new Error(
      `TLS certificate verification failed (${code}: ${err.message}); check ssl_ca_certs, or ssl_cert_reqs=none to skip verification`,
      { cause: err },
    );
    (out as Error & { code: string }).code = code;
    return out;
  }
  return err;
}

const GENERIC = /^(Connection is closed\.?|Stream isn't writeable.*|Command aborted due to connection close)$/;

/** ioredis's sentinel messages, made to say what is wrong (it retries forever, so no "retrying in 10ms"). */
function sentinelMessage(err: Error, lastSentinelError: Error | undefined, master: string | undefined): Error {
  if (!/^All sentinels are unreachable/.test(err.message)) return err;
  let text = err.message.replace(/ Retrying from scratch after \d+ms\./, '').replace(/ and retry is disabled\./, '.');
  if (lastSentinelError) {
    // "failed to connect to sentinel h:p because <why>" names the sentinel; "invalid reply: null" = unknown master
    text = /invalid reply: null/.test(lastSentinelError.message)
      ? `no sentinel knows the master ${JSON.stringify(master)} (check master_name): ${lastSentinelError.message}`
      : `All sentinels are unreachable: ${lastSentinelError.message}`;
  }
  return new Error(text, { cause: err });
}

/**
 * ioredis drops why a TLS connection to a sentinel failed ("... because Connection is closed."): one TLS
 * handshake with the same options says what it was (e.g. a certificate the CA does not sign), or null.
 */
function probeSentinelTls(client: Redis): Promise<Error | null> {
  const o = client.options as { sentinels?: { host?: string; port?: number }[]; sentinelTLS?: ConnectionOptions; connectTimeout?: number };
  const first = o.sentinels?.[0];
  if (!o.sentinelTLS || !first) return Promise.resolve(null);
  return new Promise((resolve) => {
    const socket = tlsConnect({ ...o.sentinelTLS, host: first.host ?? '127.0.0.1', port: first.port ?? 26379 });
    const done = (err: Error | null) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(err);
    };
    const timer = setTimeout(() => done(null), o.connectTimeout ?? 10_000);
    socket.once('secureConnect', () => done(null));
    socket.once('error', (err) => done(err));
  });
}

/**
 * Connects a lazy client (if not connected yet) and PINGs it. Fails on the first connection error the
 * client reports (it keeps reconnecting in the background, as before): with the error itself, credentials
 * redacted, rather than ioredis's generic "Connection is closed." — and rather than waiting forever
 * while ioredis retries the sentinels.
 */
export async function connectRedis(client: Redis): Promise<void> {
  guardRedisClient(client);
  let onError!: (err: Error) => void;
  let lastSentinelError: Error | undefined;
  const onSentinelError = (err: Error) => (lastSentinelError = err);
  const failed = new Promise<never>((_, reject) => {
    onError = (err: Error) => reject(err);
  });
  client.on('error', onError);
  client.on('sentinelError', onSentinelError);
  const attempt = (async () => {
    // 'end': a client whose first connection failed and was stopped (RedisBroker.connect): start afresh
    if (client.status === 'wait' || client.status === 'end') await client.connect();
    await client.ping();
  })();
  try {
    await Promise.race([attempt, failed]);
  } catch (err) {
    attempt.catch(() => undefined);
    let e = sentinelMessage(err as Error, lastSentinelError, (client.options as { name?: string }).name);
    if (/^All sentinels are unreachable: .* because Connection is closed\.?$/.test(e.message)) {
      const why = await probeSentinelTls(client);
      if (why) {
        const described = describeConnectError(why);
        e = new Error(e.message.replace(/Connection is closed\.?$/, described.message), { cause: e });
        if ((described as { code?: unknown }).code) (e as Error & { code: unknown }).code = (described as { code?: unknown }).code;
      }
    }
    throw redactRedisError(describeConnectError(e));
  } finally {
    client.off('error', onError);
    client.off('sentinelError', onSentinelError);
  }
}

/** An error reply from the Redis server (a refused command or script), as opposed to a connection problem. */
export function isReplyError(err: unknown): boolean {
  return err instanceof Error && err.name === 'ReplyError';
}

const corkedStreams = new WeakSet<object>();

/**
 * Commands issued in the same tick (many concurrent publishes) share
 * one socket write: the client's socket is corked until the next tick. Each command stays an ordinary
 * command (same order, same replies, same errors); only the syscalls are shared. A no-op unless the
 * client is ready, or when the socket is already corked for this tick.
 */
export function corkUntilNextTick(client: Redis): void {
  if (client.status !== 'ready') return;
  const stream = client.stream;
  if (!stream || !stream.writable || typeof stream.cork !== 'function' || corkedStreams.has(stream)) return;
  stream.cork();
  corkedStreams.add(stream);
  process.nextTick(() => {
    corkedStreams.delete(stream);
    stream.uncork();
  });
}
